"""Every figure of the clinic dashboard, asserted exactly on the known history (tests/insights/conftest.py)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from insights import selectors
from insights.models import ReadinessSnapshot
from insights.selectors import Filters, Period
from reminders.models import Reminder, Status
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

W0, W1, W2 = dt.date(2026, 3, 2), dt.date(2026, 3, 9), dt.date(2026, 3, 16)
PERIOD = Period(start=W0, end=dt.date(2026, 3, 22))


def shares(week):
    return {h: (s.part, s.total, s.late) for h, s in week.by_offset.items()}


def test_the_recorder_is_idempotent_catches_up_late_and_drops_a_moved_date(history):
    runs = history.runs
    assert runs["A72"] == 1 and runs["A72 again"] == 0, "a second run at the same moment records nothing"
    assert runs["C48 (cancelled)"] == 0, "a surgery cancelled before its moment has no snapshot"
    late = ReadinessSnapshot.objects.get(surgery=history.d, offset_hours=72)
    assert late.late and late.taken_at - late.due_at == dt.timedelta(hours=20), "caught up after the downtime"
    assert not ReadinessSnapshot.objects.filter(late=True).exclude(pk=late.pk).exists()
    moved = ReadinessSnapshot.objects.get(surgery=history.f)
    assert moved.current is False and moved.surgery_start_at != history.f.start_at


def test_readiness_week_by_week_from_the_snapshots(history):
    weeks = selectors.readiness_by_week(clinic=history.clinic, period=PERIOD, filters=Filters())
    assert [w.week for w in weeks] == [W0, W1, W2]
    assert shares(weeks[0]) == {72: (0, 0, 0), 48: (0, 0, 0), 24: (0, 0, 0)}, "a week with no surgery"
    assert weeks[0].by_offset[72].percent is None
    # A ready at every moment; B only at 24 h (done at 12:00, 48 h before was 09:00).
    assert shares(weeks[1]) == {72: (1, 2, 0), 48: (1, 2, 0), 24: (2, 2, 0)}
    # C (cancelled between 72 and 48 h) and D (72 h caught up late); F moved out of the week.
    assert shares(weeks[2]) == {72: (0, 2, 1), 48: (0, 1, 0), 24: (0, 1, 0)}
    assert weeks[1].by_offset[72].percent == 50.0


def test_the_same_instant_is_another_week_in_sydney(history):
    weeks = selectors.readiness_by_week(clinic=history.sydney, period=PERIOD, filters=Filters())
    # E starts Monday 16 March 07:00 in Sydney: still Sunday 15 March in Los Angeles (week W1 there).
    assert shares(weeks[2]) == {72: (1, 1, 0), 48: (1, 1, 0), 24: (1, 1, 0)}
    assert shares(weeks[1]) == {72: (0, 0, 0), 48: (0, 0, 0), 24: (0, 0, 0)}


def test_filters_by_procedure_and_surgeon(history, surgeon):
    other = UserFactory(clinic=history.clinic, role="surgeon", email="other-surgeon@westside.test")
    by_surgeon = selectors.readiness_by_week(
        clinic=history.clinic, period=PERIOD, filters=Filters(surgeon_id=surgeon.pk)
    )
    assert shares(by_surgeon[1]) == {72: (1, 2, 0), 48: (1, 2, 0), 24: (2, 2, 0)}
    nobody = Filters(surgeon_id=other.pk)
    assert all(
        s.total == 0
        for w in selectors.readiness_by_week(clinic=history.clinic, period=PERIOD, filters=nobody)
        for s in w.by_offset.values()
    )
    assert selectors.surgery_outcomes(clinic=history.clinic, period=PERIOD, filters=nobody).surgeries == 0
    procedure = Filters(procedure_id=history.a.procedure_id + 10_000)
    assert selectors.surgery_outcomes(clinic=history.clinic, period=PERIOD, filters=procedure).surgeries == 0


def test_cancellations_and_no_gos_by_reason(history):
    outcomes = selectors.surgery_outcomes(clinic=history.clinic, period=PERIOD, filters=Filters())
    assert outcomes.surgeries == 4, "A, B, C, D (F was moved out of the period)"
    rows = [(r.code, r.preparation, r.cancelled, r.no_go, r.postponed) for r in outcomes.rows]
    assert rows == [("prep_tests", True, 1, 0, 0), ("patient_unwell", False, 0, 1, 0)]
    assert (outcomes.preparation, outcomes.other) == (1, 1)


def test_items_most_often_overdue_or_reopened(history):
    rows = selectors.items_in_trouble(clinic=history.clinic, period=PERIOD, filters=Filters())
    got = [(r.code, r.overdue, r.reopened) for r in rows]
    # As each surgery's latest snapshot saw them. hemoglobin: A (closed again after its due time, and
    # reopened once), B (done late), C (open at its 72 h snapshot), D (open at its 24 h one); the other
    # tests: B, C, D. Consent and arrival were not yet due at C's and D's last snapshots.
    assert got == [
        ("hemoglobin", 4, 1),
        ("blood_group", 3, 0),
        ("chest_xray", 3, 0),
        ("contrast_allergy", 3, 0),
        ("ecg", 3, 0),
        ("urinalysis", 3, 0),
    ]
    assert rows[0].title == "Hemoglobin"


def test_median_time_from_booking_to_ready(history):
    median, measured = selectors.booking_to_ready(clinic=history.clinic, period=PERIOD, filters=Filters())
    # A: booked 2 Mar 09:00 PST, ready 8 Mar 10:00 PDT = 6 days; B: ready 11 Mar 12:00 PDT = 9 days 2 h.
    assert measured == 2
    assert median == dt.timedelta(days=7, hours=13)


def test_reminders_by_channel_match_the_outbox(history):
    rows = {
        r.channel: r for r in selectors.reminders_by_channel(clinic=history.clinic, period=PERIOD, filters=Filters())
    }
    start, after = PERIOD.bounds(history.clinic)
    outbox = Reminder.objects.filter(clinic=history.clinic, planned_at__gte=start, planned_at__lt=after)
    expected = Counter((r.channel, r.status) for r in outbox)
    assert expected, "the history planned reminders"
    for (channel, status), n in expected.items():
        assert rows[channel][status] == n
    assert sum(r.planned for r in rows.values()) == outbox.count()
    # Nothing was dispatched in this history: every reminder is waiting or was cancelled by the changes.
    assert {status for _c, status in expected} <= {Status.PENDING, Status.CANCELLED}
    assert rows["email"].due == 0 and rows["sms"].planned == 0


def test_reminder_outcomes_and_the_reasons_held(clinic, book):
    surgery = book(start_at=None)
    start = surgery.start_at - dt.timedelta(days=3)
    made = [
        ("email", Status.SENT, ""),
        ("email", Status.DELIVERED, ""),
        ("sms", Status.DELIVERED, ""),
        ("sms", Status.FAILED, "The carrier did not deliver the text"),
        ("sms", Status.SUPPRESSED, "Patient replied STOP"),
        ("sms", Status.SUPPRESSED, "Patient opted out of texts or has no consent"),
        ("email", Status.SUPPRESSED, "Patient does not receive email reminders"),
        ("sms", Status.PENDING, "Quiet hours"),
        ("sms", Status.EXPIRED, "Daily text limit reached; the next allowed time is past its deadline"),
        ("sms", Status.CANCELLED, "Checklist closed"),
    ]
    Reminder.objects.all().delete()
    for n, (channel, status, reason) in enumerate(made):
        Reminder.objects.create(
            clinic=clinic,
            patient=surgery.patient,
            surgery=surgery,
            surgery_version=surgery.version,
            kind="task",
            channel=channel,
            key=f"made-{n}",
            planned_at=start,
            due_at=start,
            not_after=surgery.start_at,
            next_attempt_at=start,
            status=status,
            status_reason=reason,
        )
    local = start.astimezone(clinic.tz).date()
    period = Period(start=local, end=local)
    rows = {r.channel: r for r in selectors.reminders_by_channel(clinic=clinic, period=period, filters=Filters())}
    sms, email = rows["sms"], rows["email"]
    assert (sms.planned, sms.reached, sms[Status.DELIVERED], sms[Status.FAILED], sms[Status.SUPPRESSED]) == (
        7,
        1,
        1,
        1,
        2,
    )
    assert (sms.stopped, sms.quiet_hours, sms.daily_limit, sms.due) == (2, 1, 1, 5)
    assert (email.planned, email.reached, email[Status.SUPPRESSED], email.stopped, email.due) == (3, 2, 1, 0, 3)
    headline = selectors.headline_figures(clinic=clinic, period=period)
    assert (headline.reminders_reached.part, headline.reminders_reached.total) == (3, 8)
    outside = Period(start=local + dt.timedelta(days=7), end=local + dt.timedelta(days=7))
    assert all(r.planned == 0 for r in selectors.reminders_by_channel(clinic=clinic, period=outside, filters=Filters()))


def test_portal_use_and_results_by_how_they_came(history):
    # At each surgery's latest snapshot: A and B had opened the portal (D only after its surgery), B had
    # confirmed an item; six results each for A and B, B's hemoglobin from the lab's system user.
    assert selectors.surgery_totals(clinic=history.clinic, period=PERIOD, filters=Filters()) == {
        "surgeries": 4,
        "opened": 2,
        "confirmed": 1,
        "by_interface": 1,
        "by_hand": 11,
    }


def test_the_inbox_and_the_review_queue(history):
    received, waits = selectors.inbox_now(clinic=history.clinic, period=PERIOD, now=history.now)
    assert received == {"processed": 1, "review": 1}, "Sydney's message is Sydney's"
    assert waits == [history.now - history.review.received_at]
    results = selectors.results_from({"by_interface": 1, "by_hand": 11}, received, waits)
    assert (results.waiting, results.oldest_wait, results.median_wait) == (1, waits[0], waits[0])


def test_a_period_with_no_surgery_and_the_headline(history):
    empty = Period(start=dt.date(2026, 4, 6), end=dt.date(2026, 4, 19))
    figures = selectors.dashboard_figures(clinic=history.clinic, period=empty, filters=Filters(), now=history.now)
    assert [w.week for w in figures.readiness] == [dt.date(2026, 4, 6), dt.date(2026, 4, 13)]
    assert all(s.total == 0 for w in figures.readiness for s in w.by_offset.values())
    assert figures.outcomes.surgeries == 0 and figures.outcomes.rows == []
    assert figures.items == [] and figures.booking_to_ready is None and figures.booking_to_ready_count == 0
    assert all(r.planned == 0 for r in figures.reminders)
    assert figures.portal == {"surgeries": 0, "opened": 0, "confirmed": 0}
    assert (figures.results.by_interface, figures.results.by_hand) == (0, 0)
    headline = figures.headline
    assert headline.ready_72h.percent is None and headline.preparation_cancellations == 0 and headline.surgeries == 0

    full = selectors.dashboard_figures(clinic=history.clinic, period=PERIOD, filters=Filters(), now=history.now)
    headline = full.headline
    assert (headline.ready_72h.part, headline.ready_72h.total, headline.ready_72h.late) == (1, 4, 1)
    assert headline.ready_72h.percent == 25.0
    assert (headline.preparation_cancellations, headline.surgeries) == (1, 4)


def test_a_period_is_whole_weeks_in_the_clinic_time_zone(clinic, sydney):
    period = Period(start=dt.date(2026, 3, 11), end=dt.date(2026, 3, 11))
    assert (period.start, period.end) == (W1, dt.date(2026, 3, 15))
    # Monday 9 March 00:00 PDT (DST began the day before) to Monday 16 March 00:00 PDT.
    start, after = period.bounds(clinic)
    assert (start.isoformat(), after.isoformat()) == ("2026-03-09T07:00:00+00:00", "2026-03-16T07:00:00+00:00")
    start, after = period.bounds(sydney)
    assert (start.isoformat(), after.isoformat()) == ("2026-03-08T13:00:00+00:00", "2026-03-15T13:00:00+00:00")
    with pytest.raises(ValueError, match="ends before"):
        Period(start=W2, end=W1)
