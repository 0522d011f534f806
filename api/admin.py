"""API tokens in the admin: create (the token is shown once, in a message) and revoke."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from accounts.models import User
from api.models import ApiToken
from api.services import api_token_create, api_token_revoke
from core.admin_scope import ClinicScopedAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(ClinicScopedAdmin):
    clinic_admin_perms = frozenset({"view", "add", "change"})  # change: the revoke action; rows stay read-only
    list_display = ["name", "clinic", "prefix", "created_at", "created_by", "last_used_at", "revoked_at"]
    list_filter = ["clinic"]
    fields = ["clinic", "name", "prefix", "created_at", "created_by", "last_used_at", "revoked_at", "revoked_by"]
    readonly_fields = ["prefix", "created_at", "created_by", "last_used_at", "revoked_at", "revoked_by"]
    actions = ["revoke"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        return super().get_queryset(request).select_related("clinic", "created_by")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return [*self.readonly_fields, "clinic", "name"] if obj else self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False if obj is not None else super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # revoke instead: the row says who used the API and when

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        # The admin site lets in signed-in staff only (``admin_view``): the user is a User.
        # Through the service, so the secret is generated, hashed and shown exactly once.
        token, raw = api_token_create(clinic=obj.clinic, name=obj.name, by=cast(User, request.user))
        obj.pk, obj.uuid = token.pk, token.uuid
        obj.__dict__.update({k: v for k, v in token.__dict__.items() if not k.startswith("_")})
        messages.warning(request, f"API token for '{token.name}': {raw} — copy it now, it will not be shown again.")

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            api_token_revoke(token=token, by=cast(User, request.user))
        self.message_user(request, f"{queryset.count()} token(s) revoked.")
