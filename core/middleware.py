"""Session timeouts for staff."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

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
