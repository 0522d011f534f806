"""The readiness recorder's edges: the catch-up window, the batch, the task, and who may view the figures."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from accounts import permissions as perms
from insights.models import ReadinessSnapshot
from insights.services import readiness_snapshots_record
from insights.tasks import record_readiness_snapshots
from tests.factories import UserFactory, aware

pytestmark = pytest.mark.django_db


def test_a_moment_older_than_the_catch_up_window_is_left_alone(book, settings):
    settings.INSIGHTS_SNAPSHOT_CATCH_UP_HOURS = 24
    with time_machine.travel(aware("2026-03-02T09:00"), tick=False):
        surgery = book(start_at=aware("2026-03-12T09:00"))
    # Down for days: at 11 March 10:00 PDT the 72 h moment (9 March 09:00) is 49 h old, past a 24 h window;
    # the 48 h moment (25 h old) is too; the 24 h one (1 h old) is caught up, late.
    with time_machine.travel(aware("2026-03-11T10:00"), tick=False):
        run = readiness_snapshots_record()
    assert (run.recorded, run.late) == (1, 1)
    assert list(ReadinessSnapshot.objects.values_list("offset_hours", "late", "state")) == [(24, True, "not_ready")]
    assert ReadinessSnapshot.objects.get().surgery_id == surgery.pk


def test_a_long_catch_up_goes_in_batches_oldest_first(book, settings):
    settings.INSIGHTS_SNAPSHOT_BATCH = 2
    with time_machine.travel(aware("2026-03-02T09:00"), tick=False):
        first = book(start_at=aware("2026-03-12T09:00"))
        book(start_at=aware("2026-03-12T10:00"))
        book(start_at=aware("2026-03-12T11:00"))
    with time_machine.travel(aware("2026-03-09T12:00"), tick=False):
        assert readiness_snapshots_record().recorded == 2
        assert ReadinessSnapshot.objects.filter(surgery=first).exists()
        assert record_readiness_snapshots() == 1, "the task: the rest on the next run"
        assert record_readiness_snapshots() == 0


def test_who_may_view_the_clinic_dashboard(clinic, other_clinic):
    admin = UserFactory(clinic=clinic, role="clinic_admin")
    lead = UserFactory(clinic=clinic, is_lead_nurse=True)
    nurse = UserFactory(clinic=clinic)
    surgeon = UserFactory(clinic=clinic, role="surgeon", is_lead_nurse=True)
    system = UserFactory(clinic=clinic, role="system", is_lead_nurse=True)
    operator = UserFactory(clinic=None, role="clinic_admin")
    gone = UserFactory(clinic=clinic, role="clinic_admin", is_active=False)
    allowed = {
        u.email: perms.allowed_to_view(u, perms.VIEW_CLINIC_DASHBOARD)
        for u in (admin, lead, nurse, surgeon, system, operator, gone)
    }
    assert allowed == {
        admin.email: True,
        lead.email: True,
        nurse.email: False,
        surgeon.email: False,
        system.email: False,
        operator.email: False,
        gone.email: False,
    }
    assert not perms.allowed_to_view(None, perms.VIEW_CLINIC_DASHBOARD), "a portal patient"
    with pytest.raises(perms.ViewForbidden, match="clinic admins and lead nurses"):
        perms.require_view(nurse, perms.VIEW_CLINIC_DASHBOARD)


def test_week_of_and_the_period_default(clinic):
    from insights.selectors import Period, week_of

    assert week_of(dt.date(2026, 3, 15)) == dt.date(2026, 3, 9)
    period = Period.last_weeks(clinic=clinic, weeks=2, now=aware("2026-03-16T00:30"))
    assert (period.start, period.end) == (dt.date(2026, 3, 9), dt.date(2026, 3, 22))


def test_a_surgery_moved_and_moved_back_counts_its_first_snapshot_again(book, nurse):
    from actions.booking import surgery_update

    with time_machine.travel(aware("2026-03-02T09:00"), tick=False):
        surgery = book(start_at=aware("2026-03-12T09:00"))
    with time_machine.travel(aware("2026-03-09T09:05"), tick=False):
        assert readiness_snapshots_record().recorded == 1
        surgery_update(surgery=surgery, by=nurse, reason="theatre", start_at=aware("2026-03-19T09:00"))
        assert readiness_snapshots_record().superseded == 1
        assert not ReadinessSnapshot.objects.filter(current=True).exists()
        surgery.refresh_from_db()
        surgery_update(surgery=surgery, by=nurse, reason="back again", start_at=aware("2026-03-12T09:00"))
        readiness_snapshots_record()
        assert list(ReadinessSnapshot.objects.values_list("offset_hours", "current")) == [(72, True)]
