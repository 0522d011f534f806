"""The health questionnaires sent for a booking, for another system (issue 20): the answers as the
patient gave them, their version and whether a nurse has reconciled them. Drafts are left out (what
the patient has not sent is not a statement yet); the record changes only through the nurse's page."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from api.permissions import StaffApiRequest
from api.views import ApiView
from patients import access
from questionnaires.models import QuestionnaireResponse, ResponseStatus


class QuestionnaireResponseOutput(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    number = serializers.IntegerField(help_text="1 for the first submission; a new one for each later one.")
    status = serializers.ChoiceField(choices=[c for c in ResponseStatus.values if c != ResponseStatus.DRAFT])
    questionnaire = serializers.CharField(source="definition.code")
    questionnaire_version = serializers.CharField(source="definition.version")
    language = serializers.CharField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    reconciled_at = serializers.DateTimeField(allow_null=True)
    answers = serializers.DictField(child=serializers.JSONField(), help_text="Question code -> the answer.")


class SurgeryQuestionnaires(ApiView):
    @extend_schema(
        responses=QuestionnaireResponseOutput(many=True),
        summary="The health questionnaires sent for a surgery, newest first",
    )
    def get(self, request: StaffApiRequest, uuid: str) -> Response:
        surgery = access.surgery_get_for_user(user=request.user, uuid=uuid)
        qs = (
            QuestionnaireResponse.objects.filter(surgery=surgery)
            .exclude(status=ResponseStatus.DRAFT)
            .select_related("definition")
            .order_by("-number")
        )
        return self.paged(qs, QuestionnaireResponseOutput)
