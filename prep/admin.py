from django.contrib import admin

from core.admin_scope import ALL, ClinicScopedAdmin, ClinicScopedInline
from prep import conditions
from prep.models import ChecklistTemplate, ClinicTestPolicy, Drug, KnownMedicine, ProcedureVariant, TemplateItem


# The catalogue is shared by every clinic of the installation: a clinic admin reads it, an operator
# changes it (one clinic's edit would change every other clinic's checklists).
@admin.register(ProcedureVariant)
class ProcedureVariantAdmin(ClinicScopedAdmin):
    list_display = (
        "name",
        "slug",
        "risk",
        "risk_to_be_confirmed",
        "default_anaesthesia",
        "region",
        "template",
        "active",
    )
    list_filter = ("risk", "risk_to_be_confirmed", "default_anaesthesia", "region", "active")
    search_fields = ("name", "slug")
    list_select_related = ("template",)


class ConditionsInWords:
    @admin.display(description="conditions in words")
    def conditions_in_words(self, obj: TemplateItem) -> str:
        """What the structured condition means, as the FHIR export says it (empty: every patient)."""
        return conditions.describe(obj.conditions or {}) or "every patient"


class TemplateItemInline(ConditionsInWords, ClinicScopedInline, admin.StackedInline):
    model = TemplateItem
    extra = 0
    show_change_link = True
    readonly_fields = ("conditions_in_words",)
    fields = (
        ("code", "category", "assignee", "required", "sort_order"),
        "title_en",
        ("patient_title_en", "patient_title_es"),
        ("patient_title_parent_en", "patient_title_parent_es"),
        ("offset_days", "offset_minutes", "at_local_time"),
        "timing_options",
        "conditions",
        "conditions_in_words",
        ("confirm_as", "reminder_kind", "show_time", "calendar"),
        ("result_kind", "result_unit", "result_min", "result_max", "validity_days", "loinc"),
        "result_choices",
        "source",
    )


@admin.register(ChecklistTemplate)
class ChecklistTemplateAdmin(ClinicScopedAdmin):
    list_display = ("name", "slug", "version", "updated_at")
    search_fields = ("name", "slug")
    inlines = [TemplateItemInline]


@admin.register(TemplateItem)
class TemplateItemAdmin(ConditionsInWords, ClinicScopedAdmin):
    list_display = ("code", "title_en", "template", "category", "assignee", "required", "result_kind", "sort_order")
    list_filter = ("template", "category", "assignee", "required", "result_kind")
    search_fields = ("code", "title_en")
    list_select_related = ("template",)
    readonly_fields = ("conditions_in_words",)


@admin.register(Drug)
class DrugAdmin(ClinicScopedAdmin):
    list_display = (
        "name",
        "substance",
        "indication",
        "family",
        "drug_class",
        "hold_high",
        "hold_intermediate",
        "hold_low",
        "restart_hours",
        "needs_normal_inr",
        "to_be_confirmed",
    )
    list_filter = ("family", "drug_class", "to_be_confirmed", "needs_normal_inr", "hold_high")
    search_fields = ("name", "substance", "slug")


@admin.register(KnownMedicine)
class KnownMedicineAdmin(ClinicScopedAdmin):
    list_display = ("name", "slug", "drug_class")
    search_fields = ("name", "slug")


@admin.register(ClinicTestPolicy)
class ClinicTestPolicyAdmin(ClinicScopedAdmin):
    """A clinic's own policy for the document's standard tests (blank fields keep the catalogue's).

    Unlike the shared catalogue, this is the clinic admin's to change, for his clinic only.
    """

    clinic_admin_perms = ALL
    list_display = ("clinic", "code", "enabled", "required", "validity_days", "timing_option", "note")
    list_filter = ("clinic", "code", "enabled")
    list_select_related = ("clinic",)
