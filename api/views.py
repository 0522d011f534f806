"""The REST API. Views only validate input, fetch through ``patients.access`` and call the actions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, Prefetch, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer, TemplateHTMLRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from accounts.models import Role, User
from actions import booking as booking_actions
from actions import items as item_actions
from actions import patients as patient_actions
from api import serializers as s
from api.exceptions import uuid_or_404, validation_error
from api.exports import board_csv
from api.models import ApiToken
from api.permissions import IsClinicAdminSession, StaffApiRequest
from api.selectors import day_range_utc, surgeries_for_range
from api.services import api_token_create, api_token_revoke
from audit import context as audit
from patients import access
from patients.models import Guardian, Medication, Patient, Surgery
from patients.staff import ClinicStaff
from prep.models import ChecklistItem, ProcedureVariant
from prep.selectors import readiness_compute


class Pages(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ApiView(APIView):
    # A plain APIView (not GenericAPIView): input and output serializers differ per method, and
    # OPTIONS must not look for a single serializer_class.
    pagination_class = Pages

    def valid(self, serializer_class: type[Serializer], data: Any, **kwargs: Any) -> dict[str, Any]:
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def paged(self, qs: QuerySet, serializer_class: type[Serializer], **context: Any) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, self.request, view=self)
        _note_patients(qs.model, page or [])
        return paginator.get_paginated_response(serializer_class(page, many=True, context=context).data)


def _note_patients(model: type[Model], rows: list[Any]) -> None:
    """The access log counts the patients a list showed (a page of patients, surgeries, medications...)."""
    if model is Patient:
        audit.note_shown(kind="api list", patient_ids=[row.pk for row in rows])
    elif any(f.name == "patient" for f in model._meta.get_fields()):
        audit.note_shown(kind="api list", patient_ids=[row.patient_id for row in rows])


def _surgeon(user: ClinicStaff, email: str | None) -> User | None:
    if not email:
        return None
    surgeon = User.objects.filter(
        clinic_id=user.clinic_id, role__in=(Role.SURGEON, Role.CLINIC_ADMIN), email__iexact=email, is_active=True
    ).first()
    if surgeon is None:
        raise validation_error_field("surgeon", "No active surgeon with this email in your clinic.")
    return surgeon


def validation_error_field(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


# --- Patients ------------------------------------------------------------------------------


class PatientListCreate(ApiView):
    @extend_schema(responses=s.PatientOutput(many=True), summary="List patients")
    def get(self, request: StaffApiRequest) -> Response:
        if "mrn" in request.query_params:
            # A record number in a URL ends up in proxy and server logs: search by POST instead.
            raise validation_error_field("mrn", "Search by record number with POST /api/v1/patients/search/.")
        qs = access.patients_for_user(request.user).order_by("last_name", "first_name", "pk")
        return self.paged(qs, s.PatientOutput)

    @extend_schema(request=s.PatientInput, responses={201: s.PatientOutput}, summary="Create a patient")
    def post(self, request: StaffApiRequest) -> Response:
        values = self.valid(s.PatientInput, request.data)
        patient = patient_actions.patient_create(clinic=request.user.clinic, by=request.user, **values)
        return Response(s.PatientOutput(patient).data, status=status.HTTP_201_CREATED)


class PatientSearch(ApiView):
    @extend_schema(
        request=s.PatientSearchInput,
        responses=s.PatientOutput(many=True),
        summary="Find patients by record number (in the body, never in the URL)",
    )
    def post(self, request: StaffApiRequest) -> Response:
        values = self.valid(s.PatientSearchInput, request.data)
        qs = access.patients_for_user(request.user).filter(mrn=values["mrn"].strip()).order_by("pk")
        return self.paged(qs, s.PatientOutput)


class PatientDetail(ApiView):
    @extend_schema(responses=s.PatientOutput, summary="Read a patient")
    def get(self, request: StaffApiRequest, uuid: str) -> Response:
        patient = access.patient_get_for_user(user=request.user, uuid=uuid)
        return Response(s.PatientOutput(patient).data)

    @extend_schema(request=s.PatientInput(partial=True), responses=s.PatientOutput, summary="Update a patient")
    def patch(self, request: StaffApiRequest, uuid: str) -> Response:
        patient = access.patient_get_for_user(user=request.user, uuid=uuid, qs=Patient.objects.select_related("clinic"))
        values = self.valid(s.PatientInput, request.data, partial=True)
        patient = patient_actions.patient_update(patient=patient, by=request.user, **values)
        return Response(s.PatientOutput(patient).data)


class MedicationListCreate(ApiView):
    @extend_schema(responses=s.MedicationOutput(many=True), summary="List a patient's medications")
    def get(self, request: StaffApiRequest, uuid: str) -> Response:
        patient = access.patient_get_for_user(user=request.user, uuid=uuid)
        qs = patient.medications.select_related("drug").order_by("name", "pk")
        return self.paged(qs, s.MedicationOutput)

    @extend_schema(request=s.MedicationInput, responses={201: s.MedicationOutput}, summary="Add a medication")
    def post(self, request: StaffApiRequest, uuid: str) -> Response:
        patient = access.patient_get_for_user(user=request.user, uuid=uuid, qs=Patient.objects.select_related("clinic"))
        values = self.valid(s.MedicationInput, request.data)
        medication = patient_actions.medication_add(patient=patient, by=request.user, **values)
        return Response(s.MedicationOutput(medication).data, status=status.HTTP_201_CREATED)


class GuardianListCreate(ApiView):
    @extend_schema(responses=s.GuardianOutput(many=True), summary="List a patient's parents and guardians")
    def get(self, request: StaffApiRequest, uuid: str) -> Response:
        patient = access.patient_get_for_user(user=request.user, uuid=uuid)
        return self.paged(patient.guardians.order_by("-is_primary", "created_at", "pk"), s.GuardianOutput)

    @extend_schema(request=s.GuardianInput, responses={201: s.GuardianOutput}, summary="Add a parent or guardian")
    def post(self, request: StaffApiRequest, uuid: str) -> Response:
        patient = access.patient_get_for_user(user=request.user, uuid=uuid, qs=Patient.objects.select_related("clinic"))
        values = self.valid(s.GuardianInput, request.data)
        guardian = patient_actions.guardian_add(patient=patient, by=request.user, **values)
        return Response(s.GuardianOutput(guardian).data, status=status.HTTP_201_CREATED)


class GuardianDetail(ApiView):
    def _guardian(self, request: StaffApiRequest, uuid: str, guardian_uuid: str) -> Guardian:
        patient = access.patient_get_for_user(user=request.user, uuid=uuid, qs=Patient.objects.select_related("clinic"))
        try:
            # Through the permission-checked patient: another clinic's guardian is a 404 like its patient.
            guardian = patient.guardians.get(uuid=uuid_or_404(guardian_uuid))
        except Guardian.DoesNotExist:
            raise Http404("No such guardian.") from None
        guardian.patient = patient
        return guardian

    @extend_schema(responses=s.GuardianOutput, summary="Read a parent or guardian")
    def get(self, request: StaffApiRequest, uuid: str, guardian_uuid: str) -> Response:
        return Response(s.GuardianOutput(self._guardian(request, uuid, guardian_uuid)).data)

    @extend_schema(
        request=s.GuardianInput(partial=True), responses=s.GuardianOutput, summary="Update a parent or guardian"
    )
    def patch(self, request: StaffApiRequest, uuid: str, guardian_uuid: str) -> Response:
        guardian = self._guardian(request, uuid, guardian_uuid)
        values = self.valid(s.GuardianInput, request.data, partial=True)
        guardian = patient_actions.guardian_update(
            guardian=guardian, by=request.user, reason="Changed through the API", **values
        )
        return Response(s.GuardianOutput(guardian).data)


class MedicationStop(ApiView):
    @extend_schema(request=None, responses=s.MedicationOutput, summary="Stop a medication (no longer taken)")
    def post(self, request: StaffApiRequest, uuid: str, medication_uuid: str) -> Response:
        patient = access.patient_get_for_user(user=request.user, uuid=uuid)
        try:
            medication = patient.medications.select_related("drug", "patient__clinic").get(
                uuid=uuid_or_404(medication_uuid)
            )
        except Medication.DoesNotExist:
            raise Http404("No such medication.") from None
        if medication.stopped_at is not None:
            raise validation_error_field("stopped_at", "This medication is already stopped.")
        medication = patient_actions.medication_stop(medication=medication, by=request.user)
        return Response(s.MedicationOutput(medication).data)


# --- Surgeries -----------------------------------------------------------------------------

SURGERY_RELATED = ("patient", "procedure", "surgeon", "checklist")
RANGE_PARAMS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (clinic time zone); default today."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, included; default 13 days after 'from'."),
]


class SurgeryListCreate(ApiView):
    query_serializer = s.DateRangeInput

    @extend_schema(
        parameters=[
            *RANGE_PARAMS,
            OpenApiParameter("patient", OpenApiTypes.UUID, description="Only this patient's surgeries (any date)."),
        ],
        responses=s.SurgeryOutput(many=True),
        summary="List surgeries",
    )
    def get(self, request: StaffApiRequest) -> Response:
        qs = access.surgeries_for_user(request.user).select_related(*SURGERY_RELATED)
        patient_id = request.query_params.get("patient")
        if patient_id:
            patient = access.patient_get_for_user(user=request.user, uuid=patient_id)
            qs = qs.filter(patient=patient)
        else:
            days = self.valid(s.DateRangeInput, request.query_params)
            start, end = day_range_utc(clinic=request.user.clinic, first=days["from"], last=days["to"])
            qs = qs.filter(start_at__gte=start, start_at__lt=end)
        return self.paged(qs.order_by("start_at", "pk"), s.SurgeryOutput)

    @extend_schema(request=s.SurgeryBookInput, responses={201: s.SurgeryOutput}, summary="Book a surgery")
    def post(self, request: StaffApiRequest) -> Response:
        values = self.valid(s.SurgeryBookInput, request.data)
        try:
            patient = access.patient_get_for_user(
                user=request.user, uuid=values.pop("patient"), qs=Patient.objects.select_related("clinic")
            )
        except Http404:
            raise validation_error_field("patient", "No such patient in your clinic.") from None
        values["surgeon"] = _surgeon(request.user, values.get("surgeon"))
        surgery = booking_actions.surgery_book(patient=patient, by=request.user, **values)
        surgery = Surgery.objects.select_related(*SURGERY_RELATED).get(pk=surgery.pk)
        return Response(s.SurgeryOutput(surgery).data, status=status.HTTP_201_CREATED)


class SurgeryDetail(ApiView):
    @extend_schema(responses=s.SurgeryOutput, summary="Read a surgery")
    def get(self, request: StaffApiRequest, uuid: str) -> Response:
        surgery = access.surgery_get_for_user(
            user=request.user, uuid=uuid, qs=Surgery.objects.select_related(*SURGERY_RELATED)
        )
        return Response(s.SurgeryOutput(surgery).data)

    @extend_schema(request=s.SurgeryUpdateInput, responses=s.SurgeryOutput, summary="Reschedule or change a surgery")
    def patch(self, request: StaffApiRequest, uuid: str) -> Response:
        surgery = access.surgery_get_for_user(user=request.user, uuid=uuid)
        changes = self.valid(s.SurgeryUpdateInput, request.data)
        reason = (changes.pop("reason", "") or "").strip() or "changed through the API"
        if "surgeon" in changes:
            changes["surgeon"] = _surgeon(request.user, changes["surgeon"])
        if "anaesthesia" in changes and not changes["anaesthesia"]:
            changes.pop("anaesthesia")
        surgery = booking_actions.surgery_update(surgery=surgery, by=request.user, reason=reason, **changes)
        surgery = Surgery.objects.select_related(*SURGERY_RELATED).get(pk=surgery.pk)
        return Response(s.SurgeryOutput(surgery).data)


class SurgeryCancel(ApiView):
    @extend_schema(request=s.CancelInput, responses=s.SurgeryOutput, summary="Cancel a surgery")
    def post(self, request: StaffApiRequest, uuid: str) -> Response:
        surgery = access.surgery_get_for_user(user=request.user, uuid=uuid)
        values = self.valid(s.CancelInput, request.data)
        surgery = booking_actions.surgery_cancel(
            surgery=surgery, by=request.user, reason=values["reason"], reason_code=values["reason_code"]
        )
        surgery = Surgery.objects.select_related(*SURGERY_RELATED).get(pk=surgery.pk)
        return Response(s.SurgeryOutput(surgery).data)


class SurgeryChecklist(ApiView):
    @extend_schema(responses=s.ChecklistOutput, summary="A surgery's checklist, its items and readiness")
    def get(self, request: StaffApiRequest, uuid: str) -> Response:
        surgery = access.surgery_get_for_user(
            user=request.user,
            uuid=uuid,
            qs=Surgery.objects.select_related("patient__clinic", "checklist__template").prefetch_related(
                Prefetch(
                    "checklist__items", queryset=ChecklistItem.objects.select_related("template_item", "completed_by")
                )
            ),
        )
        checklist = getattr(surgery, "checklist", None)
        if checklist is None:
            raise Http404("This surgery has no checklist.")
        items = list(checklist.items.all())
        report = readiness_compute(surgery=surgery, items=items, clinic=surgery.patient.clinic)
        checklist.surgery = surgery
        return Response(s.ChecklistOutput(checklist, context={"readiness": report}).data)


class SurgeryReminders(ApiView):
    @extend_schema(responses=s.ReminderOutput(many=True), summary="A surgery's reminders (the outbox), by due time")
    def get(self, request: StaffApiRequest, uuid: str) -> Response:
        from reminders.models import Reminder

        surgery = access.surgery_get_for_user(user=request.user, uuid=uuid)
        qs = Reminder.objects.filter(surgery=surgery).select_related("item", "guardian").order_by("due_at", "pk")
        return self.paged(qs, s.ReminderOutput)


# --- Items ---------------------------------------------------------------------------------

ITEM_ERRORS = {409: s.ConflictOutput}


class ItemDetail(ApiView):
    @extend_schema(responses=s.ItemOutput, summary="Read a checklist item")
    def get(self, request: StaffApiRequest, uuid: str) -> Response:
        item = access.item_get_for_user(
            user=request.user, uuid=uuid, qs=ChecklistItem.objects.select_related("template_item", "completed_by")
        )
        return Response(s.ItemOutput(item).data)


class ItemComplete(ApiView):
    @extend_schema(
        request=s.ItemCompleteInput, responses={200: s.ItemOutput, **ITEM_ERRORS}, summary="Complete an item"
    )
    def post(self, request: StaffApiRequest, uuid: str) -> Response:
        item = access.item_get_for_user(user=request.user, uuid=uuid)
        values = self.valid(s.ItemCompleteInput, request.data)
        try:
            item = item_actions.item_complete(
                item=item,
                by=request.user,
                result=values.get("result", ""),
                result_date=values.get("result_date"),
                expected_version=values.get("expected_version"),
            )
        except DjangoValidationError as exc:
            # result_clean raises without a field name: the only input it checks is the result.
            raise validation_error(exc, field="result") from None
        item = ChecklistItem.objects.select_related("template_item", "completed_by").get(pk=item.pk)
        return Response(s.ItemOutput(item).data)


class ItemNotApplicable(ApiView):
    @extend_schema(
        request=s.ItemNotApplicableInput,
        responses={200: s.ItemOutput, **ITEM_ERRORS},
        summary="Mark an item not applicable",
    )
    def post(self, request: StaffApiRequest, uuid: str) -> Response:
        item = access.item_get_for_user(user=request.user, uuid=uuid)
        values = self.valid(s.ItemNotApplicableInput, request.data)
        item = item_actions.item_mark_not_applicable(
            item=item, by=request.user, reason=values["reason"], expected_version=values.get("expected_version")
        )
        item = ChecklistItem.objects.select_related("template_item", "completed_by").get(pk=item.pk)
        return Response(s.ItemOutput(item).data)


# --- Readiness, procedures -----------------------------------------------------------------


class ReadinessList(ApiView):
    query_serializer = s.DateRangeInput

    @extend_schema(
        parameters=RANGE_PARAMS,
        responses=s.ReadinessRowOutput(many=True),
        summary="Readiness of the active surgeries in a date range (the board)",
    )
    def get(self, request: StaffApiRequest) -> Response:
        days = self.valid(s.DateRangeInput, request.query_params)
        qs = surgeries_for_range(user=request.user, first=days["from"], last=days["to"])
        return self.paged(qs, s.ReadinessRowOutput)


class ProcedureList(ApiView):
    @extend_schema(responses=s.ProcedureOutput(many=True), summary="Bookable procedures (catalogue)")
    def get(self, request: StaffApiRequest) -> Response:
        qs = ProcedureVariant.objects.filter(active=True).select_related("template").order_by("slug")
        return self.paged(qs, s.ProcedureOutput)


# --- Tokens (clinic admins, signed in to the pages) ------------------------------------------


class TokenListCreate(ApiView):
    permission_classes = [IsClinicAdminSession]

    @extend_schema(responses=s.ApiTokenOutput(many=True), summary="List your clinic's API tokens")
    def get(self, request: StaffApiRequest) -> Response:
        qs = ApiToken.objects.filter(clinic_id=request.user.clinic_id).order_by("-created_at", "pk")
        return self.paged(qs, s.ApiTokenOutput)

    @extend_schema(
        request=s.TokenCreateInput,
        responses={201: s.ApiTokenCreatedOutput},
        summary="Create an API token (the token is shown once)",
    )
    def post(self, request: StaffApiRequest) -> Response:
        values = self.valid(s.TokenCreateInput, request.data)
        token, raw = api_token_create(clinic=request.user.clinic, name=values["name"], by=request.user)
        token.token = raw
        return Response(s.ApiTokenCreatedOutput(token).data, status=status.HTTP_201_CREATED)


class TokenRevoke(ApiView):
    permission_classes = [IsClinicAdminSession]

    @extend_schema(request=None, responses=s.ApiTokenOutput, summary="Revoke an API token")
    def post(self, request: StaffApiRequest, uuid: str) -> Response:
        token = get_object_or_404(ApiToken, clinic_id=request.user.clinic_id, uuid=uuid_or_404(uuid))
        token = api_token_revoke(token=token, by=request.user)
        return Response(s.ApiTokenOutput(token).data)


# --- CSV export -----------------------------------------------------------------------------


class JsonErrorsNegotiation(DefaultContentNegotiation):
    """The CSV view answers errors in JSON whatever the Accept header (a spreadsheet asks for text/csv)."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class BoardCsvExport(ApiView):
    content_negotiation_class = JsonErrorsNegotiation
    query_serializer = s.DateRangeInput

    @extend_schema(
        parameters=RANGE_PARAMS,
        responses={(200, "text/csv"): OpenApiTypes.STR},
        summary="The board as CSV: one row per active surgery in the date range",
    )
    def get(self, request: StaffApiRequest) -> HttpResponse:
        days = self.valid(s.DateRangeInput, request.query_params)
        surgeries = list(surgeries_for_range(user=request.user, first=days["from"], last=days["to"]))
        audit.note_shown(kind="board csv", patient_ids=[surgery.patient_id for surgery in surgeries])
        body = board_csv(surgeries=surgeries, tz=request.user.clinic.tz)
        response = HttpResponse("\ufeff" + body, content_type="text/csv; charset=utf-8")
        name = f"board-{days['from']:%Y%m%d}-{days['to']:%Y%m%d}.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        response["Cache-Control"] = "no-store"
        return response


# --- Docs -----------------------------------------------------------------------------------


class ApiDocs(ApiView):
    """A server-rendered list of the operations, read from the schema: no CDN, no script."""

    renderer_classes = [TemplateHTMLRenderer, JSONRenderer]
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        generator = SchemaGenerator(patterns=None, urlconf=None)
        schema = generator.get_schema(request=None, public=True)
        operations = []
        for path, methods in schema.get("paths", {}).items():
            for method, op in methods.items():
                params = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]
                body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
                body_name = body.get("$ref", "").rsplit("/", 1)[-1]
                body_fields = []
                if body_name:
                    component = schema["components"]["schemas"].get(body_name, {})
                    required = set(component.get("required", []))
                    body_fields = [
                        (name, prop.get("type") or prop.get("$ref", "").rsplit("/", 1)[-1] or "", name in required)
                        for name, prop in component.get("properties", {}).items()
                    ]
                operations.append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "summary": op.get("summary", ""),
                        "tag": (op.get("tags") or [""])[0],
                        "query": params,
                        "body": body_fields,
                        "responses": sorted(op.get("responses", {})),
                    }
                )
        return Response({"operations": operations, "info": schema.get("info", {})}, template_name="api/docs.html")
