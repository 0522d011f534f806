from django.contrib import admin

from core.admin_scope import ALL, ClinicScopedAdmin
from workspace.models import PatientNote


@admin.register(PatientNote)
class PatientNoteAdmin(ClinicScopedAdmin):
    clinic_admin_perms = ALL
    patient_path = "patient_id"
    list_display = ("at", "patient", "kind", "outcome", "by")
    list_filter = ("kind", "outcome", "patient__clinic")
    search_fields = ("patient__mrn", "patient__last_name")
    list_select_related = ("patient", "by")
    raw_id_fields = ("patient", "surgery")
