"""Session timeouts for staff."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

STAFF_LAST_SEEN = "_staff_last_seen"
STAFF_STARTED = "_staff_started"


class SessionTimeoutMiddleware:
    """Ends a staff session after ``STAFF_IDLE_MINUTES`` without a request, and after
    ``SESSION_ABSOLUTE_HOURS`` whatever the activity (the portal keeps its own idle timer)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            session = request.session
            started = session.setdefault(STAFF_STARTED, now)
            last_seen = session.get(STAFF_LAST_SEEN, now)
            idle = now - last_seen > settings.STAFF_IDLE_MINUTES * 60
            expired = now - started > settings.SESSION_ABSOLUTE_HOURS * 3600
            if idle or expired:
                logout(request)  # flushes the session: a new id, nothing of the old one kept
                return redirect(f"{settings.LOGIN_URL}?next={request.path}&timeout=1")
            # Saving the session costs a write: refresh the mark at most once a minute.
            if now - last_seen > 60 or STAFF_LAST_SEEN not in session:
                session[STAFF_LAST_SEEN] = now
        return self.get_response(request)


@receiver(user_logged_in)
def _start_staff_session(sender: object, request: HttpRequest, user: object, **kwargs: object) -> None:
    # Django's login() already gave the session a new id; the lifetimes count from here.
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[STAFF_STARTED] = now
        request.session[STAFF_LAST_SEEN] = now


TWO_FACTOR_EXEMPT = ("/accounts/2fa/", "/accounts/logout/", "/static/", "/healthz", "/p/", "/reminders/twilio/")
# Staff pages that live under an exempt prefix: they need the verified session like every staff page.
TWO_FACTOR_NOT_EXEMPT = ("/p/staff/",)


def two_factor_exempt(path: str) -> bool:
    return path.startswith(TWO_FACTOR_EXEMPT) and not path.startswith(TWO_FACTOR_NOT_EXEMPT)


class TwoFactorRequiredMiddleware:
    """Staff whose role needs two-factor authentication reach nothing until they have verified."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from accounts.two_factor import two_factor_required

        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and two_factor_required(user)
            and not user.is_verified()
            and not two_factor_exempt(request.path)
        ):
            if request.path.startswith("/api/"):
                return HttpResponse("Two-factor verification required.", status=403, content_type="text/plain")
            return redirect(f"/accounts/2fa/?next={request.path}")
        return self.get_response(request)


# Dates outside these years are refused everywhere: nobody is born before 1900 or booked after 2200,
# and date arithmetic near year 9999 overflows (a board "14 days from" 9999-12-31).
YEAR_MIN, YEAR_MAX = 1900, 2200
_ISO_DATE = re.compile(r"^\s*(?P<year>[+-]?\d{4,})-\d{1,2}-\d{1,2}(?:[T ][0-9:.]*(?:Z|[+-]\d{2}:?\d{2})?)?\s*$")
# Split date inputs (the portal's day / month / year, the admin's date part).
_YEAR_KEYS = ("year",)
NUL_MESSAGE = "The request contains a NUL character (\\x00), which no field accepts."
DATE_MESSAGE = f"A date in the request is outside the years {YEAR_MIN} to {YEAR_MAX}: check the dates."
_JSON_LIMIT = 1_000_000


def _bad_value(value: str, key: str = "", *, dates: bool = True) -> str:
    if "\x00" in value:
        return NUL_MESSAGE
    if not dates:
        return ""
    match = _ISO_DATE.match(value)
    if match and not YEAR_MIN <= int(match["year"]) <= YEAR_MAX:
        return DATE_MESSAGE
    if key.lower() in _YEAR_KEYS and value.strip().isdigit() and not YEAR_MIN <= int(value) <= YEAR_MAX:
        return DATE_MESSAGE
    return ""


def _bad_json(value: object, key: str = "") -> str:
    if isinstance(value, str):
        return _bad_value(value, key, dates=False) or ("\x00" in key and NUL_MESSAGE) or ""
    if isinstance(value, dict):
        return next((m for k, v in value.items() if (m := _bad_json(v, str(k)))), "")
    if isinstance(value, list):
        return next((m for v in value if (m := _bad_json(v, key))), "")
    return ""


def request_input_problem(request: HttpRequest) -> str:
    """What no view can accept, whatever the route: a NUL byte anywhere (PostgreSQL refuses it in any text,
    so it became a 500), or a date outside the supported years in a query string (the filters of lists and
    exports, where date arithmetic overflowed near 9999). Dates in a posted body stay with their form or
    serializer, whose error names the field ("The birth date cannot be in the future."). Empty when fine."""
    if "\x00" in request.path or "\x00" in request.META.get("HTTP_AUTHORIZATION", ""):
        return NUL_MESSAGE
    try:
        pairs = list(request.GET.lists())
        # A NUL anywhere is named first, whatever the order of the parameters: it is the problem
        # no field can ever accept, where a date out of range belongs to one field.
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in pairs):
            return NUL_MESSAGE
        for key, values in pairs:
            if problem := _bad_value(key) or next((m for v in values if (m := _bad_value(v, key))), ""):
                return problem
        content_type = request.META.get("CONTENT_TYPE", "")
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if request.method in ("POST", "PUT", "PATCH") and 0 < length <= _JSON_LIMIT:
            if content_type.startswith(("application/json", "application/fhir+json")):
                if b"\x00" in request.body or b"\\u0000" in request.body:
                    return NUL_MESSAGE
                try:
                    return _bad_json(json.loads(request.body))
                except ValueError:
                    return ""  # the view answers malformed JSON itself
            if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
                for key, values in request.POST.lists():
                    checked = (key, *values)
                    if problem := next((m for v in checked if (m := _bad_value(v, dates=False))), ""):
                        return problem
    except UnicodeDecodeError:
        return "The request is not valid UTF-8."
    return ""


class InputGuardMiddleware:
    """A 400 with the reason, before any view, for input that no route accepts (``request_input_problem``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = request_input_problem(request)
        if not problem:
            return self.get_response(request)
        path = request.path
        if path.startswith("/fhir/"):
            body = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "invalid", "diagnostics": problem}],
            }
            return HttpResponse(json.dumps(body), status=400, content_type="application/fhir+json")
        if path.startswith("/api/"):
            return HttpResponse(json.dumps({"detail": problem}), status=400, content_type="application/json")
        response = render(request, "400.html", {"message": problem}, status=400)
        response["Cache-Control"] = "no-store"
        return response
