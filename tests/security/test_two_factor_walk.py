"""Two-factor authentication covers every staff page: a walk over every URL pattern.

A clinic admin (who must use two-factor) signed in with the password only reaches nothing but the
two-factor pages, the public pages and the patient portal's own pages (a patient has no staff
session to verify). The staff-only view under ``/p/`` (send a patient a sign-in link) was exempt
with the rest of the portal; it is not any more, and a new staff view anywhere is covered too.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import get_resolver

from core.middleware import two_factor_exempt
from tests.security.test_url_walk import sample_path, walk

pytestmark = pytest.mark.django_db

# Reached without the second factor, each for a reason.
NOT_STAFF = {
    "healthz",
    "accounts:login",
    "accounts:logout",
    "accounts:two_factor_verify",
    "accounts:two_factor_setup",
    "portal:start",
    "portal:sent",
    "portal:link_open",
    "portal:verify",
    "portal:language",
    "portal:sign_out",
    "portal:me",
    "portal:item_confirm",
    "portal:calendar",
    "portal:messages",
    "portal:sms_stop",
    "portal:questionnaire",
    "portal:questionnaire_section",
    "portal:questionnaire_send",
    "reminders:twilio-status",
    "reminders:twilio-inbound",
}


def test_staff_send_is_not_exempt():
    assert two_factor_exempt("/p/me/") and not two_factor_exempt("/p/staff/send/x/")


def test_every_staff_url_needs_the_second_factor(clinic_admin, world):
    client = Client()
    client.force_login(clinic_admin)  # the password only: no device verified in this session
    wrong = []
    for pattern, name in walk(get_resolver().url_patterns):
        path = sample_path(pattern)
        if name in NOT_STAFF or path.startswith("/static/"):
            continue
        if name == "portal:staff_send":
            path = f"/p/staff/send/{world.home.patient.uuid}/"
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            location = response.get("Location", "")
            if not (response.status_code == 302 and location.startswith("/accounts/2fa/")) and not (
                path.startswith("/api/") and response.status_code == 403
            ):
                wrong.append(f"{method.upper()} {path} ({name}): {response.status_code} {location}")
    assert not wrong, "\n".join(wrong)


def test_staff_send_without_the_second_factor_sends_nothing(clinic_admin, world):
    from portal.models import SignInLink

    client = Client()
    client.force_login(clinic_admin)
    patient = world.home.patient
    before = SignInLink.objects.filter(patient=patient).count()
    response = client.post(f"/p/staff/send/{patient.uuid}/", {"channel": "email"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/")
    assert SignInLink.objects.filter(patient=patient).count() == before
