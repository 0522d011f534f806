from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from core.admin_scope import ALL, ClinicScopedAdmin, ClinicScopedInline
from patients.models import Clinic, Medication, Patient, Surgery
from prep.services import clinic_summaries_expire


@admin.register(Clinic)
class ClinicAdmin(ClinicScopedAdmin):
    # A clinic admin edits his own clinic's settings; clinics are created by the operators.
    clinic_admin_perms = frozenset({"view", "change"})
    list_display = ("name", "slug", "time_zone", "phone", "go_no_go_hours", "escalation_hours", "cardiac_age_threshold")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    fieldsets = (
        (None, {"fields": ("name", "slug", "phone", "time_zone")}),
        ("Messages", {"fields": ("quiet_hours_start", "quiet_hours_end", "sms_daily_limit", "digest_hour")}),
        ("Readiness rules", {"fields": ("go_no_go_hours", "escalation_hours", "cardiac_age_threshold")}),
    )

    def save_model(self, request: HttpRequest, obj: Clinic, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and {"go_no_go_hours", "escalation_hours"} & set(form.changed_data):
            # The stored readiness was decided with the old hours: every summary is re-evaluated
            # by the next list that shows it.
            clinic_summaries_expire(clinic=obj)


class MedicationInline(ClinicScopedInline, admin.TabularInline):
    clinic_admin_perms = ALL

    model = Medication
    extra = 0
    fields = ("name", "drug", "indication", "dose", "is_blood_thinner", "stopped_at")
    autocomplete_fields = ("drug",)


@admin.register(Patient)
class PatientAdmin(ClinicScopedAdmin, SimpleHistoryAdmin):
    clinic_admin_perms = ALL
    patient_path = "pk"
    list_display = ("mrn", "last_name", "first_name", "birth_date", "clinic", "language", "channel_sms", "sms_consent")
    list_filter = ("clinic", "language", "channel_sms", "sms_consent", "claustrophobic", "cardiac_history")
    search_fields = ("mrn", "last_name", "first_name", "email")
    list_select_related = ("clinic",)
    readonly_fields = (
        "uuid",
        "sms_consent_at",
        "sms_opted_out_at",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    )
    inlines = [MedicationInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Patient | None = None) -> tuple[str, ...]:
        # A patient never changes clinic: their surgeries and reminders carry it too.
        return (*self.readonly_fields, "clinic") if obj is not None else self.readonly_fields


@admin.register(Surgery)
class SurgeryAdmin(ClinicScopedAdmin, SimpleHistoryAdmin):
    clinic_admin_perms = ALL
    patient_path = "patient_id"
    list_display = ("start_at", "patient", "procedure", "surgeon", "anaesthesia", "status", "go_decision")
    list_filter = ("status", "procedure", "anaesthesia", "go_decision", "clinic")
    search_fields = ("patient__mrn", "patient__last_name", "patient__first_name")
    date_hierarchy = "start_at"
    list_select_related = ("patient", "procedure", "surgeon")
    raw_id_fields = ("patient",)
    readonly_fields = (
        "uuid",
        "version",
        "go_decided_at",
        "go_decided_by",
        "created_at",
        "updated_at",
        "created_by",
        "updated_by",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Surgery | None = None) -> tuple[str, ...]:
        # A booking stays with its patient (and so with the patient's clinic, which it carries).
        return (*self.readonly_fields, "patient") if obj is not None else self.readonly_fields
