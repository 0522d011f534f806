"""Staff of a clinic as the type checker sees them behind the staff checks (types only).

A ``User``'s clinic may be empty (an operator). ``workspace.views.staff_view`` and the API's
``IsClinicMember`` let through only users linked to a clinic; annotating a view's request as
:class:`StaffRequest` (or a function's user as :class:`ClinicStaff`) says so once, where the check
is, instead of an assertion in every view. :func:`has_clinic` is that check, told to the checker.
It lives here, beside ``Clinic``, because the base apps may not import the clinical ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeGuard

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import User

if TYPE_CHECKING:
    from patients.models import Clinic

    class ClinicStaff(User):
        """A user linked to a clinic."""

        clinic: Clinic
        clinic_id: int

else:
    # At run time it is the user model itself: a subclass here would be a new model.
    ClinicStaff = User


class StaffRequest(HttpRequest):
    """Behind ``workspace.views.staff_view``: signed-in staff of a clinic (the API has ``StaffApiRequest``)."""

    user: ClinicStaff
    htmx: HtmxDetails


def has_clinic(user: User) -> TypeGuard[ClinicStaff]:
    """The user is linked to a clinic (``staff_view``'s check)."""
    return user.clinic_id is not None
