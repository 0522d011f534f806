"""The portal's own session state, kept apart from staff authentication.

A patient is "signed in" when the session holds ``portal:patient_id``. Staff login
(``django.contrib.auth``) never reads these keys and portal views never read the staff user, so
neither side can reach the other's pages. All keys share the ``portal:`` prefix so that signing in
as another patient, or out, removes every trace of the previous one.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest

from patients.models import Patient

PREFIX = "portal:"
PATIENT_KEY = "portal:patient_id"
SEEN_KEY = "portal:seen_at"
STARTED_KEY = "portal:started_at"
PENDING_KEY = "portal:pending_link"  # the SHA-256 of the opened link's token, never the token
LANGUAGE_KEY = "portal:language"
TIMED_OUT_KEY = "portal:timed_out"


def idle_seconds() -> int:
    return int(getattr(settings, "PORTAL_IDLE_MINUTES", 30)) * 60


def absolute_seconds() -> int:
    """A portal session ends this long after sign-in whatever the activity, as a staff session does."""
    return int(settings.SESSION_ABSOLUTE_HOURS) * 3600


def portal_clear(request: HttpRequest, *, keep_language: bool = False) -> None:
    """Forget every portal key (the staff login, if any, is untouched)."""
    for key in [k for k in list(request.session.keys()) if k.startswith(PREFIX)]:
        if keep_language and key == LANGUAGE_KEY:
            continue
        del request.session[key]


def portal_login(request: HttpRequest, *, patient: Patient) -> None:
    """Sign ``patient`` in, replacing whoever was signed in before (nothing of them survives).

    The language chosen on the date-of-birth page is kept: opening the link already cleared the rest.
    """
    portal_clear(request, keep_language=True)
    # A new session key on every sign-in: a key fixed before sign-in is worthless after it.
    request.session.cycle_key()
    now = time.time()
    request.session[PATIENT_KEY] = patient.pk
    request.session[SEEN_KEY] = now
    request.session[STARTED_KEY] = now


def portal_logout(request: HttpRequest) -> None:
    portal_clear(request, keep_language=True)
    request.session.cycle_key()


def portal_patient(request: HttpRequest) -> Patient | None:
    """The signed-in patient, or None. An idle or too old session is ended here, and remembered as such."""
    patient_id = request.session.get(PATIENT_KEY)
    if patient_id is None:
        return None
    seen = request.session.get(SEEN_KEY, 0)
    started = request.session.get(STARTED_KEY, 0)  # a session from before the limit has none: it ends
    now = time.time()
    if now - float(seen) > idle_seconds() or now - float(started) > absolute_seconds():
        portal_clear(request, keep_language=True)
        request.session[TIMED_OUT_KEY] = True
        return None
    patient = Patient.objects.select_related("clinic").filter(pk=patient_id).first()
    if patient is None:
        portal_clear(request)
        return None
    request.session[SEEN_KEY] = now
    return patient
