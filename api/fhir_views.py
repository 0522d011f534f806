"""FHIR R4 read endpoints (``application/fhir+json``), with the API's authentication and scoping."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.exceptions import exception_handler, uuid_or_404
from api.fhir import capability_statement_build, entry, plandefinition_build, preop_bundle_build
from api.fhir_questionnaire import questionnaire_build, questionnaire_resources
from api.models import ApiToken
from api.permissions import IsClinicToken, StaffApiRequest
from inbox import services as inbox_services
from patients import access
from patients.models import ACTIVE_SURGERY_STATUSES, Patient, Surgery
from prep.models import ChecklistItem, ChecklistTemplate, TemplateItem
from questionnaires.models import QuestionnaireDefinition, QuestionnaireResponse
from questionnaires.services import questionnaire_current

FHIR_JSON = "application/fhir+json"


class FhirJsonRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "fhir"
    charset = None  # application/fhir+json is UTF-8 by definition


class AlwaysFhir(BaseContentNegotiation):
    """FHIR clients send Accept: application/fhir+json, application/json or */*; all get FHIR JSON."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    415: "not-supported",
    422: "processing",
}


def operation_outcome(status: int, text: str, *, severity: str = "error") -> dict[str, Any]:
    code = "informational" if severity == "information" else ISSUE_CODE.get(status, "processing")
    return {"resourceType": "OperationOutcome", "issue": [{"severity": severity, "code": code, "diagnostics": text}]}


class FhirTextParser(BaseParser):
    """The body as text: the inbox stores what came, then reads it (fhir.resources validates it)."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> dict[str, str]:
        return {"text": stream.read().decode("utf-8", errors="replace") if stream is not None else ""}


class FhirView(APIView):
    renderer_classes = [FhirJsonRenderer]
    content_negotiation_class = AlwaysFhir

    def get_exception_handler(self) -> Any:
        def handler(exc: Exception, context: dict[str, Any]) -> Response | None:
            response = exception_handler(exc, context)
            if response is not None:
                detail = response.data.get("detail") if isinstance(response.data, dict) else None
                response.data = operation_outcome(response.status_code, str(detail or response.data))
            return response

        return handler


@extend_schema(exclude=True)
class Metadata(FhirView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(capability_statement_build())


@extend_schema(exclude=True)
class PlanDefinitionRead(FhirView):
    def get(self, request: Request, uuid: str) -> Response:
        # The catalogue is shared by all clinics and holds no patient data: any clinic member may read it.
        try:
            template = ChecklistTemplate.objects.get(uuid=uuid_or_404(uuid))
        except ChecklistTemplate.DoesNotExist:
            raise Http404("No such PlanDefinition.") from None
        items = TemplateItem.objects.filter(template=template).order_by("sort_order", "pk")
        return Response(plandefinition_build(template=template, items=items))


@extend_schema(exclude=True)
class PatientPreop(FhirView):
    def get(self, request: StaffApiRequest, uuid: str) -> Response:
        patient = access.patient_get_for_user(user=request.user, uuid=uuid, qs=Patient.objects.select_related("clinic"))
        booked = (
            Surgery.objects.filter(patient=patient, status__in=ACTIVE_SURGERY_STATUSES)
            .select_related("procedure", "surgeon", "checklist__template")
            .prefetch_related(
                Prefetch(
                    "checklist__items",
                    queryset=ChecklistItem.objects.select_related("template_item").order_by("due_at", "sort_order"),
                )
            )
            .order_by("start_at")
        )
        surgeries = list(booked)
        template_ids = {s.checklist.template_id for s in surgeries if getattr(s, "checklist", None)}
        template_items: dict[int, list[TemplateItem]] = defaultdict(list)
        for ti in TemplateItem.objects.filter(template_id__in=template_ids).order_by("sort_order", "pk"):
            template_items[ti.template_id].append(ti)
        medications = patient.medications.filter(is_blood_thinner=True).select_related("drug")
        bundle = preop_bundle_build(
            patient=patient,
            medications=medications,
            surgeries=surgeries,
            template_items=template_items,
            guardians=patient.guardians.order_by("-is_primary", "created_at", "pk"),
        )
        # The health questionnaires sent for these bookings (issue 20), with the versions they answered.
        responses = QuestionnaireResponse.objects.filter(surgery__in=surgeries).select_related("definition")
        patient_res = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        bundle["entry"] += [
            entry(r) for r in questionnaire_resources(responses.order_by("surgery_id", "number"), patient_res)
        ]
        return Response(bundle)


# --- Results in: a lab or imaging system posts Observations and DiagnosticReports -------------------

# receipt.ack_code -> (HTTP status for a new message, for a resend): AE (unknown patient or code)
# is a 422 with the reason, the message is kept for the nurses' review queue all the same.
RECEIPT_STATUS = {"AA": (201, 200), "AE": (422, 422)}


class FhirResultCreate(FhirView):
    """``POST /fhir/Observation``, ``/fhir/DiagnosticReport`` and the transaction ``Bundle`` at ``/fhir/``.

    Clinic API tokens only (a system sends results; nurses use the pages). Stored in the inbox
    first, answered, then processed by a worker.
    """

    permission_classes = [IsClinicToken]
    parser_classes = [FhirTextParser]
    accepts: tuple[str, ...] = ()

    def post(self, request: StaffApiRequest) -> Response:
        token = request.auth
        assert isinstance(token, ApiToken)  # IsClinicToken let only a token through
        posted = inbox_services.fhir_post(
            clinic=token.clinic,
            sender=token.user,
            source=f"{token.name} ({token.prefix})",
            text=request.data.get("text", "") if isinstance(request.data, dict) else "",
            allowed=self.accepts,
        )
        if posted.error:
            return Response(operation_outcome(400, posted.error), status=400)
        if len(posted.receipts) == 1 and "Bundle" not in self.accepts:
            receipt = posted.receipts[0]
            status = RECEIPT_STATUS.get(receipt.ack_code, (422, 422))[0 if receipt.created else 1]
            severity = "information" if status < 400 else "error"
            text = f"{receipt.text}: inbox message {receipt.message.uuid}"
            return Response(operation_outcome(status, text, severity=severity), status=status)
        entries = []
        for receipt in posted.receipts:
            status = RECEIPT_STATUS.get(receipt.ack_code, (422, 422))[0 if receipt.created else 1]
            severity = "information" if status < 400 else "error"
            entries.append(
                {
                    "response": {
                        "status": {200: "200 OK", 201: "201 Created"}.get(status, f"{status} Unprocessable Entity"),
                        "outcome": operation_outcome(
                            status, f"{receipt.text}: inbox message {receipt.message.uuid}", severity=severity
                        ),
                    }
                }
            )
        return Response({"resourceType": "Bundle", "type": "transaction-response", "entry": entries}, status=200)


@extend_schema(exclude=True)
class ObservationCreate(FhirResultCreate):
    accepts = ("Observation",)


@extend_schema(exclude=True)
class DiagnosticReportCreate(FhirResultCreate):
    accepts = ("DiagnosticReport",)


@extend_schema(exclude=True)
class TransactionCreate(FhirResultCreate):
    accepts = ("Bundle",)


@extend_schema(exclude=True)
class QuestionnaireRead(FhirView):
    def get(self, request: Request, code: str) -> Response:
        # The questions hold no patient data: any clinic member may read them, as the PlanDefinition.
        current, row = questionnaire_current()
        version = request.query_params.get("version", "")
        if code != current.code:
            raise Http404("No such Questionnaire.")
        if version and version != row.version:
            found = QuestionnaireDefinition.objects.filter(code=code, version=version).first()
            if found is None:
                raise Http404("No such Questionnaire version.")
            row = found
        return Response(questionnaire_build(row))
