"""The nurse digest: one email per nurse per clinic-local morning, whatever beat does."""

from __future__ import annotations

import pytest
import time_machine

from reminders.models import NurseDigest
from reminders.services import nurse_digests_send
from tests.factories import UserFactory, aware

pytestmark = pytest.mark.django_db


def test_one_digest_per_nurse_per_day_listing_surgeries_at_risk(book, nurse, clinic, providers):
    second = UserFactory(clinic=clinic, email="nurse2@westside.test")
    with time_machine.travel(aware("2026-02-02T06:00"), tick=False):
        # Tomorrow morning: inside the go/no-go window with required items open.
        surgery = book(start_at=aware("2026-02-03T08:00"), anaesthesia="local")
        book(start_at=aware("2026-03-20T08:00"), anaesthesia="local", mrn="LATER")
        assert nurse_digests_send() == 0, "before the clinic's digest hour (07:00)"
    with time_machine.travel(aware("2026-02-02T07:05"), tick=True):
        assert nurse_digests_send() == 2
        assert nurse_digests_send() == 0, "beat running twice sends nothing more"
    with time_machine.travel(aware("2026-02-02T23:30"), tick=True):
        assert nurse_digests_send() == 0
    messages = providers.smtp.messages
    assert sorted(m["To"] for m in messages) == sorted([nurse.email, second.email])
    text = messages[0].get_body(("plain",)).get_content()
    assert surgery.patient.last_name in text and "At risk" in text and "Overdue: Blood group" in text
    assert "LATER" not in text
    assert NurseDigest.objects.filter(local_date="2026-02-02").count() == 2
    with time_machine.travel(aware("2026-02-03T07:01"), tick=True):
        assert nurse_digests_send() == 2, "the next local day has its own digest"
