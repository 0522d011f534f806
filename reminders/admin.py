from django.contrib import admin

from core.admin_scope import ClinicScopedAdmin
from reminders.models import NurseDigest, Reminder, SmsEvent


@admin.register(Reminder)
class ReminderAdmin(ClinicScopedAdmin):
    patient_path = "patient_id"
    list_display = ("uuid", "clinic", "kind", "channel", "status", "due_at", "attempts", "last_error")
    list_filter = ("status", "channel", "kind", "clinic")
    search_fields = ("uuid", "provider_id", "key")
    raw_id_fields = ("patient", "surgery", "item")
    readonly_fields = [f.name for f in Reminder._meta.fields]

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False  # the planner writes reminders, never a person


@admin.register(SmsEvent)
class SmsEventAdmin(ClinicScopedAdmin):
    patient_path = "patient_id"
    list_display = ("received_at", "action", "clinic")
    list_filter = ("action",)
    readonly_fields = [f.name for f in SmsEvent._meta.fields]


@admin.register(NurseDigest)
class NurseDigestAdmin(ClinicScopedAdmin):
    list_display = ("local_date", "nurse", "status", "surgeries")
    list_filter = ("status",)
