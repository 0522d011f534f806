"""Done-when 1: 500 due reminders, the worker SIGKILLed mid-batch and started again: every one is
received exactly once (by Reminder-Id at the SMTP server, by reminder at the SMS server).

The kills are placed where they hurt most yet remain decidable: first the pool process, right
after the SMS server recorded a text and before it answered (our commit never happens; the task is
redelivered with the same claim token and must find the text at the provider, not send it again);
then the whole worker while the SMTP server holds an email before accepting it (never accepted:
after the lease it must be sent again). The one window no SMTP client can close (the
server accepted, our commit lost) is covered in tests/reminders/test_dispatch.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter

import pytest

from devtools.outbox import due_reminders, open_all_hours
from devtools.processes import celery_worker, wait_for
from devtools.standins import provider_env
from reminders.models import Channel, Reminder, Status
from tests.factories import in_days
from tests.reliability.procs import celery_beat, kill_group
from tests.reminders.helpers import sms_fields

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True), pytest.mark.slow]

SETTINGS_ENV = {"REMINDERS_DISPATCH_INTERVAL": "1", "REMINDERS_LEASE_SECONDS": "5", "REMINDERS_BATCH_SIZE": "50"}


def pool_children(worker) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def make_500(book, clinic) -> tuple[list[Reminder], list[Reminder]]:
    open_all_hours(clinic)
    emails, texts = [], []
    for n in range(100):
        surgery = book(start_at=in_days(20), anaesthesia="local", **sms_fields(n))
        emails += due_reminders(surgery, 3, channel=Channel.EMAIL, prefix="kill")
        # Two texts per patient about different items: different words, so reconciliation can tell them apart.
        texts += due_reminders(surgery, 1, channel=Channel.SMS, prefix="kill-a")
        texts += due_reminders(surgery, 1, channel=Channel.SMS, code="arrival", prefix="kill-b")
    return emails, texts


def test_worker_killed_mid_batch_every_reminder_received_exactly_once(book, clinic, smtp_server, sms_server, redis_url):
    emails, texts = make_500(book, clinic)
    assert len(emails) + len(texts) == 500
    env = {**provider_env(smtp_server, sms_server), **SETTINGS_ENV}
    current: dict = {}
    killed = {"sms": False, "smtp": False}

    def kill_after_sms_recorded(message):
        if not killed["sms"] and len(sms_server.messages) == 60:
            killed["sms"] = True
            # Only the pool process that is sending: the worker requeues its task (acks_late,
            # reject_on_worker_lost) and runs it again at once with the same claim token.
            for child in pool_children(current["worker"]):
                os.kill(child, signal.SIGKILL)

    def kill_before_smtp_accepts(message):
        if killed["sms"] and not killed["smtp"] and len(smtp_server.messages) == 150:
            killed["smtp"] = True
            kill_group(current["worker"], signal.SIGKILL)
            return False
        return True

    sms_server.after_record = kill_after_sms_recorded
    smtp_server.handler.before_accept = kill_before_smtp_accepts
    all_sent = lambda: Reminder.objects.filter(key__startswith="kill", status=Status.SENT).count() == 500  # noqa: E731
    with celery_beat(broker_url=redis_url, extra_env=env):
        with celery_worker(broker_url=redis_url, concurrency=1, extra_env=env, name="kill1") as worker:
            current["worker"] = worker
            wait_for(lambda: killed["sms"], timeout=120, what="the first kill (after an SMS was recorded)")
            wait_for(lambda: killed["smtp"], timeout=120, what="the second kill (before an email was accepted)")
            worker.wait(timeout=15)
        with celery_worker(broker_url=redis_url, concurrency=2, extra_env=env, name="kill3"):
            wait_for(all_sent, timeout=180, interval=0.5, what="all 500 reminders sent")

    email_counts = Counter(smtp_server.handler.reminder_ids())
    assert set(email_counts) == {str(r.uuid) for r in emails}
    assert set(email_counts.values()) == {1}, "every email received exactly once"
    sms_counts = Counter(sms_server.references())
    assert set(sms_counts) == {str(r.uuid) for r in texts}
    assert set(sms_counts.values()) == {1}, "every text received exactly once"
    rows = Reminder.objects.filter(key__startswith="kill")
    assert rows.filter(status_reason="Found at the provider after an interrupted send").count() >= 1
    for row in rows.filter(channel=Channel.SMS):
        assert row.provider_id.startswith("SM")
