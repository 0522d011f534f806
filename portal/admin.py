from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from core.admin_scope import ClinicScopedAdmin
from portal.models import SignInLink


@admin.register(SignInLink)
class SignInLinkAdmin(ClinicScopedAdmin):
    """Read-only: lets support see whether a link was used, expired or locked. The token is never stored."""

    list_display = ("uuid", "patient", "channel", "created_at", "expires_at", "used_at", "failed_attempts", "locked_at")
    list_filter = ("channel",)
    fields = (*list_display, "created_by")
    readonly_fields = fields
    raw_id_fields = ("patient",)
    patient_path = "patient_id"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201
        return super().get_queryset(request).select_related("patient")
