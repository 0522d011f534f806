"""Reads for the API and the exports: date ranges in the clinic's zone, the board's rows."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from patients import access
from patients.models import ACTIVE_SURGERY_STATUSES, Clinic
from patients.staff import ClinicStaff
from prep.planning import local_to_utc
from prep.selectors import surgeries_with_summary
from prep.services import readiness_refresh_due

if TYPE_CHECKING:
    from prep.selectors import SurgeryWithReadiness


def day_range_utc(*, clinic: Clinic, first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[first 00:00, the day after last 00:00) in the clinic's zone, as aware datetimes."""
    start = local_to_utc(dt.datetime.combine(first, dt.time.min), clinic.tz)
    end = local_to_utc(dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min), clinic.tz)
    return start, end


def surgeries_for_range(
    *, user: ClinicStaff, first: dt.date, last: dt.date, now: dt.datetime | None = None
) -> QuerySet[SurgeryWithReadiness]:
    """The user's clinic's active surgeries in the range, with readiness, in board order."""
    clinic = user.clinic
    start, end = day_range_utc(clinic=clinic, first=first, last=last)
    qs = access.surgeries_for_user(user).filter(
        start_at__gte=start, start_at__lt=end, status__in=ACTIVE_SURGERY_STATUSES
    )
    readiness_refresh_due(surgeries=qs, now=now)
    qs = surgeries_with_summary(qs=qs)
    return qs.select_related("patient", "procedure", "surgeon").order_by("start_at", "readiness_rank", "pk")
