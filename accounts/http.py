"""The request behind ``login_required``, as the type checker should see it (never instantiated).

Django types ``request.user`` as a ``User`` or an ``AnonymousUser``; a view behind
``login_required`` knows it is a ``User``. Annotating the request with this class says so once,
where the check is, instead of an assertion in every view. Staff of a clinic (the workspace, the
API) have ``patients.staff.StaffRequest``, which also knows the user's clinic.
"""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

from accounts.models import User


class SignedInRequest(HttpRequest):
    """Behind ``login_required``: a signed-in user, who may have no clinic (an operator)."""

    user: User
    htmx: HtmxDetails
