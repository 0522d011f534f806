"""Readiness: one function decides it; the stored summary is that function's answer at every moment.

The properties replace the four hand-picked cases that checked a SQL copy against the function:
there is no copy any more, so what must hold is that a summary written at one moment, re-evaluated
once its ``changes_at`` has passed, says what the function says at any later moment.
"""

from __future__ import annotations

import datetime as dt
import importlib
import zoneinfo

import pytest
import time_machine
from django.apps import apps
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from patients.models import Clinic, Surgery
from prep.models import ChecklistItem, ChecklistSummary, ItemStatus, Readiness
from prep.selectors import readiness_compute
from prep.services import clinic_summaries_expire, readiness_refresh_due

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
BASE = dt.datetime(2026, 2, 10, 9, 0, tzinfo=LA)
STORED = ("state", "rank", "required", "done", "overdue", "next_due_at", "changes_at")


def stored(report) -> dict:
    values = report.summary_values()
    return {name: values[name] for name in STORED}


def compared(report) -> dict:
    """What a later moment must agree on: everything stored but when it changes next."""
    return {name: value for name, value in stored(report).items() if name != "changes_at"}


minutes = st.integers(min_value=-14 * 24 * 60, max_value=21 * 24 * 60)
item_rows = st.lists(st.tuples(st.booleans(), st.sampled_from(ItemStatus.values), minutes), min_size=0, max_size=8)


@st.composite
def checklists(draw):
    """Unsaved items, surgery and clinic (no database): all readiness reads of them."""
    rows = draw(item_rows)
    items = [
        ChecklistItem(pk=n + 1, title=f"Item {n}", required=req, status=status, due_at=BASE + dt.timedelta(minutes=m))
        for n, (req, status, m) in enumerate(rows)
    ]
    surgery = Surgery(start_at=BASE + dt.timedelta(minutes=draw(st.integers(0, 21 * 24 * 60))))
    clinic = Clinic(go_no_go_hours=draw(st.integers(0, 72)), escalation_hours=draw(st.integers(0, 96)))
    return items, surgery, clinic


moments = st.integers(min_value=0, max_value=30 * 24 * 60 * 60)  # seconds after BASE


@settings(max_examples=300, deadline=None)
@given(checklist=checklists(), first=moments, later=moments)
def test_a_summary_re_evaluated_when_due_says_what_the_function_says(checklist, first, later) -> None:
    """Written at one moment and re-evaluated by a reader only once ``changes_at`` has passed, the summary
    a list sorts on equals the function's answer at any later moment (the rule the board follows)."""
    items, surgery, clinic = checklist
    written_at = BASE + dt.timedelta(seconds=min(first, later))
    read_at = BASE + dt.timedelta(seconds=max(first, later))
    summary = readiness_compute(surgery=surgery, items=items, clinic=clinic, now=written_at)
    if summary.changes_at is not None and summary.changes_at <= read_at:
        summary = readiness_compute(surgery=surgery, items=items, clinic=clinic, now=read_at)
    truth = readiness_compute(surgery=surgery, items=items, clinic=clinic, now=read_at)
    assert stored(summary) == stored(truth)


@settings(max_examples=300, deadline=None)
@given(checklist=checklists(), first=moments)
def test_changes_at_is_exactly_the_next_change(checklist, first) -> None:
    """Nothing stored changes before ``changes_at`` (sound) and something does at it (no idle re-evaluation)."""
    items, surgery, clinic = checklist
    now = BASE + dt.timedelta(seconds=first)
    report = readiness_compute(surgery=surgery, items=items, clinic=clinic, now=now)
    if report.changes_at is None:
        for later in (now + dt.timedelta(days=60), now + dt.timedelta(days=400)):
            assert compared(readiness_compute(surgery=surgery, items=items, clinic=clinic, now=later)) == compared(
                report
            )
        return
    assert report.changes_at > now
    just_before = readiness_compute(
        surgery=surgery, items=items, clinic=clinic, now=report.changes_at - dt.timedelta(microseconds=1)
    )
    assert compared(just_before) == compared(report)
    at = readiness_compute(surgery=surgery, items=items, clinic=clinic, now=report.changes_at)
    assert compared(at) != compared(report)


# One row per state: what the four hand-picked bookings showed, now on the function itself.
CASES = [
    # (surgery in hours, [(required, status, due in hours)], expected state, done, overdue)
    (10, [(True, "open", -1)], Readiness.NOT_READY, 0, 1),
    (72, [(True, "open", -2), (True, "done", -30)], Readiness.AT_RISK, 1, 1),
    (72, [(True, "open", 24)], Readiness.AT_RISK, 0, 0),
    (24 * 30, [(True, "open", 24 * 20), (False, "open", -5)], Readiness.ON_TRACK, 0, 0),
    (24 * 30, [(True, "done", -1), (True, "not_applicable", 5), (True, "accepted", 1)], Readiness.READY, 3, 0),
    (24 * 30, [(True, "patient_confirmed", 24 * 20)], Readiness.ON_TRACK, 0, 0),
    (5, [], Readiness.READY, 0, 0),
]


@pytest.mark.parametrize(("start", "rows", "state", "done", "overdue"), CASES)
def test_states_table(start, rows, state, done, overdue) -> None:
    items = [
        ChecklistItem(pk=n + 1, title=f"Item {n}", required=r, status=s, due_at=BASE + dt.timedelta(hours=h))
        for n, (r, s, h) in enumerate(rows)
    ]
    surgery = Surgery(start_at=BASE + dt.timedelta(hours=start))
    report = readiness_compute(surgery=surgery, items=items, clinic=Clinic(), now=BASE)
    assert (report.state, report.done, report.overdue) == (state, done, overdue)


# --- The stored summary, through the services and the lists ---------------------------------------


def summary_is_current(surgery: Surgery, now: dt.datetime | None = None) -> dict:
    surgery = Surgery.objects.select_related("patient__clinic").get(pk=surgery.pk)
    row = ChecklistSummary.objects.get(checklist__surgery=surgery)
    items = list(ChecklistItem.objects.filter(checklist__surgery=surgery))
    truth = readiness_compute(surgery=surgery, items=items, clinic=surgery.patient.clinic, now=now)
    assert {name: getattr(row, name) for name in STORED} == stored(truth), surgery
    return stored(truth)


@pytest.mark.django_db
def test_every_item_writing_service_rewrites_the_summary(book, nurse, surgeon) -> None:
    from patients.services import medication_add, medication_stop, surgery_cancel, surgery_update
    from prep import services

    with time_machine.travel(BASE, tick=False):
        surgery = book("trigeminal-rf", BASE + dt.timedelta(days=27), medications=["clopidogrel", "aspirin:secondary"])
        summary_is_current(surgery)  # generation

        def item(code: str) -> ChecklistItem:
            return ChecklistItem.objects.select_related("template_item").get(checklist__surgery=surgery, code=code)

        steps = [
            lambda: services.item_complete(item=item("hemoglobin"), by=nurse, result="13"),
            lambda: services.item_mark_not_applicable(item=item("mri"), by=nurse, reason="MRI on file"),
            lambda: services.item_patient_confirm(item=item("arrival"), evidence={"ride": True}),
            lambda: services.item_accept(item=item("arrival"), by=nurse),
            lambda: services.item_undo(item=item("hemoglobin"), by=nurse, reason="wrong patient"),
            lambda: services.hold_decide(item=item("hold_approval:clopidogrel"), by=surgeon, approve=True),
            lambda: surgery_update(surgery=surgery, by=nurse, start_at=BASE + dt.timedelta(days=2)),
            lambda: medication_add(patient=surgery.patient, by=nurse, name="warfarin", is_blood_thinner=True),
            lambda: medication_stop(medication=surgery.patient.medications.get(name="warfarin"), by=nurse),
            lambda: surgery_cancel(surgery=surgery, by=nurse, reason="patient unwell"),
        ]
        seen = set()
        for step in steps:
            step()
            seen.add(summary_is_current(surgery)["state"])
    assert {Readiness.ON_TRACK, Readiness.AT_RISK} <= seen  # the steps did move it


@pytest.mark.django_db
def test_lists_re_evaluate_what_the_clock_changed_at_the_moment_they_are_read(book, nurse, client, login) -> None:
    """No task runs in between: the board, filtered on the stored column, is right just before and at the change."""
    from workspace.selectors import board_default_filters, board_page

    with time_machine.travel(BASE, tick=False):
        surgery = book(start_at=BASE + dt.timedelta(days=12))
    row = ChecklistSummary.objects.get(checklist__surgery=surgery)
    assert row.state == Readiness.ON_TRACK and row.changes_at is not None
    filters = board_default_filters(clinic=surgery.patient.clinic, now=BASE)

    def board(at: dt.datetime, readiness: str) -> list[Surgery]:
        with time_machine.travel(at, tick=False):
            page = board_page(user=nurse, filters=type(filters)(**{**filters.__dict__, "readiness": readiness}), now=at)
        return [r.surgery for r in page.rows]

    before = row.changes_at - dt.timedelta(seconds=1)
    assert board(before, Readiness.ON_TRACK) == [surgery]
    assert ChecklistSummary.objects.get(pk=row.pk).computed_at == BASE, "nothing was due: nothing rewritten"
    assert board(row.changes_at, Readiness.ON_TRACK) == []
    assert board(row.changes_at, Readiness.AT_RISK) == [surgery]
    summary_is_current(surgery, now=row.changes_at)  # the board rewrote it, with the function


@pytest.mark.django_db
def test_new_clinic_hours_are_applied_at_the_next_read(book, clinic) -> None:
    with time_machine.travel(BASE, tick=False):
        surgery = book(start_at=BASE + dt.timedelta(days=12))
        assert ChecklistSummary.objects.get(checklist__surgery=surgery).state == Readiness.ON_TRACK
        Clinic.objects.filter(pk=clinic.pk).update(go_no_go_hours=24 * 13)  # the admin's change
        clinic_summaries_expire(clinic=clinic)
        assert readiness_refresh_due(surgeries=Surgery.objects.filter(pk=surgery.pk)) == 1
        assert summary_is_current(surgery)["state"] == Readiness.NOT_READY
        assert readiness_refresh_due(surgeries=Surgery.objects.filter(pk=surgery.pk)) == 0


@pytest.mark.django_db
def test_a_checklist_without_a_summary_is_filled_by_the_next_read_and_by_the_migration(book) -> None:
    with time_machine.travel(BASE, tick=False):
        first, second = book(start_at=BASE + dt.timedelta(days=3)), book(start_at=BASE + dt.timedelta(days=20))
        ChecklistSummary.objects.all().delete()  # rows written behind the services' back
        assert readiness_refresh_due(surgeries=Surgery.objects.filter(pk=first.pk)) == 1
        summary_is_current(first)
        migration = importlib.import_module("prep.migrations.0004_checklist_summary")
        migration.fill(apps, None)
        summary_is_current(second)
        assert ChecklistSummary.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_changes_to_one_checklist_at_the_same_moment_are_both_counted(book, nurse) -> None:
    """The second change waits for the first one's summary lock, then reads its committed item."""
    import threading

    from django.db import connection, transaction

    from prep.services import item_complete

    surgery = book(start_at=dt.datetime.now(LA) + dt.timedelta(days=20))
    first, second = (
        ChecklistItem.objects.select_related("template_item").get(checklist__surgery=surgery, code=code)
        for code in ("hemoglobin", "blood_group")
    )
    before = ChecklistSummary.objects.get(checklist__surgery=surgery).done
    first_written = threading.Event()

    def change_first() -> None:
        try:
            with transaction.atomic():
                item_complete(item=first, by=nurse, result="13")
                first_written.set()
                threading.Event().wait(0.5)  # the second change starts while this one is uncommitted
        finally:
            connection.close()

    def change_second() -> None:
        try:
            first_written.wait(5)
            item_complete(item=second, by=nurse, result="O+")
        finally:
            connection.close()

    threads = [threading.Thread(target=change_first), threading.Thread(target=change_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert ChecklistSummary.objects.get(checklist__surgery=surgery).done == before + 2
    summary_is_current(surgery)


@pytest.mark.django_db
def test_re_evaluating_due_rows_takes_a_fixed_number_of_queries(book, nurse, clinic) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from workspace.selectors import board_default_filters, board_page

    def board_queries_with_every_row_due() -> int:
        clinic_summaries_expire(clinic=clinic)
        with CaptureQueriesContext(connection) as ctx:
            page = board_page(user=nurse, filters=board_default_filters(clinic=clinic))
        assert all(r.report.state == r.surgery.checklist.summary.state for r in page.rows)
        assert not ChecklistSummary.objects.filter(changes_at__lte=timezone.now()).exists()
        return len(ctx.captured_queries)

    for day in range(2):
        book(start_at=timezone.now() + dt.timedelta(days=2 + day))
    few = board_queries_with_every_row_due()
    for day in range(12):
        book(start_at=timezone.now() + dt.timedelta(days=1 + day % 12, hours=3))
    assert board_queries_with_every_row_due() == few
