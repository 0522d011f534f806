"""Issue 15: the outbox tells the truth under faults. Each test fails on the code before the fix.

Real SMTP server (aiosmtpd) and Twilio-like HTTP server; a worker's death is a ``BaseException``
raised by a transport wrapper after (or before) the real provider call, so nothing of ours runs
after it, as after a SIGKILL. The fault test with real processes is tests/reliability/test_faults.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from actions.booking import surgery_cancel
from devtools.outbox import due_reminders, open_all_hours
from reminders.models import TRANSITIONS, Channel, Reminder, Status, status_sources, transition_allowed
from reminders.services import (
    reminder_send,
    reminders_claim,
    reminders_hand_back_unstarted,
    reminders_run_once,
    reminders_send,
    sms_inbound_record,
)
from reminders.transports import email_transport, sms_transport
from tests.factories import aware
from tests.reminders.helpers import sms_fields

pytestmark = pytest.mark.django_db

START = aware("2026-02-20T09:00")  # the tests are due 13 Feb 09:00; 72 h reminder 10 Feb 09:00
NOW = "2026-02-10T09:00:30"


class Killed(BaseException):
    """The worker dies here."""


def dying(*, after_provider: bool):
    """Transports that die after the provider accepted (or just before it was called)."""
    sms, email = sms_transport(), email_transport()

    class Sms:
        find = sms.find

        def send(self, **kwargs: str) -> str:
            if after_provider:
                sms.send(**kwargs)
            raise Killed

    class Email:
        def send(self, message) -> str:
            if after_provider:
                email.send(message)
            raise Killed

    return {"sms": Sms(), "email": Email()}


def die_while_sending(pk: int, token: str, *, after_provider: bool = True) -> None:
    with pytest.raises(Killed):
        reminder_send(reminder_id=pk, token=token, **dying(after_provider=after_provider))


def claim_at(at: str) -> list[tuple[int, str]]:
    with time_machine.travel(aware(at), tick=True), transaction.atomic():
        return reminders_claim()


def run(at: str):
    with time_machine.travel(aware(at), tick=True):
        return reminders_run_once()


@pytest.fixture
def surgery(book):
    with time_machine.travel(aware("2026-02-02T10:00"), tick=False):
        surgery = book(start_at=START, anaesthesia="local", **sms_fields())
    Reminder.objects.filter(surgery=surgery).update(status=Status.CANCELLED)  # only the rows a test makes
    return surgery


# --- Statuses only move forward -----------------------------------------------------------------


def test_status_transitions_only_move_forward():
    statuses = [s for s, _ in Status.choices]
    assert set(TRANSITIONS) == set(statuses)
    for old, new in itertools.product(statuses, statuses):
        assert transition_allowed(old, new) == (new in TRANSITIONS[old])
        assert (old in status_sources(new)) == transition_allowed(old, new)
    # Once a provider may hold the message, only the carrier's report moves it.
    assert TRANSITIONS[Status.SENT] == {Status.DELIVERED, Status.FAILED}
    for final in (Status.DELIVERED, Status.FAILED, Status.EXPIRED):
        assert TRANSITIONS[final] == set()
    for unsent in (Status.PENDING, Status.CANCELLED, Status.SUPPRESSED):
        assert not transition_allowed(unsent, Status.SENT), "only a send (a claimed row) records sent"
    assert not transition_allowed(Status.SENT, Status.CANCELLED) and not transition_allowed(Status.SENT, Status.PENDING)


def test_a_late_cancel_never_moves_a_sent_row_back(providers, surgery, nurse):
    due_reminders(surgery, 1, channel=Channel.SMS, due_at=aware("2026-02-10T09:00"))
    assert run(NOW).sent == 1
    with time_machine.travel(aware("2026-02-10T09:05"), tick=True):
        surgery_cancel(surgery=surgery, by=nurse, reason="unwell")
        sms_inbound_record(from_number=surgery.patient.mobile, body="STOP", message_sid="SMin1")
    assert Reminder.objects.get(surgery=surgery, key__startswith="t:").status == Status.SENT


# --- Finding 1: one provider message, one reminder -------------------------------------------------


def test_items_due_together_share_one_text_within_the_daily_limit(book, clinic):
    clinic.sms_daily_limit = 5
    clinic.save()
    with time_machine.travel(aware("2026-02-02T10:00"), tick=False):
        surgery = book(start_at=START, anaesthesia="local", **sms_fields())
    texts = Reminder.objects.filter(surgery=surgery, channel=Channel.SMS)
    tests_day = [r for r in texts if r.due_at == aware("2026-02-10T09:00")]
    # Five blood and imaging tests due together: one text that covers all five, not five texts
    # with the same words (the provider could not tell them apart, nor could the patient).
    assert len(tests_day) == 1 and len(tests_day[0].covers) == 5
    by_day: dict = {}
    for row in texts:
        by_day.setdefault(row.due_at.astimezone(clinic.tz).date(), []).append(row)
    assert all(len(rows) <= clinic.sms_daily_limit for rows in by_day.values())


def test_the_planner_merges_texts_whose_words_would_be_the_same():
    from types import SimpleNamespace

    from reminders.planner import sms_groups

    due = aware("2026-02-13T09:00")
    blood_group = SimpleNamespace(reminder_kind="tests")  # the catalogue entry: its reminders speak of tests
    items = [
        SimpleNamespace(pk=n, code="blood_group", category="tests", template_item=blood_group, due_at=due, sort_order=n)
        for n in range(3)
    ]
    at_9, at_10 = aware("2026-02-12T09:00"), aware("2026-02-12T10:00")
    entries = [(at_9, at_9, due, items[0]), (at_10, at_10, due, items[1])]
    # Same kind, same first time, one item each: the same words, so one message.
    assert [[e[3].pk for e in g] for g in sms_groups(entries, limit=5)] == [[0, 1]]
    entries.append((at_10, at_10, due, items[2]))
    assert len(sms_groups(entries, limit=1)) == 1


def test_a_provider_id_is_unique_in_the_outbox(surgery):
    a, b = due_reminders(surgery, 2, channel=Channel.SMS)
    Reminder.objects.filter(pk=a.pk).update(provider_id="SMsame")
    with pytest.raises(IntegrityError), transaction.atomic():
        Reminder.objects.filter(pk=b.pk).update(provider_id="SMsame")
    Reminder.objects.filter(pk=b.pk).update(provider_id="")  # empty is "none yet", any number of rows


def test_reconciliation_never_credits_a_text_already_credited(providers, surgery, book, settings):
    """Finding 1: two reminders with the same words to one number (two patients of a family share
    it). The first is sent and recorded; the second dies after its hand-over, before the provider.
    Before: the look-up matched the first text for the second too, which was never sent."""
    settings.REMINDERS_LEASE_SECONDS = 60
    with time_machine.travel(aware("2026-02-02T10:00"), tick=False):
        sibling = book(start_at=START, anaesthesia="local", **sms_fields())
    Reminder.objects.filter(surgery=sibling).update(status=Status.CANCELLED)
    [first] = due_reminders(surgery, 1, channel=Channel.SMS, due_at=aware("2026-02-10T09:00"))
    [second] = due_reminders(sibling, 1, channel=Channel.SMS, due_at=aware("2026-02-10T09:00"))
    claimed = dict(claim_at(NOW))
    with time_machine.travel(aware(NOW), tick=True):
        assert reminder_send(reminder_id=first.pk, token=claimed[first.pk]).status == Status.SENT
        die_while_sending(second.pk, claimed[second.pk], after_provider=False)
    assert len(providers.sms.messages) == 1
    run("2026-02-10T09:02:00")  # the lease ran out: reconciled
    first.refresh_from_db()
    second.refresh_from_db()
    texts = providers.sms.messages
    assert len(texts) == 2 and texts[0]["body"] == texts[1]["body"], "the same words, to the same number"
    assert first.provider_id == texts[0]["sid"]
    assert second.status == Status.SENT and second.provider_id == texts[1]["sid"]
    assert second.status_reason == ""


def test_a_second_text_with_the_same_words_is_not_sent_to_a_patient_the_same_day(providers, surgery):
    first, second = due_reminders(surgery, 2, channel=Channel.SMS, due_at=aware("2026-02-10T09:00"))
    run(NOW)
    statuses = sorted(Reminder.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", "status_reason"))
    assert statuses == [(Status.CANCELLED, "The same text went to this number today"), (Status.SENT, "")]
    assert len(providers.sms.messages) == 1


# --- Finding 2: claims recover in seconds ----------------------------------------------------------


def test_the_lease_is_short_and_renewed_by_the_task_at_work(providers, surgery, settings):
    assert settings.REMINDERS_LEASE_SECONDS == 30, "short by default"
    due_reminders(surgery, 2, due_at=aware("2026-02-10T09:00"))
    claimed = claim_at("2026-02-10T09:00:00")
    seen = []
    real = email_transport()

    class Watching:
        def send(self, message) -> str:
            seen.append(Reminder.objects.get(pk=claimed[1][0]).claimed_until)
            return real.send(message)

    # The task starts 25 s after the claim (a queue): it renews its rows' leases first.
    with time_machine.travel(aware("2026-02-10T09:00:25"), tick=False):
        outcomes = reminders_send(reminder_ids=[pk for pk, _ in claimed], token=claimed[0][1], email=Watching())
    assert [o.status for o in outcomes] == ["sent", "sent"]
    assert seen[0] == aware("2026-02-10T09:00:55")


def test_claims_whose_task_never_started_are_handed_back_at_once(providers, surgery, settings):
    settings.REMINDERS_LEASE_SECONDS = 60
    rows = due_reminders(surgery, 3, channel=Channel.EMAIL, due_at=aware("2026-02-10T09:00"))
    claimed = dict(claim_at(NOW))
    with time_machine.travel(aware(NOW), tick=True):
        die_while_sending(rows[0].pk, claimed[rows[0].pk])  # handed over: may be at the server
    with time_machine.travel(aware("2026-02-10T09:00:40"), tick=True):
        assert reminders_hand_back_unstarted() == 2  # the broker came back empty
        # Sent at once, not a lease later; a stale task for them finds its token gone.
        assert reminders_run_once().sent == 2
        assert reminder_send(reminder_id=rows[1].pk, token=claimed[rows[1].pk]).status == "stale"
    assert Reminder.objects.get(pk=rows[0].pk).status == Status.SENDING, "left to its lease"


# --- Finding 3: the email window ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_email_is_marked_before_the_smtp_conversation_and_a_resend_is_counted(
    providers, surgery, settings, client, login, clinic_admin
):
    settings.REMINDERS_LEASE_SECONDS = 60
    [row] = due_reminders(surgery, 1, channel=Channel.EMAIL, due_at=aware("2026-02-10T09:00"))
    marks = []

    def read_mark() -> tuple:
        try:
            return Reminder.objects.values_list("needs_reconcile", "handed_over_at").get(pk=row.pk)
        finally:
            connection.close()

    def before_accept(message) -> bool:
        # What another process sees while the server holds DATA (a thread: the hook runs in the
        # SMTP server's event loop, where Django refuses database calls).
        with ThreadPoolExecutor(1) as pool:
            marks.append(pool.submit(read_mark).result())
        return True

    providers.smtp.handler.before_accept = before_accept
    [(pk, token)] = claim_at(NOW)
    with time_machine.travel(aware(NOW), tick=True):
        die_while_sending(pk, token)  # accepted by the server, our record lost
    assert marks[0][0] is True and marks[0][1] is not None, "marked (committed) before DATA"
    run("2026-02-10T09:02:00")
    row.refresh_from_db()
    assert row.status == Status.SENT and row.resends == 1
    first, again = providers.smtp.messages
    assert first["Message-ID"] == again["Message-ID"] and first["Reminder-Id"] == again["Reminder-Id"]
    login(client, clinic_admin)
    page = client.get("/reminders/outbox/").content.decode()
    assert 'data-metric="email-resends"' in page and "<strong>1</strong>" in page
    settings.METRICS_TOKEN = "metrics-secret"
    assert client.get("/reminders/metrics/").status_code == 404
    metrics = client.get("/reminders/metrics/", HTTP_AUTHORIZATION="Bearer metrics-secret")
    assert metrics.status_code == 200 and "preop_reminder_email_resends_total 1" in metrics.content.decode()


def test_a_definite_smtp_refusal_is_not_counted_as_a_resend(providers, surgery):
    [row] = due_reminders(surgery, 1, channel=Channel.EMAIL, due_at=aware("2026-02-10T09:00"))
    providers.smtp.handler.fail.append("451 Try again later")
    run(NOW)
    row.refresh_from_db()
    assert row.status == Status.PENDING and not row.needs_reconcile and row.handed_over_at is None
    run("2026-02-10T10:00:00")
    row.refresh_from_db()
    assert row.status == Status.SENT and row.resends == 0


def test_every_reminder_email_has_one_click_unsubscribe_that_turns_email_off(providers, surgery, client):
    patient = surgery.patient
    rows = due_reminders(surgery, 2, channel=Channel.EMAIL, due_at=aware("2026-02-10T09:00"))
    Reminder.objects.filter(pk=rows[1].pk).update(
        due_at=aware("2026-02-11T09:00"), next_attempt_at=aware("2026-02-11T09:00")
    )
    run(NOW)
    [message] = providers.smtp.messages
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip().strip("<>")
    assert url.startswith("https://preop.example.org/reminders/unsubscribe/")
    path = url.removeprefix("https://preop.example.org")
    for private in (str(patient.uuid), patient.email, patient.mrn, patient.last_name, patient.mobile):
        assert private not in path
    # A GET (a scanner following the link) changes nothing.
    assert client.get(path).status_code == 200
    patient.refresh_from_db()
    assert patient.channel_email
    # The provider's one-click POST: no sign-in, no CSRF token.
    with time_machine.travel(aware("2026-02-10T12:00"), tick=True):
        response = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "now off" in response.content.decode()
    patient.refresh_from_db()
    assert not patient.channel_email
    assert Reminder.objects.get(pk=rows[1].pk).status == Status.CANCELLED
    assert client.post(path, {"List-Unsubscribe": "One-Click"}).status_code == 200, "twice is fine"
    bad = client.post(path.replace(".", ".0", 1))
    assert bad.status_code == 400 and "not valid" in bad.content.decode()


# --- Finding 4: STOP, cancel and the send, in one order ----------------------------------------------


def test_stop_wins_over_a_claimed_text_not_yet_handed_over(providers, surgery):
    [row] = due_reminders(surgery, 1, channel=Channel.SMS, due_at=aware("2026-02-10T09:00"))
    [(pk, token)] = claim_at(NOW)
    with time_machine.travel(aware(NOW), tick=True):
        sms_inbound_record(from_number=surgery.patient.mobile, body="STOP", message_sid="SMin2")
        assert reminder_send(reminder_id=pk, token=token).status == "stale"
    row.refresh_from_db()
    assert row.status == Status.SUPPRESSED and providers.sms.messages == []


@pytest.mark.parametrize("change", ["stop", "cancel", "quiet hours", "daily limit"])
def test_a_text_handed_over_before_a_change_is_recorded_as_sent(providers, surgery, nurse, settings, change):
    """Finding 4: a delivered text whose record was lost was later marked cancelled, or "pending,
    daily limit reached". The provider is asked first; a handed-over text is left to that."""
    settings.REMINDERS_LEASE_SECONDS = 60
    clinic = surgery.patient.clinic
    open_all_hours(clinic, sms_daily_limit=1)
    [row] = due_reminders(surgery, 1, channel=Channel.SMS, due_at=aware("2026-02-10T09:00"))
    [(pk, token)] = claim_at(NOW)
    with time_machine.travel(aware(NOW), tick=True):
        die_while_sending(pk, token)
    with time_machine.travel(aware("2026-02-10T09:01:00"), tick=True):
        if change == "stop":
            sms_inbound_record(from_number=surgery.patient.mobile, body="STOP", message_sid="SMin3")
        elif change == "cancel":
            surgery_cancel(surgery=surgery, by=nurse, reason="unwell")
        elif change == "quiet hours":
            clinic.quiet_hours_start, clinic.quiet_hours_end = dt.time(0, 0), dt.time(23, 59)
            clinic.save()
        else:
            [other] = due_reminders(surgery, 1, channel=Channel.SMS, code="arrival", prefix="o")
            Reminder.objects.filter(pk=other.pk).update(status=Status.SENT, sent_at=timezone.now())
    row.refresh_from_db()
    assert row.status == Status.SENDING, "left to the send step, which asks the provider"
    run("2026-02-10T09:02:00")
    row.refresh_from_db()
    assert row.status == Status.SENT and row.provider_id == providers.sms.messages[0]["sid"]
    assert len(providers.sms.messages) == 1


def test_a_status_callback_for_a_message_credited_elsewhere_changes_nothing(client, settings, surgery):
    from twilio.request_validator import RequestValidator

    from devtools.standins import AUTH_TOKEN

    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.PUBLIC_BASE_URL = "https://preop.example.org"
    a, b = due_reminders(surgery, 2, channel=Channel.SMS)
    Reminder.objects.filter(pk=a.pk).update(status=Status.SENT, provider_id="SMa")
    path = f"/reminders/twilio/status/?ref={b.uuid}"
    data = {"MessageSid": "SMa", "MessageStatus": "delivered", "AccountSid": "AC1"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature("https://preop.example.org" + path, data)
    Reminder.objects.filter(pk=b.pk).update(status=Status.SENDING)
    assert client.post(path, data, HTTP_X_TWILIO_SIGNATURE=signature).status_code == 204
    b.refresh_from_db()
    assert b.status == Status.SENDING and b.provider_id == ""
