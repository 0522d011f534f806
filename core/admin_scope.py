"""The Django admin for clinic admins: their own clinic only, and every read of patient data logged.

Two kinds of admin user:

- an **operator** (``is_superuser``): runs the installation, sees everything, the only one who can
  grant superuser, groups or permissions;
- a **clinic admin** (role ``clinic_admin``, ``is_staff``, a clinic, not a superuser): sees and edits
  only the rows of his clinic, whatever the page (lists, forms, foreign-key choices, inlines,
  history, password change), and only the models each admin class opens to him
  (``clinic_admin_perms``). Django's own model permissions are not used for him, so nothing an admin
  can tick (groups, permissions) widens what he sees; third-party admins (groups, lock-outs, OTP
  devices), which do use them, stay closed to him.

A row that is not the clinic admin's does not exist for him: the list leaves it out and its
pages answer as Django does for a missing object. Every list or page that shows patient data notes
the patients it showed for the access log (``audit.context``), which also makes it ``no-store``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse

from audit import context as audit

if TYPE_CHECKING:
    from accounts.models import User

# Where each model's clinic is, for querysets and for foreign-key choices pointing at it.
CLINIC_PATHS: dict[str, str] = {
    "patients.clinic": "pk",
    "patients.patient": "clinic_id",
    "patients.surgery": "clinic_id",
    "patients.medication": "patient__clinic_id",
    "accounts.user": "clinic_id",
    "prep.checklist": "surgery__clinic_id",
    "prep.checklistitem": "checklist__surgery__clinic_id",
    "reminders.reminder": "clinic_id",
    "reminders.smsevent": "clinic_id",
    "reminders.nursedigest": "nurse__clinic_id",
    "workspace.patientnote": "patient__clinic_id",
    "portal.signinlink": "patient__clinic_id",
    "api.apitoken": "clinic_id",
    "prep.clinictestpolicy": "clinic_id",
}
ALL = frozenset({"view", "add", "change", "delete"})


def is_operator(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser)


def is_clinic_admin(request: HttpRequest) -> bool:
    user = request.user
    return bool(
        user.is_active
        and user.is_staff
        and not user.is_superuser
        and getattr(user, "role", "") == "clinic_admin"
        and user.clinic_id is not None
    )


def scope(qs: QuerySet, request: HttpRequest) -> QuerySet:
    """``qs`` cut to the clinic admin's clinic; everything for an operator; nothing for anyone else.

    A model with no clinic (the shared catalogue) is whole for a clinic admin.
    """
    if is_operator(request):
        return qs
    if not is_clinic_admin(request):
        return qs.none()
    path = CLINIC_PATHS.get(qs.model._meta.label_lower)
    if path is None:
        return qs
    qs = qs.filter(**{path: cast("User", request.user).clinic_id})  # a clinic admin, checked above
    if qs.model._meta.label_lower == "accounts.user":
        qs = qs.filter(is_superuser=False)  # operators are not a clinic's staff to manage
    return qs


class _ScopedPermissions:
    """Permissions from ``clinic_admin_perms`` for clinic admins, Django's own for operators."""

    clinic_admin_perms: frozenset[str] = frozenset({"view"})

    def _clinic_admin_may(self, request: HttpRequest, perm: str, obj: Model | None) -> bool:
        if not is_clinic_admin(request):
            return False
        if perm not in self.clinic_admin_perms and not (perm == "view" and "change" in self.clinic_admin_perms):
            return False
        if obj is None or obj.pk is None:
            return True
        return scope(type(obj)._default_manager.filter(pk=obj.pk), request).exists()

    def has_module_permission(self, request: HttpRequest) -> bool:
        if is_operator(request):
            return super().has_module_permission(request)  # type: ignore[misc]
        return is_clinic_admin(request) and bool(self.clinic_admin_perms)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if is_operator(request):
            return super().has_view_permission(request, obj)  # type: ignore[misc]
        return self._clinic_admin_may(request, "view", obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        if is_operator(request):
            return super().has_add_permission(request, *args)  # type: ignore[misc]
        return self._clinic_admin_may(request, "add", None)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if is_operator(request):
            return super().has_change_permission(request, obj)  # type: ignore[misc]
        return self._clinic_admin_may(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if is_operator(request):
            return super().has_delete_permission(request, obj)  # type: ignore[misc]
        return self._clinic_admin_may(request, "delete", obj)

    def _scoped_choices(self, db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        if is_operator(request):
            return
        related = db_field.remote_field.model
        if related._meta.label_lower in CLINIC_PATHS:
            base = kwargs.get("queryset", related._default_manager.all())
            kwargs["queryset"] = scope(base, request)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scoped_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scoped_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)  # type: ignore[misc]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scope(super().get_queryset(request), request)  # type: ignore[misc]


class ClinicScopedAdmin(_ScopedPermissions, admin.ModelAdmin):
    """A ModelAdmin limited to the clinic admin's clinic, that notes the patients it shows.

    ``patient_path``: the attribute path from a row to its patient id (``"pk"`` for a patient,
    ``"patient_id"``...), or ``None`` when the model holds no patient data.
    """

    patient_path: str | None = None

    def _patient_id(self, obj: Model) -> int | None:
        value: Any = obj
        for part in self.patient_path.split("."):  # type: ignore[union-attr]
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    def _note(self, objs: list[Model]) -> None:
        if self.patient_path is None:
            return
        kind = f"admin:{self.model._meta.model_name}"
        audit.note(kind=kind)
        for obj in objs:
            audit.note(kind=kind, patient_id=self._patient_id(obj))

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Model | None:
        obj = super().get_object(request, object_id, from_field)
        if obj is None and self.patient_path is not None:
            audit.note_denied(kind=f"admin:{self.model._meta.model_name}")
        elif obj is not None:
            self._note([obj])
        return obj

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if changelist is not None:
            self._note(list(changelist.result_list))
        elif self.patient_path is not None:
            audit.note(kind=f"admin:{self.model._meta.model_name}")
        return response


class ClinicScopedInline(_ScopedPermissions):
    """Mix into an inline (before TabularInline/StackedInline): same permissions and choices."""
