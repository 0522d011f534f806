from typing import Any, cast

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.http import HttpRequest

from accounts.models import Role, User
from core.admin_scope import ClinicScopedAdmin, is_operator

# What only an operator may set: these reach beyond a clinic (or beyond the role model).
OPERATOR_FIELDS = ("is_superuser", "groups", "user_permissions", "is_staff")


class StaffCreationForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):  # type: ignore[name-defined]  # django-stubs omits the user forms' Meta
        model = User
        fields = ("email", "first_name", "last_name", "clinic", "role")


class StaffChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):  # type: ignore[name-defined]  # django-stubs omits the user forms' Meta
        model = User
        fields = "__all__"


@admin.register(User)
class StaffUserAdmin(ClinicScopedAdmin, UserAdmin):
    # A clinic admin manages his clinic's staff (not deleting them: deactivate, the history keeps them).
    clinic_admin_perms = frozenset({"view", "add", "change"})
    form = StaffChangeForm
    add_form = StaffCreationForm
    list_display = (
        "email",
        "first_name",
        "last_name",
        "clinic",
        "role",
        "is_lead_nurse",
        "is_active",
        "is_staff",
        "last_login",
    )
    list_filter = ("clinic", "role", "is_active", "is_staff")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("clinic__name", "last_name", "email")
    list_select_related = ("clinic",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("first_name", "last_name")}),
        ("Clinic and role", {"fields": ("clinic", "role", "is_lead_nurse")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "first_name", "last_name", "clinic", "role", "password1", "password2"),
            },
        ),
    )

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if is_operator(request):
            return fieldsets
        return [
            (name, {**opts, "fields": tuple(f for f in opts["fields"] if f not in OPERATOR_FIELDS)})
            for name, opts in fieldsets
        ]

    def get_list_filter(self, request: HttpRequest) -> Any:
        return self.list_filter if is_operator(request) else ("role", "is_active")

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        if not is_operator(request):
            # Whatever was posted: the clinic admin's own clinic, and the admin site only for its admins.
            # The admin site lets in signed-in staff only, and this is not an operator: a clinic admin.
            obj.clinic_id = cast(User, request.user).clinic_id
            obj.is_superuser = False
            obj.is_staff = obj.role == Role.CLINIC_ADMIN
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if not is_operator(request):
            form.instance.groups.clear()
            form.instance.user_permissions.clear()
