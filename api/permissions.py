"""Who may use the API: staff of a clinic (session) or a clinic's token (service user)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import Role
from api.models import ApiToken
from api.services import SYSTEM_ROLE
from patients.staff import ClinicStaff

CLINIC_ROLES = (Role.NURSE, Role.SURGEON, Role.CLINIC_ADMIN, SYSTEM_ROLE)


class StaffApiRequest(Request):
    """A request :class:`IsClinicMember` (every API view's default) let through, for the type checker.

    The user is staff of a clinic or a token's service user, never anonymous; the views annotate
    their request with this instead of asserting it (``patients.staff.StaffRequest`` for pages).
    """

    user: ClinicStaff


class IsClinicMember(BasePermission):
    """Signed in, active, belonging to a clinic. Which records it sees is patients.access's job (404 elsewhere)."""

    message = "Sign in as a member of a clinic, or use an API token."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_active
            and user.clinic_id is not None
            and user.role in CLINIC_ROLES
        )


class IsClinicAdminSession(BasePermission):
    """Managing tokens: a clinic admin signed in to the pages, never a token itself."""

    message = "Only a clinic admin can manage API tokens."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            IsClinicMember().has_permission(request, view)
            and user.is_authenticated  # checked by IsClinicMember too: this tells the type checker
            and user.is_clinic_admin
            and request.auth is None
        )


class IsClinicToken(BasePermission):
    """A clinic's API token (its service user), never a session: results come from systems."""

    message = "Use the clinic's API token (Authorization: Bearer ...) to send results."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(IsClinicMember().has_permission(request, view) and isinstance(request.auth, ApiToken))
