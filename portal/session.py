"""The portal's own session state, kept apart from staff authentication.

A patient is "signed in" when the session holds ``portal:patient_id``; a parent or guardian signed
in for them adds ``portal:guardian_id`` (who is signed in: the pages speak to them, confirmations and
the access log name them). Staff login
(``django.contrib.auth``) never reads these keys and portal views never read the staff user, so
neither side can reach the other's pages. All keys share the ``portal:`` prefix so that signing in
as another patient, or out, removes every trace of the previous one.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from patients.models import Guardian, Patient

PREFIX = "portal:"
PATIENT_KEY = "portal:patient_id"
GUARDIAN_KEY = "portal:guardian_id"
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


def portal_login(request: HttpRequest, *, patient: Patient, guardian: Guardian | None = None) -> None:
    """Sign ``patient`` in (``guardian`` for them), replacing whoever was signed in before (nothing of
    them survives).

    The language chosen on the date-of-birth page is kept: opening the link already cleared the rest.
    """
    portal_clear(request, keep_language=True)
    # A new session key on every sign-in: a key fixed before sign-in is worthless after it.
    request.session.cycle_key()
    now = time.time()
    request.session[PATIENT_KEY] = patient.pk
    if guardian is not None:
        request.session[GUARDIAN_KEY] = guardian.pk
    request.session[SEEN_KEY] = now
    request.session[STARTED_KEY] = now


def portal_logout(request: HttpRequest) -> None:
    portal_clear(request, keep_language=True)
    request.session.cycle_key()


def portal_patient(request: HttpRequest) -> Patient | None:
    """The signed-in patient, or None. An idle or too old session is ended here, and remembered as such."""
    return portal_people(request)[0]


def portal_people(request: HttpRequest) -> tuple[Patient | None, Guardian | None]:
    """The patient whose pages these are, and the guardian signed in for them (None: the patient).

    A session ends here when it is idle or too old, and also when who may sign in has changed
    since: a guardian who no longer receives the patient's messages (or whose patient turned 18),
    or a patient who now needs a guardian.
    """
    patient_id = request.session.get(PATIENT_KEY)
    if patient_id is None:
        return None, None
    seen = request.session.get(SEEN_KEY, 0)
    started = request.session.get(STARTED_KEY, 0)  # a session from before the limit has none: it ends
    now = time.time()
    if now - float(seen) > idle_seconds() or now - float(started) > absolute_seconds():
        portal_clear(request, keep_language=True)
        request.session[TIMED_OUT_KEY] = True
        return None, None
    patient = Patient.objects.select_related("clinic").filter(pk=patient_id).first()
    if patient is None:
        portal_clear(request)
        return None, None
    guardian_id = request.session.get(GUARDIAN_KEY)
    guardian = None
    if guardian_id is not None:
        guardian = Guardian.objects.filter(pk=guardian_id, patient_id=patient.pk, receives_messages=True).first()
    today = timezone.now().astimezone(patient.tz).date()
    if (guardian_id is not None) != patient.guardian_required_on(today) or (
        guardian_id is not None and guardian is None
    ):
        portal_clear(request, keep_language=True)
        return None, None
    request.session[SEEN_KEY] = now
    return patient, guardian
