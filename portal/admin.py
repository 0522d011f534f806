from django.contrib import admin
from django.http import HttpRequest

from portal.models import SignInLink


@admin.register(SignInLink)
class SignInLinkAdmin(admin.ModelAdmin):
    """Read-only: lets support see whether a link was used, expired or locked. The token is never stored."""

    list_display = ("uuid", "patient", "channel", "created_at", "expires_at", "used_at", "failed_attempts", "locked_at")
    list_filter = ("channel",)
    fields = (*list_display, "created_by")
    readonly_fields = fields
    raw_id_fields = ("patient",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SignInLink | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201
        qs = super().get_queryset(request).select_related("patient")
        clinic_id = getattr(request.user, "clinic_id", None)
        # Clinic staff see their own clinic's links; superusers without a clinic see all.
        return qs.filter(patient__clinic_id=clinic_id) if clinic_id and not request.user.is_superuser else qs
