"""Input serializers validate and hand plain values to the services; output serializers only read.

No serializer here ever saves a model: writes go through ``patients.services`` and ``prep.services``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from patients.models import (
    Anaesthesia,
    CancelReason,
    Guardian,
    Indication,
    Language,
    Medication,
    Patient,
    Relationship,
    Sex,
    Side,
    StentType,
    Surgery,
)
from patients.services import PATIENT_FIELDS
from prep.models import Checklist, ChecklistItem, Drug, ProcedureVariant
from prep.selectors import Readiness

if TYPE_CHECKING:
    from prep.selectors import SurgeryWithReadiness


class AwareDateTimeField(serializers.DateTimeField):
    """A time without its UTC offset is ambiguous across clinics' zones: refuse it rather than guess."""

    default_error_messages = {
        **serializers.DateTimeField.default_error_messages,
        "naive": "Give the time with its UTC offset, e.g. 2026-03-09T08:00:00-08:00.",
    }

    def to_internal_value(self, value: Any) -> dt.datetime:
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)


# --- Input ---------------------------------------------------------------------------------


class PatientSearchInput(serializers.Serializer):
    mrn = serializers.CharField(max_length=40, help_text="Exact medical record number.")


class PatientInput(serializers.Serializer):
    mrn = serializers.CharField(max_length=40, help_text="The clinic's medical record number.")
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    birth_date = serializers.DateField()
    sex = serializers.ChoiceField(choices=Sex.choices, required=False)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    time_zone = serializers.CharField(max_length=64, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    mobile = serializers.CharField(max_length=20, required=False, allow_blank=True, help_text="E.164")
    channel_email = serializers.BooleanField(required=False)
    channel_sms = serializers.BooleanField(required=False)
    sms_consent = serializers.BooleanField(required=False)
    sms_detailed = serializers.BooleanField(required=False)
    claustrophobic = serializers.BooleanField(required=False)
    cardiac_history = serializers.BooleanField(required=False)
    impaired_renal_function = serializers.BooleanField(required=False)
    latex_allergy = serializers.BooleanField(required=False)
    allergies = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    stent = serializers.ChoiceField(choices=StentType.choices, required=False, allow_blank=True)
    stent_date = serializers.DateField(required=False, allow_null=True)
    mechanical_heart_valve = serializers.BooleanField(required=False)
    atrial_fibrillation = serializers.BooleanField(required=False)
    vte_date = serializers.DateField(required=False, allow_null=True, help_text="Latest clot (DVT or PE).")
    stroke_date = serializers.DateField(required=False, allow_null=True, help_text="Latest stroke or TIA.")
    diabetes = serializers.BooleanField(required=False)
    crcl_ml_min = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=250, help_text="Creatinine clearance, mL/min."
    )
    needs_guardian = serializers.BooleanField(
        required=False, help_text="An adult whose parent or guardian receives the messages (automatic under 18)."
    )


class GuardianInput(serializers.Serializer):
    """A parent or guardian: while the patient needs one, they get the reminders and sign-in links."""

    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    relationship = serializers.ChoiceField(choices=Relationship.choices)
    birth_year = serializers.IntegerField(
        min_value=1800, max_value=2200, help_text="The guardian's own; asked at the portal sign-in."
    )
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    email = serializers.EmailField(required=False, allow_blank=True)
    mobile = serializers.CharField(max_length=20, required=False, allow_blank=True, help_text="E.164")
    channel_email = serializers.BooleanField(required=False)
    channel_sms = serializers.BooleanField(required=False)
    sms_consent = serializers.BooleanField(required=False)
    sms_detailed = serializers.BooleanField(required=False)
    is_primary = serializers.BooleanField(required=False)
    receives_messages = serializers.BooleanField(required=False)


class MedicationInput(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    drug = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Drug.objects.all(),
        required=False,
        allow_null=True,
        help_text="A catalogue drug rule (slug); blank for a drug not in the catalogue.",
    )
    indication = serializers.ChoiceField(choices=Indication.choices, required=False, allow_blank=True)
    dose = serializers.CharField(max_length=120, required=False, allow_blank=True)
    is_blood_thinner = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not (attrs.get("name") or "").strip() and not attrs.get("drug"):
            raise serializers.ValidationError({"name": "Name the medication."})
        return attrs


class SurgeryFieldsMixin(serializers.Serializer):
    procedure = serializers.SlugRelatedField(slug_field="slug", queryset=ProcedureVariant.objects.filter(active=True))
    start_at = AwareDateTimeField(help_text="With its UTC offset.")
    anaesthesia = serializers.ChoiceField(choices=Anaesthesia.choices, required=False, allow_blank=True)
    surgeon = serializers.EmailField(required=False, allow_blank=True, help_text="The surgeon's staff email.")
    place = serializers.CharField(max_length=200, required=False, allow_blank=True)
    level = serializers.CharField(max_length=60, required=False, allow_blank=True)
    side = serializers.ChoiceField(choices=Side.choices, required=False, allow_blank=True)


class SurgeryBookInput(SurgeryFieldsMixin):
    patient = serializers.UUIDField(help_text="The patient's id.")


class SurgeryUpdateInput(SurgeryFieldsMixin):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class CancelInput(serializers.Serializer):
    reason_code = serializers.ChoiceField(
        choices=CancelReason.choices,
        required=False,
        default=CancelReason.OTHER,
        help_text="Why, from the list; the prep_ codes are preparation problems. Default: other.",
    )
    reason = serializers.CharField(
        max_length=300, required=False, allow_blank=True, default="", help_text="The words; required for other."
    )


class ItemCompleteInput(serializers.Serializer):
    result = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    result_date = serializers.DateField(required=False, allow_null=True, help_text="When the result was obtained.")
    expected_version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2_147_483_647,
        help_text="The item's version you last read: a 409 tells you someone changed it since.",
    )


class ItemNotApplicableInput(serializers.Serializer):
    reason = serializers.CharField(max_length=300)
    expected_version = serializers.IntegerField(required=False, min_value=1, max_value=2_147_483_647)


class DateRangeInput(serializers.Serializer):
    """``from`` and ``to`` are days in the clinic's time zone, both included."""

    def __init__(self, *args: Any, max_days: int = 366, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_days = max_days

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword, so the fields are built here rather than declared.
        return {"from": serializers.DateField(required=False), "to": serializers.DateField(required=False)}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start = attrs.get("from") or timezone.localdate()
        end = attrs.get("to") or start + dt.timedelta(days=13)
        if end < start:
            raise serializers.ValidationError({"to": "'to' must be on or after 'from'."})
        if (end - start).days >= self.max_days:
            raise serializers.ValidationError({"to": f"Ask for at most {self.max_days} days at a time."})
        return {"from": start, "to": end}


class TokenCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)


# --- Output --------------------------------------------------------------------------------


class PatientOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    email = serializers.CharField(read_only=True, help_text="An email address, or empty.")

    class Meta:
        model = Patient
        fields = ["id", *PATIENT_FIELDS, "created_at", "updated_at"]
        read_only_fields = fields


class GuardianOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    # As on the patient: a guardian reached by text only has no email, and "" is not format "email".
    email = serializers.CharField(read_only=True, help_text="An email address, or empty.")

    class Meta:
        model = Guardian
        fields = [
            "id",
            "first_name",
            "last_name",
            "relationship",
            "birth_year",
            "language",
            "email",
            "mobile",
            "channel_email",
            "channel_sms",
            "sms_consent",
            "sms_consent_at",
            "sms_opted_out_at",
            "sms_detailed",
            "is_primary",
            "receives_messages",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class MedicationOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    drug: serializers.SlugRelatedField[Drug] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )

    class Meta:
        model = Medication
        fields = ["id", "name", "drug", "indication", "dose", "is_blood_thinner", "stopped_at", "created_at"]
        read_only_fields = fields


class ProcedureOutput(serializers.ModelSerializer):
    template = serializers.UUIDField(source="template.uuid", read_only=True, help_text="PlanDefinition id.")

    class Meta:
        model = ProcedureVariant
        fields = ["slug", "name", "name_es", "risk", "default_anaesthesia", "region", "template"]
        read_only_fields = fields


class SurgeryOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    patient = serializers.UUIDField(source="patient.uuid", read_only=True)
    procedure: serializers.SlugRelatedField[ProcedureVariant] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True
    )
    surgeon = serializers.SerializerMethodField()
    checklist = serializers.SerializerMethodField()
    # Codes of patients.models.CancelReason, blank when none (plain strings: the blank is not a reason).
    cancel_reason = serializers.CharField(read_only=True, help_text="Why it was cancelled (a code); blank if not.")
    no_go_reason = serializers.CharField(read_only=True, help_text="Why No go (a code); blank otherwise.")

    class Meta:
        model = Surgery
        fields = [
            "id",
            "patient",
            "procedure",
            "level",
            "side",
            "start_at",
            "place",
            "anaesthesia",
            "surgeon",
            "status",
            "version",
            "go_decision",
            "no_go_reason",
            "cancel_reason",
            "cancelled_at",
            "checklist",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_surgeon(self, surgery: Surgery) -> str | None:
        return surgery.surgeon.email if surgery.surgeon else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_checklist(self, surgery: Surgery) -> str | None:
        checklist = getattr(surgery, "checklist", None)
        return str(checklist.uuid) if checklist else None


class ItemOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    result_kind = serializers.CharField(source="template_item.result_kind", default="none", read_only=True)
    result_unit = serializers.CharField(source="template_item.result_unit", default="", read_only=True)
    result_choices = serializers.ListField(
        child=serializers.CharField(), source="template_item.result_choices", default=list, read_only=True
    )
    loinc = serializers.CharField(source="template_item.loinc", default="", read_only=True)
    completed_by = serializers.SerializerMethodField()

    class Meta:
        model = ChecklistItem
        fields = [
            "id",
            "code",
            "title",
            "category",
            "assignee",
            "required",
            "status",
            "due_at",
            "locked",
            "reason",
            "result_kind",
            "result_unit",
            "result_choices",
            "loinc",
            "result_value",
            "result_at",
            "completed_at",
            "completed_by",
            "na_reason",
            "confirmed_at",
            "last_dose_at",
            "restart_at",
            "version",
            "result_flag",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_completed_by(self, item: ChecklistItem) -> str | None:
        return item.completed_by.display_name if item.completed_by_id and item.completed_by else None


class ReadinessOutput(serializers.Serializer):
    state = serializers.ChoiceField(choices=list(Readiness.RANK))
    # DRF's serializer metaclass takes declared fields off the class, so these never shadow the
    # Field attributes of the same name (Field.label, Field.required) that the stubs see.
    label = serializers.CharField()  # type: ignore[assignment]
    reasons = serializers.ListField(child=serializers.CharField())
    done = serializers.IntegerField()
    required = serializers.IntegerField()  # type: ignore[assignment]
    overdue = serializers.IntegerField()


class ChecklistOutput(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    surgery = serializers.UUIDField(source="surgery.uuid", read_only=True)
    template = serializers.UUIDField(source="template.uuid", read_only=True, help_text="PlanDefinition id.")
    readiness = serializers.SerializerMethodField()
    items = ItemOutput(many=True, read_only=True)

    class Meta:
        model = Checklist
        fields = [
            "id",
            "surgery",
            "template",
            "catalogue_version",
            "status",
            "closed_reason",
            "alerts",
            "readiness",
            "items",
        ]
        read_only_fields = fields

    @extend_schema_field(ReadinessOutput)
    def get_readiness(self, checklist: Checklist) -> dict[str, Any]:
        report = self.context["readiness"]
        return ReadinessOutput(report).data


READINESS_BY_RANK = {rank: state for state, rank in Readiness.RANK.items()}


class ReadinessRowOutput(serializers.Serializer):
    """One surgery of the board, from ``surgeries_with_summary`` (stored columns, one query per page)."""

    surgery = serializers.UUIDField(source="uuid")
    patient = serializers.UUIDField(source="patient.uuid")
    patient_name = serializers.CharField(source="patient.full_name")
    mrn = serializers.CharField(source="patient.mrn")
    procedure = serializers.CharField(source="procedure.slug")
    start_at = serializers.DateTimeField()
    status = serializers.CharField()
    readiness = serializers.SerializerMethodField()
    required = serializers.IntegerField(source="required_count")  # type: ignore[assignment]  # see ReadinessOutput
    done = serializers.SerializerMethodField()
    overdue = serializers.IntegerField(source="overdue_count")
    next_due_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.ChoiceField(choices=list(Readiness.RANK)))
    def get_readiness(self, surgery: SurgeryWithReadiness) -> str:
        return READINESS_BY_RANK[surgery.readiness_rank]

    @extend_schema_field(serializers.IntegerField())
    def get_done(self, surgery: SurgeryWithReadiness) -> int:
        return surgery.done_count


class ApiTokenOutput(serializers.Serializer):
    id = serializers.UUIDField(source="uuid")
    name = serializers.CharField()
    prefix = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiTokenCreatedOutput(ApiTokenOutput):
    token = serializers.CharField(help_text="Shown once: store it now. Send it as 'Authorization: Bearer <token>'.")


# --- Errors (documented in the schema for every operation) -----------------------------------


class ErrorOutput(serializers.Serializer):
    detail = serializers.CharField()


class ConflictOutput(serializers.Serializer):
    detail = serializers.CharField()
    current_version = serializers.IntegerField()
    status = serializers.CharField()


class ReminderOutput(serializers.Serializer):
    """A reminder of the outbox, without its recipient or text (the patient's contact stays in the app)."""

    id = serializers.UUIDField(source="uuid")
    item = serializers.SerializerMethodField()
    guardian = serializers.SerializerMethodField(help_text="The parent or guardian it goes to; null: the patient.")
    kind = serializers.CharField()
    channel = serializers.CharField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    surgery_version = serializers.IntegerField()
    planned_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    not_after = serializers.DateTimeField()
    attempts = serializers.IntegerField()
    sent_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_guardian(self, reminder: Any) -> str | None:
        return str(reminder.guardian.uuid) if reminder.guardian_id and reminder.guardian else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_item(self, reminder: Any) -> str | None:
        return str(reminder.item.uuid) if reminder.item_id and reminder.item else None
