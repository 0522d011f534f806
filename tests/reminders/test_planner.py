"""The planner: rows written, re-planned and cancelled in the checklist's own transaction."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from actions.booking import surgery_cancel, surgery_update
from actions.decisions import hold_decide
from actions.items import item_complete
from actions.patients import patient_update
from prep.models import ChecklistItem
from reminders.models import Channel, Kind, Reminder, Status
from reminders.planner import outside_quiet_hours, reminders_replan
from tests.factories import aware
from tests.reminders.helpers import sms_fields

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
pytestmark = pytest.mark.django_db


def local(value: dt.datetime) -> dt.datetime:
    return value.astimezone(LA)


def rows(surgery, **filters):
    return list(Reminder.objects.filter(surgery=surgery, **filters).order_by("due_at", "channel"))


@pytest.fixture
def frozen():
    with time_machine.travel(aware("2026-02-02T10:00"), tick=False) as traveller:
        yield traveller


def test_generation_plans_keyed_rows_and_replanning_adds_none(book, frozen):
    surgery = book(start_at=aware("2026-02-20T09:00"), anaesthesia="sedation", **sms_fields())
    planned = rows(surgery)
    assert planned, "the catalogue's offsets give reminders"
    assert all(r.status == Status.PENDING and r.surgery_version == 1 for r in planned)
    assert {r.channel for r in planned} == {Channel.EMAIL, Channel.SMS}
    assert {r.kind for r in planned} >= {Kind.TESTS, Kind.ARRIVAL}
    before = {(r.key, r.due_at) for r in planned}
    reminders_replan(checklist=surgery.checklist)
    reminders_replan(checklist=surgery.checklist)
    assert {(r.key, r.due_at) for r in rows(surgery)} == before


def test_only_patient_facing_open_items_get_reminders(book, frozen):
    surgery = book(start_at=aware("2026-02-20T09:00"), anaesthesia="local")
    covered = set()
    for r in rows(surgery):
        covered.update(r.covers)
    codes = set(ChecklistItem.objects.filter(pk__in=covered).values_list("code", flat=True))
    assert codes == {"blood_group", "hemoglobin", "ecg", "chest_xray", "urinalysis", "arrival", "health_questionnaire"}
    assert not Reminder.objects.filter(surgery=surgery, channel=Channel.SMS).exists(), "no SMS consent"


def test_replan_is_a_bounded_number_of_queries(book, frozen, django_assert_max_num_queries):
    surgery = book(start_at=aware("2026-02-20T09:00"), anaesthesia="sedation", **sms_fields())
    Reminder.objects.filter(surgery=surgery, channel=Channel.EMAIL).update(status=Status.CANCELLED)
    with django_assert_max_num_queries(12):
        reminders_replan(checklist=surgery.checklist)


def test_reschedule_cancels_the_old_plan_and_plans_the_new_date(book, nurse, frozen):
    surgery = book(start_at=aware("2026-02-20T09:00"), **sms_fields())
    old = {r.pk for r in rows(surgery)}
    surgery_update(surgery=surgery, by=nurse, start_at=aware("2026-02-27T09:00"), reason="moved")
    surgery.refresh_from_db()
    assert surgery.version == 2
    for r in Reminder.objects.filter(pk__in=old):
        assert r.status == Status.CANCELLED and r.status_reason == "Surgery moved or cancelled"
    new = rows(surgery, surgery_version=2)
    assert new and all(r.status == Status.PENDING for r in new)
    arrival = next(r for r in new if r.kind == Kind.ARRIVAL and r.channel == Channel.EMAIL)
    assert local(arrival.due_at).date() == dt.date(2026, 2, 26)


def test_cancel_cancels_every_live_reminder_and_keeps_history(book, nurse, frozen):
    surgery = book(start_at=aware("2026-02-20T09:00"), **sms_fields())
    count = Reminder.objects.filter(surgery=surgery).count()
    surgery_cancel(surgery=surgery, by=nurse, reason="patient unwell")
    assert Reminder.objects.filter(surgery=surgery).count() == count, "nothing deleted"
    assert set(Reminder.objects.filter(surgery=surgery).values_list("status", flat=True)) == {Status.CANCELLED}


def test_item_done_cancels_its_reminders_and_undo_brings_them_back(book, nurse, frozen):
    surgery = book(start_at=aware("2026-02-20T09:00"), anaesthesia="local")
    tests = ChecklistItem.objects.filter(checklist__surgery=surgery, category="tests", required=True)
    results = {"blood_group": "A+", "hemoglobin": "13", "ecg": "normal", "chest_xray": "clear", "urinalysis": "ok"}
    for item in tests:
        if item.code in results:
            item_complete(item=item, by=nurse, result=results[item.code])
    test_rows = rows(surgery, kind=Kind.TESTS)
    assert test_rows and all(r.status == Status.CANCELLED for r in test_rows)
    assert all(r.status == Status.PENDING for r in rows(surgery, kind=Kind.ARRIVAL))
    from actions.items import item_undo

    item_undo(item=tests.get(code="ecg"), by=nurse, reason="wrong patient")
    revived = rows(surgery, kind=Kind.TESTS, status=Status.PENDING)
    assert revived and all(r.covers == [tests.get(code="ecg").pk] for r in revived)
    # The other reminders: the arrival and the health questionnaire (a task), untouched.
    others = rows(surgery, kind=Kind.ARRIVAL) + rows(surgery, kind=Kind.TASK)
    assert Reminder.objects.filter(surgery=surgery).count() == len(test_rows) + len(others)


def test_hold_gets_no_reminder_until_the_prescriber_approves(book, surgeon, frozen):
    surgery = book("endoscopic-rhizotomy", start_at=aware("2026-02-20T09:00"), medications=["clopidogrel"])
    hold = ChecklistItem.objects.get(checklist__surgery=surgery, code__startswith="hold:")
    assert hold.locked
    assert not [r for r in rows(surgery) if hold.pk in r.covers]
    approval = ChecklistItem.objects.get(checklist__surgery=surgery, code__startswith="hold_approval:")
    hold_decide(item=approval, by=surgeon, approve=True)
    hold_rows = [r for r in rows(surgery) if hold.pk in r.covers]
    assert hold_rows and {r.kind for r in hold_rows} == {Kind.HOLD}


def test_channels_follow_consent_and_opt_out(book, nurse, frozen):
    surgery = book(start_at=aware("2026-02-20T09:00"), **sms_fields(channel_email=False))
    assert {r.channel for r in rows(surgery)} == {Channel.SMS}
    patient = surgery.patient
    patient.sms_opted_out_at = aware("2026-02-02T09:00")
    patient.save()
    reminders_replan(checklist=surgery.checklist)
    assert {r.status for r in rows(surgery)} == {Status.CANCELLED}
    patient_update(patient=patient, by=nurse, channel_email=True)
    reminders_replan(checklist=surgery.checklist)
    assert {r.channel for r in rows(surgery, status=Status.PENDING)} == {Channel.EMAIL}


def test_daily_sms_limit_merges_the_day_into_one_text(book, clinic, frozen):
    surgery = book(start_at=aware("2026-02-20T09:00"), anaesthesia="sedation", **sms_fields())
    sms = rows(surgery, channel=Channel.SMS)
    days = [local(r.due_at).date() for r in sms]
    assert len(days) == len(set(days)), "one text per local day"
    day_before = local(surgery.start_at).date() - dt.timedelta(days=1)
    merged = next(
        r for r in sms if len(r.covers) > 1 and r.kind == Kind.SEVERAL and local(r.due_at).date() == day_before
    )
    assert len(merged.covers) == 3  # arrival and both fasting reminders fall on the day before
    clinic.sms_daily_limit = 2
    clinic.save()
    reminders_replan(checklist=surgery.checklist)
    day_before = local(merged.due_at).date()
    live = [
        r for r in rows(surgery, channel=Channel.SMS, status=Status.PENDING) if local(r.due_at).date() == day_before
    ]
    assert len(live) == 2 and sorted(len(r.covers) for r in live) == [1, 2]


def test_quiet_hours_move_a_reminder_to_their_end(book, frozen):
    # Surgery at 07:00: arrival due 05:00, its 24 h reminder would be 05:00 the day before (quiet).
    surgery = book(start_at=aware("2026-02-20T07:00"), anaesthesia="local")
    arrival = next(r for r in rows(surgery) if r.kind == Kind.ARRIVAL)
    assert local(arrival.planned_at) == aware("2026-02-19T05:00")
    assert local(arrival.due_at) == aware("2026-02-19T08:00")


def test_quiet_hours_past_the_deadline_move_it_before_them_or_drop_it(book, clinic, frozen):
    clinic.quiet_hours_start, clinic.quiet_hours_end = dt.time(18, 0), dt.time(8, 0)
    clinic.save()
    # Sedation at 09:00: clear liquids until 07:00, reminded 12 h before = 19:00 (quiet); 08:00 is too late.
    surgery = book(start_at=aware("2026-02-20T09:00"), anaesthesia="sedation")
    liquids = ChecklistItem.objects.get(checklist__surgery=surgery, code="fasting_clear_liquids")
    planned = aware("2026-02-19T19:00")
    assert planned == liquids.due_at - dt.timedelta(hours=12)
    moved = outside_quiet_hours(planned, clinic=clinic, tz=LA, not_after=liquids.due_at, now=aware("2026-02-02T10:00"))
    assert moved == aware("2026-02-19T17:45")
    row = next(r for r in rows(surgery, channel=Channel.EMAIL, kind=Kind.FASTING) if liquids.pk in r.covers)
    assert local(row.due_at).time() < dt.time(18, 0) and row.due_at <= row.not_after
    with time_machine.travel(aware("2026-02-19T18:30"), tick=False):
        Reminder.objects.filter(surgery=surgery).update(status=Status.CANCELLED)
        Reminder.objects.filter(surgery=surgery).delete()  # test-only reset: plan afresh at this time
        reminders_replan(checklist=surgery.checklist)
        assert not [r for r in rows(surgery) if liquids.pk in r.covers and r.status == Status.PENDING]


@pytest.mark.parametrize(
    ("start", "before_72", "before_24"),
    [
        # Spring forward on Sunday 8 March 2026: tests due Mon 9 March 09:00 PDT.
        ("2026-03-16T09:00", "2026-03-06T17:00:00+00:00", "2026-03-08T16:00:00+00:00"),
        # Fall back on Sunday 1 November 2026: tests due Mon 2 November 09:00 PST.
        ("2026-11-09T09:00", "2026-10-30T16:00:00+00:00", "2026-11-01T17:00:00+00:00"),
    ],
)
def test_day_offsets_keep_the_wall_clock_across_dst(book, start, before_72, before_24):
    with time_machine.travel(aware(start) - dt.timedelta(days=20), tick=False):
        surgery = book(start_at=aware(start), anaesthesia="local")
    tests = rows(surgery, channel=Channel.EMAIL, kind=Kind.TESTS)
    assert [r.due_at.isoformat() for r in tests] == [before_72, before_24]
    assert {local(r.due_at).time() for r in tests} == {dt.time(9, 0)}


def test_hour_offsets_are_elapsed_time_across_dst(book):
    # Sedation at 14:00 PDT on 8 March: solids until 08:00 PDT, reminded 12 elapsed hours before.
    with time_machine.travel(aware("2026-02-20T10:00"), tick=False):
        surgery = book(start_at=aware("2026-03-08T14:00"), anaesthesia="sedation")
    solids = ChecklistItem.objects.get(checklist__surgery=surgery, code="fasting_solids")
    row = next(r for r in rows(surgery, channel=Channel.EMAIL, kind=Kind.FASTING) if solids.pk in r.covers)
    assert solids.due_at - row.planned_at == dt.timedelta(hours=12)
    assert local(row.planned_at) == aware("2026-03-07T19:00")  # 13 wall-clock hours: the clocks jumped


def test_late_booking_sends_the_latest_missed_reminder_once(book):
    with time_machine.travel(aware("2026-02-18T10:00"), tick=False):
        surgery = book(start_at=aware("2026-02-22T09:00"), anaesthesia="local")
        # Tests due 15 Feb are past: nothing. Arrival (24 h before 07:00 on the 22nd) is in the future.
        assert not rows(surgery, kind=Kind.TESTS)
    with time_machine.travel(aware("2026-02-21T10:00"), tick=False):
        surgery2 = book(start_at=aware("2026-02-22T09:00"), anaesthesia="local", mrn="LATE2")
        arrival = rows(surgery2, kind=Kind.ARRIVAL)
        assert len(arrival) == 1 and local(arrival[0].due_at) == aware("2026-02-21T10:00")


def test_turning_texts_on_after_booking_plans_them_and_turning_email_off_cancels_it(book, frozen):
    surgery = book(start_at=aware("2026-02-20T09:00"), anaesthesia="local", mobile="+13105550142")
    assert not rows(surgery, channel=Channel.SMS), "no consent at booking: no texts"
    patient = surgery.patient
    patient_update(patient=patient, by=None, channel_sms=True, sms_consent=True)
    texts = rows(surgery, channel=Channel.SMS, status=Status.PENDING)
    assert texts, "consent given later: the texts are planned at once"
    patient_update(patient=patient, by=None, channel_email=False)
    assert rows(surgery, channel=Channel.EMAIL, status=Status.PENDING) == []
    assert {r.status for r in rows(surgery, channel=Channel.EMAIL)} == {Status.CANCELLED}
    assert len(rows(surgery, channel=Channel.SMS, status=Status.PENDING)) == len(texts)


def test_a_patient_change_that_touches_no_channel_replans_nothing(book, frozen):
    surgery = book(start_at=aware("2026-02-20T09:00"), anaesthesia="local", **sms_fields())
    before = {(r.key, r.status, r.due_at) for r in rows(surgery)}
    with CaptureQueriesContext(connection) as ctx:
        patient_update(patient=surgery.patient, by=None, first_name="Renamed")
    assert not [q for q in ctx.captured_queries if Reminder._meta.db_table in q["sql"]]
    assert {(r.key, r.status, r.due_at) for r in rows(surgery)} == before
