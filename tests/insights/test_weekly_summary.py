"""The weekly summary email to clinic admins: the three headline figures, once per admin and week."""

from __future__ import annotations

import pytest
import time_machine

from insights.models import WeeklySummary
from insights.services import weekly_summaries_send
from tests.factories import UserFactory, aware

pytestmark = pytest.mark.django_db


def test_monday_from_the_digest_hour_once_per_admin_with_the_headline(history, clinic_admin, nurse, providers):
    second_admin = UserFactory(clinic=history.clinic, role="clinic_admin", email="admin2@westside.test")
    # Monday 23 March: the summary of the week of 16 March (C cancelled for tests; D's 72 h caught up late).
    with time_machine.travel(aware("2026-03-23T06:30"), tick=False):
        assert weekly_summaries_send() == 1, "Sydney's admin: already past 07:00 on Monday there"
    with time_machine.travel(aware("2026-03-23T07:05"), tick=True):
        assert weekly_summaries_send() == 2
        assert weekly_summaries_send() == 0, "beat running twice sends nothing more"
    with time_machine.travel(aware("2026-03-26T12:00"), tick=True):
        assert weekly_summaries_send() == 0, "later in the same week: nothing more"
    messages = {m["To"]: m for m in providers.smtp.messages}
    assert set(messages) == {clinic_admin.email, second_admin.email, history.sydney_admin.email}
    assert nurse.email not in messages
    mail = messages[clinic_admin.email]
    assert mail["Subject"] == "Westside Spine Center, week of 16 Mar: 0% ready 72 h before, 1 lost to preparation"
    text = mail.get_body(("plain",)).get_content()
    assert "Ready 72 hours before: 0% (0 of 2 surgeries)" in text
    assert "Cancelled, No go or postponed for a preparation reason: 1 of 2 surgeries" in text
    assert "Reminders that reached the patient: — (0 of 0 due)" in text
    assert "https://preop.example.org/dashboard/?start=2026-03-16&end=2026-03-16" in text
    html = mail.get_body(("html",)).get_content()
    assert "<strong>0%</strong>" in html
    for s in (history.a, history.b, history.c, history.d):
        assert s.patient.last_name not in text and s.patient.last_name not in html
    sydney = messages[history.sydney_admin.email].get_body(("plain",)).get_content()
    assert "Ready 72 hours before: 100% (1 of 1 surgeries)" in sydney
    assert WeeklySummary.objects.filter(status="sent").count() == 3
    with time_machine.travel(aware("2026-03-30T08:00"), tick=True):
        assert weekly_summaries_send() == 3, "the next week has its own"


def test_a_failed_send_is_recorded_and_not_retried(history, clinic_admin, settings, providers):
    settings.EMAIL_PORT = 1  # nothing listens there
    with time_machine.travel(aware("2026-03-23T08:00"), tick=True):
        assert weekly_summaries_send() == 0
        assert weekly_summaries_send() == 0
    assert set(WeeklySummary.objects.values_list("status", flat=True)) == {"failed"}
    assert WeeklySummary.objects.get(recipient=clinic_admin).last_error
