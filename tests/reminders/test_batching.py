"""The dispatcher's batches and the send task's chunks: how many rows a run claims, how they are
handed to tasks, what a task does when its time runs out, and what a send costs in queries."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from devtools.outbox import due_reminders, open_all_hours
from reminders.models import Channel, Reminder, Status
from reminders.services import _chunks, reminders_claim, reminders_dispatch, reminders_send
from tests.factories import in_days
from tests.reminders.helpers import sms_fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def surgery(book, clinic):
    open_all_hours(clinic)
    return book(start_at=in_days(20), anaesthesia="local", **sms_fields())


def test_a_dispatcher_run_claims_batches_until_nothing_is_due(
    providers, surgery, settings, django_capture_on_commit_callbacks
):
    settings.REMINDERS_BATCH_SIZE = 3
    settings.REMINDERS_SEND_CHUNK = 2
    rows = due_reminders(surgery, 7)
    tasks: list[tuple[list[int], str]] = []
    # Tasks are enqueued once each claim commits; in a test transaction, when the test says so.
    with django_capture_on_commit_callbacks(execute=True):
        claimed = reminders_dispatch(enqueue=lambda ids, token: tasks.append((ids, token)))
    assert claimed == 7, "three batches: 3 + 3 + 1 (short: nothing more is due)"
    ids = [pk for chunk, _ in tasks for pk in chunk]
    assert sorted(ids) == sorted(r.pk for r in rows) and len(ids) == len(set(ids))
    assert all(len(chunk) <= 2 for chunk, _ in tasks)
    assert len({token for _, token in tasks}) == 3, "one claim token per batch, never mixed in a task"
    assert Reminder.objects.filter(status=Status.SENDING).count() == 7


def test_a_dispatcher_run_stops_at_its_limit(providers, surgery, settings):
    settings.REMINDERS_BATCH_SIZE = 4
    settings.REMINDERS_DISPATCH_MAX = 6
    due_reminders(surgery, 10)
    tasks: list = []
    assert reminders_dispatch(enqueue=lambda ids, token: tasks.append(ids)) == 6
    assert Reminder.objects.filter(key__startswith="t:", status=Status.PENDING).count() == 4, "the rest waits"
    assert reminders_dispatch(enqueue=lambda ids, token: tasks.append(ids)) == 4


def test_chunks_keep_one_token_each_and_respect_the_size():
    claimed = [(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "b")]
    assert _chunks(claimed, 2) == [("a", [1, 2]), ("a", [3]), ("b", [4, 5])]
    assert _chunks([], 2) == []


def test_a_task_out_of_time_hands_back_what_it_did_not_start(providers, surgery):
    due_reminders(surgery, 4)
    with transaction.atomic():
        claimed = reminders_claim()
    token = claimed[0][1]
    ids = [pk for pk, _ in claimed]
    outcomes = reminders_send(reminder_ids=ids, token=token, budget_seconds=0)
    # The first always runs (a task makes progress); the others go back to the queue, due now.
    assert [o.status for o in outcomes] == ["sent", "handed back", "handed back", "handed back"]
    back = Reminder.objects.filter(pk__in=ids[1:])
    assert {(r.status, r.attempts, r.needs_reconcile, r.claim_token) for r in back} == {
        (Status.PENDING, 0, False, None)
    }
    assert len(providers.smtp.messages) == 1
    with transaction.atomic():
        again = reminders_claim()
    assert sorted(pk for pk, _ in again) == sorted(ids[1:]), "claimed again by the next run"
    assert all(o.status == "sent" for o in reminders_send(reminder_ids=[pk for pk, _ in again], token=again[0][1]))
    assert len(providers.smtp.handler.reminder_ids()) == 4


def test_a_chunk_delivered_twice_sends_each_reminder_once(providers, surgery):
    # Texts about different items (two with the same words would not both go: see test_planner).
    due_reminders(surgery, 1, channel=Channel.SMS, prefix="a")
    due_reminders(surgery, 1, channel=Channel.SMS, code="arrival", prefix="c")
    due_reminders(surgery, 3, channel=Channel.EMAIL, prefix="b")
    with transaction.atomic():
        claimed = reminders_claim()
    ids, token = [pk for pk, _ in claimed], claimed[0][1]
    assert {o.status for o in reminders_send(reminder_ids=ids, token=token)} == {"sent"}
    assert {o.status for o in reminders_send(reminder_ids=ids, token=token)} == {"stale"}
    assert len(providers.smtp.messages) == 3 and len(providers.sms.messages) == 2


def test_queries_per_reminder_are_constant(providers, surgery):
    """One lease renewal per task, then per email: the locking load, the items, the hand-over mark
    (plus the savepoint pair that stands for its transaction in a test) and the one-statement record."""

    def queries_for(n: int) -> int:
        Reminder.objects.all().delete()
        due_reminders(surgery, n, prefix=f"q{n}")
        with transaction.atomic():
            claimed = reminders_claim()
        with CaptureQueriesContext(connection) as ctx:
            outcomes = reminders_send(reminder_ids=[pk for pk, _ in claimed], token=claimed[0][1])
        assert {o.status for o in outcomes} == {"sent"}
        return len(ctx.captured_queries)

    two, five = queries_for(2), queries_for(5)
    per_reminder = (five - two) / 3
    assert per_reminder == 6, per_reminder
    assert two == 1 + 2 * per_reminder, two
