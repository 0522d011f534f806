"""Done-when 2: two dispatchers at once on PostgreSQL, 0 duplicates over 1,000 reminders (issue 15:
and never two texts with the same words to one number, whichever process holds them).

Two real processes run ``dispatch_reminders --once`` concurrently against the same rows; the
claim (``FOR UPDATE SKIP LOCKED`` + conditional UPDATE) must hand each row to exactly one.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter

import pytest

from devtools.outbox import due_reminders, open_all_hours
from devtools.processes import subprocess_env
from devtools.standins import provider_env
from reminders.models import Channel, Reminder, Status
from tests.factories import in_days
from tests.reminders.helpers import sms_fields
from tests.services import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_two_dispatchers_at_once_send_each_of_1000_reminders_once(book, clinic, smtp_server, sms_server):
    open_all_hours(clinic)
    rows = []
    for n in range(4):
        surgery = book(start_at=in_days(20), anaesthesia="local", **sms_fields(n))
        rows += due_reminders(surgery, 250, channel=Channel.EMAIL if n % 2 else Channel.SMS, prefix="two")
    assert len(rows) == 1000
    env = subprocess_env(**provider_env(smtp_server, sms_server), REMINDERS_BATCH_SIZE="20")
    command = [sys.executable, "manage.py", "dispatch_reminders", "--once"]
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outputs]
    sent = [int(re.search(r"sent=(\d+)", out).group(1)) for out, _ in outputs]
    # Every email, and one text per patient: the 250 texts of a patient have the same words (one
    # item), and the second copy of a text never goes, even with both dispatchers on it at once.
    assert sum(sent) == 502, outputs

    email_counts = Counter(smtp_server.handler.reminder_ids())
    sms_counts = Counter(sms_server.references())
    assert len(email_counts) == 500 and set(email_counts.values()) == {1}
    assert len(sms_counts) == 2 and set(sms_counts.values()) == {1}
    assert Counter(m["to"] for m in sms_server.messages) == {"+13105550000": 1, "+13105550002": 1}
    two = Reminder.objects.filter(key__startswith="two")
    assert two.filter(status=Status.SENT).count() == 502
    assert two.filter(status=Status.CANCELLED, status_reason="The same text went to this number today").count() == 498
    assert two.filter(attempts=1).count() == 1000, "no row claimed twice"
