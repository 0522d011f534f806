from django.contrib import admin

from workspace.models import PatientNote


@admin.register(PatientNote)
class PatientNoteAdmin(admin.ModelAdmin):
    list_display = ("at", "patient", "kind", "outcome", "by")
    list_filter = ("kind", "outcome", "patient__clinic")
    search_fields = ("patient__mrn", "patient__last_name")
    list_select_related = ("patient", "by")
    raw_id_fields = ("patient", "surgery")
