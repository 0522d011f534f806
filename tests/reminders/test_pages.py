"""Staff visibility: the messages panel and the outbox, scoped to the user's clinic."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string

from accounts.models import Role
from devtools.outbox import due_reminders
from reminders.models import Channel, Reminder, Status
from reminders.selectors import reminders_for_surgery
from tests.factories import UserFactory
from tests.reminders.helpers import sms_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed(book):
    surgery = book(**sms_fields())
    [row] = due_reminders(surgery, 1, channel=Channel.SMS)
    Reminder.objects.filter(pk=row.pk).update(status=Status.FAILED, attempts=5, last_error="Twilio 500 error -")
    return surgery


def test_outbox_shows_counts_and_failures_to_the_clinic_admin(client, login, clinic_admin, failed):
    login(client, clinic_admin)
    response = client.get("/reminders/outbox/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-status="failed">1<' in html
    assert "Twilio 500 error" in html and failed.patient.last_name in html


def test_outbox_is_not_for_nurses_other_clinics_or_anonymous(client, login, nurse, other_clinic, failed):
    login(client, nurse)
    assert client.get("/reminders/outbox/").status_code == 404
    client.logout()
    assert client.get("/reminders/outbox/").status_code == 302
    outsider_admin = UserFactory(clinic=other_clinic, role=Role.CLINIC_ADMIN, email="admin@eastside.test")
    login(client, outsider_admin)
    response = client.get("/reminders/outbox/")
    assert response.status_code == 200
    html = response.content.decode()
    assert failed.patient.last_name not in html and 'data-status="failed">0<' in html


def test_outbox_query_count_does_not_grow_with_failures(
    client, login, clinic_admin, failed, django_assert_max_num_queries
):
    due_reminders(failed, 30, channel=Channel.EMAIL, prefix="more")
    Reminder.objects.filter(surgery=failed).update(status=Status.FAILED)
    login(client, clinic_admin)
    # 7: the page now writes its access-log row (it shows names and record numbers), one INSERT.
    with django_assert_max_num_queries(7):
        assert client.get("/reminders/outbox/").status_code == 200


def test_panel_lists_each_reminder_in_one_query(failed, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = reminders_for_surgery(surgery=failed)
    html = render_to_string("reminders/_messages_panel.html", {"reminders": rows})
    assert "Failed" in html and "Twilio 500 error" in html and "SMS" in html
    assert len(rows) == Reminder.objects.filter(surgery=failed).count()
    first = rows[0]
    assert first.due_local.tzinfo is not None and str(first.due_local.tzinfo) == "America/Los_Angeles"
