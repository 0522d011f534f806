"""Claim and send against a real SMTP server and a Twilio-like HTTP server (no mocks of our code)."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction

from actions.booking import surgery_update
from devtools.outbox import due_reminders, open_all_hours
from reminders.models import Channel, Reminder, Status
from reminders.services import reminder_send, reminders_claim, reminders_run_once
from tests.factories import aware
from tests.reminders.helpers import sms_fields

pytestmark = pytest.mark.django_db

START = aware("2026-02-20T09:00")  # tests due 13 Feb 09:00; 72 h reminder 10 Feb 09:00


@pytest.fixture
def surgery(book):
    with time_machine.travel(aware("2026-02-02T10:00"), tick=False):
        return book(start_at=START, anaesthesia="local", **sms_fields())


def first_row(surgery, channel) -> Reminder:
    return Reminder.objects.filter(surgery=surgery, channel=channel).order_by("due_at").first()


def run(at: str):
    with time_machine.travel(aware(at), tick=True):
        return reminders_run_once()


def test_once_sends_due_email_and_sms_with_their_ids(providers, surgery):
    out = StringIO()
    with time_machine.travel(aware("2026-02-10T09:00:30"), tick=True):
        call_command("dispatch_reminders", "--once", stdout=out)
    assert out.getvalue().startswith("sent=2 failed=0 expired=0 skipped=0")
    email = Reminder.objects.get(surgery=surgery, channel=Channel.EMAIL, status=Status.SENT)
    sms = Reminder.objects.get(surgery=surgery, channel=Channel.SMS, status=Status.SENT)
    assert providers.smtp.handler.reminder_ids() == [str(email.uuid)]
    message = providers.smtp.messages[0]
    assert message["To"] == surgery.patient.email and "Westside Spine Center" in message["Subject"]
    assert message["Message-ID"] == email.provider_id
    html = message.get_body(("html",)).get_content()
    assert "https://preop.example.org/p/" in html and "token" not in html.lower()
    assert providers.sms.references() == [str(sms.uuid)]
    assert providers.sms.messages[0]["sid"] == sms.provider_id and sms.body == providers.sms.messages[0]["body"]
    assert providers.sms.messages[0]["to"] == surgery.patient.mobile
    assert run("2026-02-10T09:01").sent == 0, "nothing is sent twice"


def test_a_task_delivered_twice_sends_once(providers, surgery):
    with time_machine.travel(aware("2026-02-10T09:00:30"), tick=True):
        with transaction.atomic():
            claimed = reminders_claim()
        assert len(claimed) == 2
        outcomes = [reminder_send(reminder_id=pk, token=t).status for pk, t in claimed + claimed]
    assert outcomes == ["sent", "sent", "stale", "stale"]
    assert len(providers.smtp.messages) == 1 and len(providers.sms.messages) == 1


def test_reschedule_while_pending_sends_nothing_stale(providers, surgery, nurse):
    with time_machine.travel(aware("2026-02-09T10:00"), tick=True):
        surgery_update(surgery=surgery, by=nurse, start_at=aware("2026-03-06T09:00"), reason="moved")
    counts = run("2026-02-10T09:00:30")
    assert counts.sent == 0
    assert providers.smtp.messages == [] and providers.sms.messages == []


def test_reschedule_while_claimed_but_not_sent_sends_nothing_stale(providers, surgery, nurse):
    with time_machine.travel(aware("2026-02-10T09:00:30"), tick=True):
        with transaction.atomic():
            claimed = reminders_claim()
        surgery_update(surgery=surgery, by=nurse, start_at=aware("2026-03-06T09:00"), reason="moved")
        outcomes = {reminder_send(reminder_id=pk, token=t).status for pk, t in claimed}
    assert outcomes == {"stale"}  # the planner cancelled the claimed rows in the reschedule's transaction
    assert providers.smtp.messages == [] and providers.sms.messages == []
    assert set(Reminder.objects.filter(pk__in=[pk for pk, _ in claimed]).values_list("status", flat=True)) == {
        Status.CANCELLED
    }


def test_send_step_rechecks_the_surgery_version_itself(providers, surgery, nurse):
    with time_machine.travel(aware("2026-02-10T09:00:30"), tick=True):
        with transaction.atomic():
            claimed = reminders_claim()
        # A version bump the planner did not see (e.g. a change made outside the services).
        type(surgery).objects.filter(pk=surgery.pk).update(version=7)
        outcomes = {reminder_send(reminder_id=pk, token=t).status for pk, t in claimed}
    assert outcomes == {Status.CANCELLED}
    assert providers.smtp.messages == [] and providers.sms.messages == []


def test_cancel_while_claimed_sends_nothing(providers, surgery, nurse):
    from actions.booking import surgery_cancel

    with time_machine.travel(aware("2026-02-10T09:00:30"), tick=True):
        with transaction.atomic():
            claimed = reminders_claim()
        surgery_cancel(surgery=surgery, by=nurse, reason="unwell")
        assert {reminder_send(reminder_id=pk, token=t).status for pk, t in claimed} == {"stale"}
    assert providers.smtp.messages == [] and providers.sms.messages == []


def test_sms_server_500_retries_with_backoff_then_fails_visibly(providers, surgery, settings):
    settings.REMINDERS_MAX_ATTEMPTS = 3
    providers.sms.fail_500 = 10
    Reminder.objects.filter(surgery=surgery, channel=Channel.EMAIL).update(status=Status.CANCELLED)
    first = run("2026-02-10T09:00:30")
    row = Reminder.objects.get(surgery=surgery, channel=Channel.SMS, status=Status.PENDING, attempts=1)
    assert first.retrying == 1 and "500" in row.last_error
    assert dt.timedelta(seconds=59) < row.next_attempt_at - aware("2026-02-10T09:00:30") < dt.timedelta(seconds=62)
    assert run("2026-02-10T09:01:00").sent == 0, "not before its retry time"
    run("2026-02-10T09:02:00")
    row.refresh_from_db()
    assert row.attempts == 2 and row.status == Status.PENDING
    run("2026-02-10T09:05:00")
    row.refresh_from_db()
    assert row.status == Status.FAILED and row.status_reason == "Gave up after 3 attempts"
    assert providers.sms.messages == []


def test_sms_timeout_is_reconciled_not_resent(providers, surgery):
    providers.sms.timeouts = 1  # the server records the text, then answers too late
    first = run("2026-02-10T09:00:30")
    row = first_row(surgery, Channel.SMS)
    assert first.retrying == 1 and row.status == Status.PENDING and row.needs_reconcile
    assert "timed out" in row.last_error
    run("2026-02-10T09:03:00")
    row.refresh_from_db()
    assert row.status == Status.SENT and row.status_reason == "Found at the provider after an interrupted send"
    assert len(providers.sms.messages) == 1 and row.provider_id == providers.sms.messages[0]["sid"]


def test_error_21610_fails_at_once_and_stops_texts(providers, surgery):
    providers.sms.opted_out.add(surgery.patient.mobile)
    run("2026-02-10T09:00:30")
    row = Reminder.objects.get(surgery=surgery, channel=Channel.SMS, status=Status.FAILED)
    assert row.attempts == 1 and "21610" in row.last_error and row.status_reason.startswith("Permanent")
    surgery.patient.refresh_from_db()
    assert surgery.patient.sms_opted_out_at is not None
    run("2026-02-12T09:00:30")
    later = Reminder.objects.filter(surgery=surgery, channel=Channel.SMS).exclude(pk=row.pk)
    assert set(later.values_list("status", flat=True)) <= {Status.SUPPRESSED, Status.PENDING}
    assert Status.SUPPRESSED in set(later.values_list("status", flat=True))


@pytest.mark.parametrize(
    ("answer", "status"), [("451 4.3.0 Try again later", Status.PENDING), ("554 5.7.1 Rejected", Status.FAILED)]
)
def test_smtp_4xx_retries_and_5xx_fails(providers, surgery, answer, status):
    providers.smtp.handler.fail.append(answer)
    run("2026-02-10T09:00:30")
    row = first_row(surgery, Channel.EMAIL)
    assert row.status == status and row.last_error.startswith(f"SMTP {answer[:3]}")
    if status == Status.PENDING:
        run("2026-02-10T09:02:00")
        row.refresh_from_db()
        assert row.status == Status.SENT and len(providers.smtp.messages) == 1


def test_smtp_rejected_recipient_fails_at_once(providers, surgery):
    providers.smtp.handler.reject_rcpt[surgery.patient.email] = "550 5.1.1 No such user"
    run("2026-02-10T09:00:30")
    row = first_row(surgery, Channel.EMAIL)
    assert row.status == Status.FAILED and "550" in row.last_error and row.attempts == 1


def test_smtp_server_down_is_temporary(providers, surgery, settings):
    from devtools.processes import free_port

    settings.EMAIL_PORT = free_port()  # nothing listens there
    run("2026-02-10T09:00:30")
    row = first_row(surgery, Channel.EMAIL)
    assert row.status == Status.PENDING and "unreachable" in row.last_error and row.attempts == 1


def test_quiet_hours_at_send_time_postpone_without_counting_an_attempt(providers, surgery):
    [row] = due_reminders(surgery, 1, due_at=aware("2026-02-10T22:00"))
    run("2026-02-10T22:00:30")
    row.refresh_from_db()
    assert row.status == Status.PENDING and row.attempts == 0 and row.status_reason == "Quiet hours"
    assert row.next_attempt_at == aware("2026-02-11T08:00")


def test_deadline_passed_expires_instead_of_sending(providers, surgery):
    [row] = due_reminders(surgery, 1, due_at=aware("2026-02-13T08:00"))
    counts = run("2026-02-13T10:00")  # the tests were due at 09:00
    row.refresh_from_db()
    assert row.status == Status.EXPIRED and counts.expired >= 1 and providers.smtp.messages == []


def test_daily_sms_limit_at_send_time(providers, surgery):
    Reminder.objects.filter(surgery=surgery).update(status=Status.CANCELLED)
    # Two items with different times: different words (two texts with the same words never both go).
    (first,) = due_reminders(surgery, 1, channel=Channel.SMS, due_at=aware("2026-02-10T10:00"))
    (second,) = due_reminders(surgery, 1, channel=Channel.SMS, code="arrival", prefix="b", due_at=first.due_at)
    run("2026-02-10T10:00:30")
    statuses = sorted(Reminder.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", "status_reason"))
    assert statuses == [(Status.PENDING, "Daily text limit reached"), (Status.SENT, "")]
    postponed = Reminder.objects.get(pk__in=[first.pk, second.pk], status=Status.PENDING)
    assert postponed.next_attempt_at == aware("2026-02-11T08:00")
    assert len(providers.sms.messages) == 1


class Killed(BaseException):
    """The worker dies: nothing of ours runs after it (not even ``except Exception``)."""


def _send_and_die_before_the_record(pk: int, token: str) -> None:
    """The provider accepts, then the worker dies before the one statement that records it.

    The hand-over mark, committed before the provider was called, stays.
    """
    from reminders.transports import email_transport, sms_transport

    sms, email = sms_transport(), email_transport()

    class DieAfterSms:
        find = sms.find

        def send(self, **kwargs: str) -> str:
            sms.send(**kwargs)
            raise Killed

    class DieAfterEmail:
        def send(self, message) -> str:
            email.send(message)
            raise Killed

    with pytest.raises(Killed):
        reminder_send(reminder_id=pk, token=token, sms=DieAfterSms(), email=DieAfterEmail())


def test_expired_lease_sms_is_reconciled_with_the_provider(providers, surgery, settings):
    settings.REMINDERS_LEASE_SECONDS = 60
    with time_machine.travel(aware("2026-02-10T09:00:30"), tick=True):
        with transaction.atomic():
            claimed = reminders_claim()
        for pk, token in claimed:
            _send_and_die_before_the_record(pk, token)
    assert len(providers.sms.messages) == 1 and len(providers.smtp.messages) == 1
    assert set(Reminder.objects.filter(surgery=surgery).filter(status=Status.SENDING).values_list("channel", flat=True))
    assert run("2026-02-10T09:01:00").sent == 0, "the lease has not run out yet"
    run("2026-02-10T09:02:00")
    sms = Reminder.objects.get(surgery=surgery, channel=Channel.SMS, status=Status.SENT)
    assert sms.status_reason == "Found at the provider after an interrupted send"
    assert len(providers.sms.messages) == 1, "the provider had it: not sent again"
    # SMTP cannot be asked: the email goes again, with the same Message-ID and Reminder-Id (the
    # documented residual window) so that receiving systems can drop it.
    assert len(providers.smtp.messages) == 2
    assert len({m["Message-ID"] for m in providers.smtp.messages}) == 1
    assert len(set(providers.smtp.handler.reminder_ids())) == 1
    email = Reminder.objects.get(surgery=surgery, channel=Channel.EMAIL, status=Status.SENT)
    assert email.resends == 1, "the resend is counted"
    assert sms.resends == 0 and sms.provider_id == providers.sms.messages[0]["sid"]


def test_expired_lease_never_sent_is_sent_once(providers, surgery, settings):
    settings.REMINDERS_LEASE_SECONDS = 60
    with time_machine.travel(aware("2026-02-10T09:00:30"), tick=True), transaction.atomic():
        reminders_claim()  # the tasks are lost (broker restarted empty)
    run("2026-02-10T09:02:00")
    assert len(providers.sms.messages) == 1 and len(providers.smtp.messages) == 1
    assert Reminder.objects.filter(surgery=surgery, status=Status.SENT).count() == 2


def test_claim_reads_only_due_rows(providers, surgery, django_assert_max_num_queries):
    open_all_hours(surgery.patient.clinic)
    due_reminders(surgery, 3, due_at=aware("2026-02-10T09:00"), prefix="due")
    due_reminders(surgery, 50, due_at=aware("2026-02-12T09:00"), prefix="later")
    with (
        time_machine.travel(aware("2026-02-10T09:00:30"), tick=False),
        django_assert_max_num_queries(5),  # 2 claims, the tokens, a savepoint
        transaction.atomic(),
    ):
        claimed = reminders_claim()
    # The 3 rows plus the planner's two (email and text) due at 09:00.
    assert len(claimed) == 5
    assert Reminder.objects.filter(status=Status.SENDING).count() == 5
