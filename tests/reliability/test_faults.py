"""Issue 15, done-when 1: the outbox tells the truth under faults, with real processes.

Real Celery beat and prefork workers started with the production settings (``config.settings``,
``DEBUG=0``), a redis-server of the test's own, PostgreSQL (or SQLite), the SMTP server (aiosmtpd)
and the Twilio-like HTTP server running in this process. Each finding of the issue's fault run is
reproduced:

1. several items due together for one patient (five tests due at once, a daily limit of three
   texts): before, several texts with the same words went to one number and reconciliation could
   credit one text to several reminders;
2. the broker restarted empty while every due reminder was claimed and queued: before, the claims
   waited for their lease (300 s); now every one is sent within 60 s of the broker's return;
3. SIGKILL in the send window: a pool process killed after the SMS server recorded a text and
   before it answered, then the whole worker killed after the SMTP server took an email and before
   it answered;
4. a cancel, a reschedule and a STOP while reminders are claimed;
5. children whose reminders go to a parent (issue 22), in each run: one delivered to the mother,
   one whose mother replies STOP while claimed, one whose mother's number the carrier refuses
   (21610) and one whose mother's address the SMTP server refuses (550). A child's own contact
   receives nothing, a failure opts out or fails the parent's row only, and the counts stay exact.

It then checks the outbox against what the providers hold, row by row: 0 lost, 0 credited twice,
0 stale, no two texts with the same words to one number, every resent email counted.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections import Counter

import pytest
from django.utils import timezone

from actions.booking import surgery_cancel, surgery_update
from devtools.outbox import open_all_hours
from devtools.processes import OwnRedis, celery_worker, wait_for
from devtools.standins import provider_env
from reminders.models import Channel, Reminder, Status
from reminders.services import sms_inbound_record
from tests import services
from tests.reliability.procs import celery_beat, kill_group
from tests.reminders.helpers import sms_fields

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Production settings for every process started here; only the intervals are shortened so that
# the test stays short (a 10 s lease instead of 30 s; the dispatcher every second).
ENV = {"DEBUG": "0", "REMINDERS_DISPATCH_INTERVAL": "1", "REMINDERS_LEASE_SECONDS": "10", "LOG_LEVEL": "WARNING"}
BROKER_RETURN_LIMIT = 60  # seconds: every stranded claim is sent within this of the broker's return


@pytest.fixture
def own_redis():

    server = OwnRedis().start()
    with services.celery_broker(server.url):  # this process dispatches once, into the same broker
        yield server
    server.stop()


def pool_children(worker: subprocess.Popen) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def book_late(book, n: int, *, prefix: int, children: tuple[int, ...] = (), nurse=None) -> list:
    """Patients booked 7.5 days ahead: the five tests are due in 12 h, so their reminders (72 h and
    24 h before) are due now, all five at once, by email and by text. Those at ``children`` are
    8-year-olds (with their own email and mobile) whose mother receives the same reminders."""
    start = timezone.now() + dt.timedelta(days=7, hours=12)
    booked = []
    for i in range(n):
        if i in children:
            child = child_with_mother(prefix + i, clinic=nurse.clinic, nurse=nurse)
            booked.append(book(start_at=start, anaesthesia="local", patient=child))
        else:
            booked.append(book(start_at=start, anaesthesia="local", **sms_fields(prefix + i)))
    return booked


def child_with_mother(n: int, *, clinic, nurse):
    from actions.patients import guardian_add, patient_create

    child = patient_create(
        clinic=clinic,
        by=nurse,
        mrn=f"KID-{n}",
        first_name="Maria",
        last_name=f"Child{n}",
        birth_date=timezone.localdate().replace(year=timezone.localdate().year - 8, day=1),
        email=f"kid{n}@example.org",
        **sms_fields(n),
    )
    guardian_add(
        patient=child,
        by=nurse,
        first_name="Ana",
        last_name=f"Mother{n}",
        relationship="mother",
        birth_year=1985,
        language="es",
        email=mother_email(n),
        mobile=mother_mobile(n),
        channel_sms=True,
        sms_consent=True,
    )
    return child


def mother_email(n: int) -> str:
    return f"mother{n}@example.org"


def mother_mobile(n: int) -> str:
    return f"+1310555{8000 + n:04d}"


def due_now(surgeries) -> list[Reminder]:
    """Their reminders due now, whatever has happened to them since (a worker may be sending)."""
    return list(Reminder.objects.filter(surgery__in=surgeries, due_at__lte=timezone.now() + dt.timedelta(seconds=5)))


def settled(rows) -> bool:
    return not Reminder.objects.filter(
        pk__in=[r.pk for r in rows], status__in=(Status.PENDING, Status.SENDING)
    ).exists()


def test_faults_leave_the_outbox_and_the_providers_in_agreement(
    book, clinic, nurse, smtp_server, sms_server, own_redis
):
    from reminders.tasks import dispatch_reminders

    open_all_hours(clinic, sms_daily_limit=3)
    env = {**provider_env(smtp_server, sms_server), **ENV}

    # --- 1 and 2: several items due together; claimed, then the broker restarted empty ---------------
    first = book_late(book, 10, prefix=0, children=(3, 4), nurse=nurse)
    rows_1 = due_now(first)
    texts = [r for r in rows_1 if r.channel == Channel.SMS]
    # Per patient: one email for the five tests, one for the health questions (a task, issue 20), and
    # one text covering all six.
    assert len(texts) == 10 and all(len(r.covers) == 6 for r in texts), "six items due together: one text"
    assert len(rows_1) == 30
    dispatch_reminders()  # the beat task's body: claims every due row and queues its send tasks
    assert Reminder.objects.filter(pk__in=[r.pk for r in rows_1], status=Status.SENDING).count() == 30
    # While claimed: a cancel, a reschedule (to a date whose reminders are not due yet) and a STOP.
    cancelled, moved, stopped = first[0], first[1], first[2]
    surgery_cancel(surgery=cancelled, by=nurse, reason="unwell")
    surgery_update(surgery=moved, by=nurse, start_at=moved.start_at + dt.timedelta(days=3), reason="moved")
    sms_inbound_record(from_number=stopped.patient.mobile, body="STOP", message_sid="SMstop1")
    # A mother replies STOP: her texts stop, her emails go; her child's own contact gets nothing either way.
    stopped_mother = first[4].patient.guardians.get()
    sms_inbound_record(from_number=stopped_mother.mobile, body="STOP", message_sid="SMstop2")
    own_redis.stop()
    back = OwnRedis(port=own_redis.port).start()  # the same broker address, empty
    returned_at = time.monotonic()
    try:
        with (
            celery_beat(broker_url=back.url, extra_env=env),
            celery_worker(
                broker_url=back.url, concurrency=2, extra_env=env, name="faults1", loglevel="WARNING"
            ) as worker,
        ):
            wait_for(
                lambda: settled(rows_1),
                timeout=BROKER_RETURN_LIMIT,
                interval=0.3,
                what=f"every stranded claim settled within {BROKER_RETURN_LIMIT} s of the broker's return",
            )
            recovered_in = time.monotonic() - returned_at

            # --- 3: SIGKILL in the send window ------------------------------------------------------
            killed = {"pool": False, "worker": False}
            sms_before, smtp_before = len(sms_server.messages), len(smtp_server.handler.raw)

            def kill_pool_after_a_text(message: dict) -> None:
                if not killed["pool"] and len(sms_server.messages) > sms_before:
                    killed["pool"] = True
                    for child in pool_children(worker):
                        os.kill(child, signal.SIGKILL)

            def kill_worker_after_an_email(content: bytes) -> None:
                if killed["pool"] and not killed["worker"] and len(smtp_server.handler.raw) > smtp_before:
                    killed["worker"] = True
                    kill_group(worker, signal.SIGKILL)

            sms_server.after_record = kill_pool_after_a_text
            smtp_server.handler.after_accept = kill_worker_after_an_email
            # Two more children: the carrier refuses the first mother's number (21610, she replied
            # STOP to the carrier), the SMTP server refuses the second mother's address (550).
            sms_server.opted_out.add(mother_mobile(100))
            smtp_server.handler.reject_rcpt[mother_email(101)] = "550 5.1.1 No such user"
            second = book_late(book, 10, prefix=100, children=(0, 1), nurse=nurse)
            rows_2 = due_now(second)
            assert len(rows_2) == 30
            wait_for(lambda: killed["worker"], timeout=60, what="both kills")
            worker.wait(timeout=15)
        with (
            celery_beat(broker_url=back.url, extra_env=env),
            celery_worker(broker_url=back.url, concurrency=2, extra_env=env, name="faults2", loglevel="WARNING"),
        ):
            wait_for(lambda: settled(rows_2), timeout=60, interval=0.3, what="every reminder settled after the kills")
    finally:
        back.stop()

    # --- The outbox and the providers agree, row by row --------------------------------------------
    rows = {r.pk: r for r in Reminder.objects.filter(pk__in=[r.pk for r in rows_1 + rows_2])}
    unwanted = {r.pk for r in rows.values() if r.surgery_id in (cancelled.pk, moved.pk)}
    unwanted |= {r.pk for r in rows.values() if r.patient_id == stopped.patient_id and r.channel == Channel.SMS}
    unwanted |= {r.pk for r in rows.values() if r.guardian_id == stopped_mother.pk and r.channel == Channel.SMS}
    refused_sms = {r.pk for r in rows.values() if r.surgery_id == second[0].pk and r.channel == Channel.SMS}
    refused_email = {r.pk for r in rows.values() if r.surgery_id == second[1].pk and r.channel == Channel.EMAIL}
    # Exact: one text for the six items of the first refused child, two emails (tests, health
    # questions) for the second.
    assert (len(refused_sms), len(refused_email)) == (1, 2)
    wanted = set(rows) - unwanted - refused_sms - refused_email
    sent = {pk for pk, r in rows.items() if r.status == Status.SENT}
    assert sent == wanted, "0 lost: every wanted reminder sent, nothing else"
    assert {rows[pk].status for pk in unwanted} <= {Status.CANCELLED, Status.SUPPRESSED}
    assert {rows[pk].status for pk in refused_email} == {Status.FAILED}
    assert all(rows[pk].status_reason.startswith("Permanent") for pk in refused_email)
    # The refused text is FAILED (the carrier's 21610). A number already recorded as refusing texts
    # when its row is claimed again (after the kills above) is suppressed as opted out instead: also
    # settled, with no text reaching the number.
    for pk in refused_sms:
        row = rows[pk]
        assert (row.status, row.status_reason.startswith("Permanent")) == (Status.FAILED, True) or (
            row.status == Status.SUPPRESSED and "opted out" in row.status_reason
        ), (row.status, row.status_reason)
    assert len(unwanted) == 3 + 3 + 1 + 1, "cancelled 3, moved 3, the patient's and the mother's STOP 1 each"

    # --- Children: every row of theirs went to their mother, none to the child --------------------------
    children = [first[3], first[4], second[0], second[1]]
    child_rows = [r for r in rows.values() if r.surgery_id in {c.pk for c in children}]
    assert len(child_rows) == 12 and all(r.guardian_id is not None for r in child_rows)
    child_contacts = {c.patient.email for c in children} | {c.patient.mobile for c in children}
    assert not child_contacts & {m["to"] for m in sms_server.messages}
    assert not child_contacts & {m["To"] for m in smtp_server.messages}
    delivered = [r for r in child_rows if r.status == Status.SENT]
    assert len(delivered) == 3 + 2 + 2 + 1, "mother 3: all; STOP: 2 emails; 21610: 2 emails; 550: the text"
    mothers = {c.pk: c.patient.guardians.get() for c in children}
    for row in delivered:
        mother = mothers[row.surgery_id]
        assert row.recipient == (mother.mobile if row.channel == Channel.SMS else mother.email)
    refused_mother = mothers[second[0].pk]
    refused_mother.refresh_from_db()
    second[0].patient.refresh_from_db()
    assert refused_mother.sms_opted_out_at is not None, "the carrier's STOP is recorded on the mother"
    assert second[0].patient.sms_opted_out_at is None, "...not on her child"

    texts = sms_server.messages
    outbox_texts = {
        (str(r.uuid), r.provider_id) for r in rows.values() if r.channel == Channel.SMS and r.status == Status.SENT
    }
    assert {(m["reference"], m["sid"]) for m in texts} == outbox_texts, (
        "every text is one row's, and every row's text is there"
    )
    assert len(texts) == len(outbox_texts), "no text sent twice"
    provider_ids = [r.provider_id for r in rows.values() if r.provider_id]
    assert len(provider_ids) == len(set(provider_ids)), "0 credited twice"
    assert max(Counter((m["to"], m["body"]) for m in texts).values()) == 1, "never the same words twice to a number"

    copies = Counter(smtp_server.handler.reminder_ids())
    outbox_emails = {str(r.uuid): r for r in rows.values() if r.channel == Channel.EMAIL and r.status == Status.SENT}
    assert set(copies) == set(outbox_emails), "every email is one row's, and every row's email arrived"
    for reference, row in outbox_emails.items():
        # A copy more than one only where a resend after a lost record is counted.
        assert 1 <= copies[reference] <= 1 + row.resends, reference
    assert sum(c - 1 for c in copies.values()) >= 1, "the email taken just before the kill arrived twice"
    assert sum(r.resends for r in outbox_emails.values()) >= 1, "...and its resend is counted"
    message_ids = {}
    for message in smtp_server.messages:
        message_ids.setdefault(message["Reminder-Id"], set()).add(message["Message-ID"])
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert all(len(ids) == 1 for ids in message_ids.values()), "a resend carries the same Message-ID"

    found = [r for r in rows.values() if r.status_reason == "Found at the provider after an interrupted send"]
    assert found, "the text recorded by the SMS server before the pool process died was found, not resent"
    assert recovered_in < BROKER_RETURN_LIMIT
    print(f"stranded claims settled {recovered_in:.1f} s after the broker's return")
