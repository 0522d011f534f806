"""Reads on checklists: readiness (derived, never stored) and phases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Case, Count, IntegerField, Min, Q, QuerySet, Value, When
from django.utils import timezone

from patients.models import ACTIVE_SURGERY_STATUSES, Clinic, Surgery
from prep.models import ChecklistItem, ItemStatus

OPEN_STATUSES = (ItemStatus.OPEN, ItemStatus.PATIENT_CONFIRMED)


class Readiness:
    READY = "ready"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    NOT_READY = "not_ready"
    # Board order: what needs a nurse first.
    RANK = {NOT_READY: 0, AT_RISK: 1, ON_TRACK: 2, READY: 3}
    LABELS = {READY: "Ready", ON_TRACK: "On track", AT_RISK: "At risk", NOT_READY: "Not ready"}


@dataclass
class ReadinessReport:
    state: str
    reasons: list[str] = field(default_factory=list)
    done: int = 0
    required: int = 0
    overdue: int = 0
    next_due: ChecklistItem | None = None

    @property
    def label(self) -> str:
        return Readiness.LABELS[self.state]


def readiness_compute(
    *, surgery: Surgery, items: Iterable[ChecklistItem], clinic: Clinic, now: dt.datetime | None = None
) -> ReadinessReport:
    """Readiness of one surgery from its items (already loaded: no query here).

    ready: every required item closed. not_ready: required items open at the go/no-go cut-off.
    at_risk: a required item overdue, or open within the clinic's escalation window of its due
    time. on_track: required items open, none of them late or close.
    """
    now = now or timezone.now()
    required = [i for i in items if i.required]
    open_required = [i for i in required if i.status in OPEN_STATUSES]
    overdue = [i for i in open_required if i.due_at <= now]
    escalating = [i for i in open_required if i.due_at <= now + dt.timedelta(hours=clinic.escalation_hours)]
    upcoming = sorted((i for i in items if i.status in OPEN_STATUSES), key=lambda i: i.due_at)
    report = ReadinessReport(
        state=Readiness.READY,
        done=len(required) - len(open_required),
        required=len(required),
        overdue=len(overdue),
        next_due=upcoming[0] if upcoming else None,
    )
    if not open_required:
        report.reasons = ["All required items are done."]
        return report
    cutoff = surgery.start_at - dt.timedelta(hours=clinic.go_no_go_hours)
    titles = lambda rows: ", ".join(i.title for i in rows[:4]) + ("…" if len(rows) > 4 else "")  # noqa: E731
    if now >= cutoff:
        report.state = Readiness.NOT_READY
        report.reasons.append(
            f"{len(open_required)} required item(s) open at the go/no-go cut-off: {titles(open_required)}"
        )
    elif escalating:
        report.state = Readiness.AT_RISK
    else:
        report.state = Readiness.ON_TRACK
        report.reasons.append(f"{len(open_required)} required item(s) still to do, none late.")
    if overdue:
        report.reasons.append(f"Overdue: {titles(overdue)}")
    soon = [i for i in escalating if i not in overdue]
    if soon and report.state != Readiness.ON_TRACK:
        report.reasons.append(f"Due within {clinic.escalation_hours} h: {titles(soon)}")
    awaiting = [i for i in open_required if i.status == ItemStatus.PATIENT_CONFIRMED]
    if awaiting:
        report.reasons.append(f"Patient confirmation to accept: {titles(awaiting)}")
    return report


def surgeries_with_readiness(
    *, clinic: Clinic, qs: QuerySet[Surgery] | None = None, now: dt.datetime | None = None
) -> QuerySet[Surgery]:
    """Surgeries annotated with readiness computed in SQL, so the board sorts and pages in the database.

    Must agree with ``readiness_compute`` (a test checks both on the same data).
    """
    now = now or timezone.now()
    qs = qs if qs is not None else Surgery.objects.filter(clinic=clinic)
    required_open = Q(checklist__items__required=True, checklist__items__status__in=OPEN_STATUSES)
    qs = qs.annotate(
        required_count=Count("checklist__items", filter=Q(checklist__items__required=True)),
        open_required=Count("checklist__items", filter=required_open),
        overdue_count=Count("checklist__items", filter=required_open & Q(checklist__items__due_at__lte=now)),
        escalating_count=Count(
            "checklist__items",
            filter=required_open & Q(checklist__items__due_at__lte=now + dt.timedelta(hours=clinic.escalation_hours)),
        ),
        next_due_at=Min("checklist__items__due_at", filter=Q(checklist__items__status__in=OPEN_STATUSES)),
    )
    cutoff_start = now + dt.timedelta(hours=clinic.go_no_go_hours)
    return qs.annotate(
        readiness_rank=Case(
            When(open_required=0, then=Value(Readiness.RANK[Readiness.READY])),
            When(start_at__lte=cutoff_start, then=Value(Readiness.RANK[Readiness.NOT_READY])),
            When(escalating_count__gt=0, then=Value(Readiness.RANK[Readiness.AT_RISK])),
            default=Value(Readiness.RANK[Readiness.ON_TRACK]),
            output_field=IntegerField(),
        )
    )


def surgeries_upcoming(*, clinic: Clinic, days: int = 14, now: dt.datetime | None = None) -> QuerySet[Surgery]:
    now = now or timezone.now()
    qs = Surgery.objects.filter(
        clinic=clinic,
        status__in=ACTIVE_SURGERY_STATUSES,
        start_at__gte=now - dt.timedelta(hours=12),
        start_at__lt=now + dt.timedelta(days=days),
    )
    return surgeries_with_readiness(clinic=clinic, qs=qs, now=now).order_by("readiness_rank", "start_at")


PHASES = (
    ("weeks_before", "Weeks before"),
    ("days_before", "Days before"),
    ("day_before", "The day before"),
    ("day_of", "The day of surgery"),
    ("after", "After"),
)


def item_phase(item: ChecklistItem, surgery: Surgery, tz: dt.tzinfo) -> str:
    day = item.due_at.astimezone(tz).date()
    surgery_day = surgery.start_at.astimezone(tz).date()
    delta = (surgery_day - day).days
    if item.due_at > surgery.start_at:
        return "after"
    if delta == 0:
        return "day_of"
    if delta == 1:
        return "day_before"
    if delta <= 7:
        return "days_before"
    return "weeks_before"
