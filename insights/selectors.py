"""The clinic dashboard's figures: aggregate queries, one clinic, in the clinic's time zone.

Every figure is a fixed number of queries whatever the amount of data (``dashboard_figures`` makes
eight), grouped in the database; Python only arranges the few rows that come back. The per-surgery
figures read each surgery's latest snapshot (``insights.services`` records them with it), never the
items themselves: a walk through a period's items cost ~1 s at 100,000 patients. Weeks start on
Monday at 00:00 in the clinic's time zone; a period is whole weeks. Surgery-based figures count
the surgeries whose start falls in the period.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Aggregate, Case, CharField, Count, F, FloatField, Max, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from inbox.models import InboxMessage, MessageStatus
from insights.models import SNAPSHOT_OFFSETS_HOURS, ReadinessSnapshot, SnapshotItem
from patients.models import PREPARATION_REASONS, CancelReason, Clinic, GoDecision, Surgery, SurgeryStatus
from prep.models import ItemStatus
from reminders.models import Channel, Reminder, Status

OPEN_STATUSES = (ItemStatus.OPEN, ItemStatus.PATIENT_CONFIRMED)
# The reminder reasons (``reminders.services``) the dashboard groups: STOP or no consent, and the two
# holds that postpone a text (kept as the reason if it then expires, or until it goes).
STOP_REASONS = ("Patient replied STOP", "Patient opted out of texts or has no consent")
QUIET_HOURS_PREFIX = "Quiet hours"
DAILY_LIMIT_PREFIX = "Daily text limit"
UNRECORDED = "unrecorded"


def week_of(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


@dataclass(frozen=True)
class Period:
    """Whole weeks, clinic-local: from the Monday of ``start``'s week to the Sunday of ``end``'s."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("The period ends before it starts.")
        object.__setattr__(self, "start", week_of(self.start))
        object.__setattr__(self, "end", week_of(self.end) + dt.timedelta(days=6))

    @property
    def weeks(self) -> list[dt.date]:
        count = (self.end - self.start).days // 7 + 1
        return [self.start + dt.timedelta(weeks=n) for n in range(count)]

    def bounds(self, clinic: Clinic) -> tuple[dt.datetime, dt.datetime]:
        """The period as UTC instants: local midnight of its first Monday to that after its last Sunday."""
        tz = clinic.tz
        first = dt.datetime.combine(self.start, dt.time(0), tzinfo=tz)
        after = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
        return first.astimezone(dt.UTC), after.astimezone(dt.UTC)

    @classmethod
    def last_weeks(cls, *, clinic: Clinic, weeks: int = 12, now: dt.datetime | None = None) -> Period:
        today = (now or timezone.now()).astimezone(clinic.tz).date()
        return cls(start=week_of(today) - dt.timedelta(weeks=weeks - 1), end=today)


@dataclass(frozen=True)
class Filters:
    procedure_id: int | None = None
    surgeon_id: int | None = None


@dataclass
class Share:
    part: int = 0
    total: int = 0
    late: int = 0

    @property
    def percent(self) -> float | None:
        return round(100 * self.part / self.total, 1) if self.total else None


@dataclass
class WeekReadiness:
    week: dt.date
    by_offset: dict[int, Share]


@dataclass
class OutcomeRow:
    code: str
    label: str
    preparation: bool
    cancelled: int = 0
    no_go: int = 0
    postponed: int = 0

    @property
    def total(self) -> int:
        return self.cancelled + self.no_go + self.postponed


@dataclass
class Outcomes:
    surgeries: int
    rows: list[OutcomeRow]

    @property
    def preparation(self) -> int:
        return sum(r.total for r in self.rows if r.preparation)

    @property
    def other(self) -> int:
        return sum(r.total for r in self.rows if not r.preparation)


@dataclass
class ItemRow:
    code: str
    title: str
    overdue: int = 0
    reopened: int = 0


@dataclass
class ChannelRow:
    channel: str
    label: str
    counts: dict[str, int] = field(default_factory=dict)  # status -> reminders
    stopped: int = 0  # suppressed by STOP or missing consent
    quiet_hours: int = 0  # postponed by quiet hours (still pending, or expired so)
    daily_limit: int = 0  # postponed by the daily text limit

    @property
    def planned(self) -> int:
        return sum(self.counts.values())

    def __getitem__(self, status: str) -> int:
        return self.counts.get(status, 0)

    @property
    def reached(self) -> int:
        """Handed to the provider and not reported failed (email has no delivery report)."""
        return self[Status.SENT] + self[Status.DELIVERED]

    @property
    def due(self) -> int:
        """Reminders that were to go out: reached, failed, suppressed or expired (not cancelled or pending)."""
        return self.reached + self[Status.FAILED] + self[Status.SUPPRESSED] + self[Status.EXPIRED]


@dataclass
class Results:
    by_interface: int
    by_hand: int
    received: dict[str, int]  # inbox messages received in the period, by status
    waiting: int  # the review queue now
    oldest_wait: dt.timedelta | None
    median_wait: dt.timedelta | None


@dataclass
class Headline:
    ready_72h: Share
    preparation_cancellations: int
    surgeries: int
    reminders_reached: Share


@dataclass
class Dashboard:
    period: Period
    readiness: list[WeekReadiness]
    outcomes: Outcomes
    items: list[ItemRow]
    booking_to_ready: dt.timedelta | None
    booking_to_ready_count: int
    reminders: list[ChannelRow]
    portal: dict[str, int]
    results: Results

    @property
    def headline(self) -> Headline:
        return _headline(self.readiness, self.outcomes, self.reminders)


def _surgeries(*, clinic: Clinic, period: Period, filters: Filters, prefix: str = "") -> Q:
    start, after = period.bounds(clinic)
    q = Q(**{f"{prefix}clinic_id": clinic.pk, f"{prefix}start_at__gte": start, f"{prefix}start_at__lt": after})
    if filters.procedure_id:
        q &= Q(**{f"{prefix}procedure_id": filters.procedure_id})
    if filters.surgeon_id:
        q &= Q(**{f"{prefix}surgeon_id": filters.surgeon_id})
    return q


def readiness_by_week(*, clinic: Clinic, period: Period, filters: Filters) -> list[WeekReadiness]:
    """Share of surgeries ready 72, 48 and 24 hours before, per week of their start (one query).

    From the snapshots recorded at those moments, never from today's items.
    """
    qs = ReadinessSnapshot.objects.filter(
        clinic_id=clinic.pk, current=True, week__gte=period.start, week__lte=period.end
    )
    if filters.procedure_id:
        qs = qs.filter(procedure_id=filters.procedure_id)
    if filters.surgeon_id:
        qs = qs.filter(surgeon_id=filters.surgeon_id)
    found = {
        (row["week"], row["offset_hours"]): Share(part=row["ready_n"], total=row["total"], late=row["late_n"])
        for row in qs.values("week", "offset_hours")
        .annotate(total=Count("pk"), ready_n=Count("pk", filter=Q(ready=True)), late_n=Count("pk", filter=Q(late=True)))
        .order_by()
    }
    return [
        WeekReadiness(week=week, by_offset={h: found.get((week, h), Share()) for h in SNAPSHOT_OFFSETS_HOURS})
        for week in period.weeks
    ]


def surgery_outcomes(*, clinic: Clinic, period: Period, filters: Filters) -> Outcomes:
    """Surgeries cancelled, given a No go, or postponed, by the reason from the list (one query).

    A surgery counts once: cancelled (its cancel reason) before No go (its reason) before postponed.
    Those recorded before reasons were a list have none: "No reason recorded".
    """
    rows = (
        Surgery.objects.filter(_surgeries(clinic=clinic, period=period, filters=filters))
        .values("status", "go_decision", "cancel_reason", "no_go_reason")
        .annotate(n=Count("pk"))
        .order_by()
    )
    total = 0
    by_code: dict[str, OutcomeRow] = {}
    for row in rows:
        total += row["n"]
        if row["status"] == SurgeryStatus.CANCELLED:
            kind, code = "cancelled", row["cancel_reason"]
        elif row["go_decision"] == GoDecision.NO_GO:
            kind, code = "no_go", row["no_go_reason"]
        elif row["status"] == SurgeryStatus.POSTPONED:
            kind, code = "postponed", ""
        else:
            continue
        code = code or UNRECORDED
        if code not in by_code:
            label = CancelReason(code).label if code in CancelReason.values else "No reason recorded"
            by_code[code] = OutcomeRow(code=code, label=label, preparation=code in PREPARATION_REASONS)
        setattr(by_code[code], kind, getattr(by_code[code], kind) + row["n"])
    order = {code: n for n, code in enumerate([*CancelReason.values, UNRECORDED])}
    return Outcomes(surgeries=total, rows=sorted(by_code.values(), key=lambda r: order[r.code]))


def _final_snapshots(*, clinic: Clinic, period: Period, filters: Filters, prefix: str = "") -> Q:
    """Each surgery's latest snapshot (of the start it still has), for the period's weeks."""
    q = Q(
        **{
            f"{prefix}clinic_id": clinic.pk,
            f"{prefix}current": True,
            f"{prefix}final": True,
            f"{prefix}week__gte": period.start,
            f"{prefix}week__lte": period.end,
        }
    )
    if filters.procedure_id:
        q &= Q(**{f"{prefix}procedure_id": filters.procedure_id})
    if filters.surgeon_id:
        q &= Q(**{f"{prefix}surgeon_id": filters.surgeon_id})
    return q


def items_in_trouble(*, clinic: Clinic, period: Period, filters: Filters, limit: int = 8) -> list[ItemRow]:
    """The required items most often overdue or reopened, as they stood at each surgery's latest
    snapshot (one query). Overdue: done after its due time, or still open past it. Reopened: each
    time the item was (undone by staff, or a result that expired when the surgery moved)."""
    rows = (
        SnapshotItem.objects.filter(clinic_id=clinic.pk, week__gte=period.start, week__lte=period.end)
        .filter(_final_snapshots(clinic=clinic, period=period, filters=filters, prefix="snapshot__"))
        .values("code")
        .annotate(overdue_n=Count("pk", filter=Q(overdue=True)), reopened_n=Sum("reopened"), title_any=Max("title"))
        .annotate(trouble=F("overdue_n") + F("reopened_n"))
        .order_by("-trouble", "code")[:limit]
    )
    return [
        ItemRow(code=r["code"], title=r["title_any"], overdue=r["overdue_n"], reopened=r["reopened_n"]) for r in rows
    ]


def booking_to_ready(*, clinic: Clinic, period: Period, filters: Filters) -> tuple[dt.timedelta | None, int]:
    """Median time from booking to ready, over the period's surgeries ready at their latest snapshot (one
    query). Ready: every required item closed, at the last of their closing times (an item reopened
    and closed again counts from its last closing)."""
    qs = ReadinessSnapshot.objects.filter(
        _final_snapshots(clinic=clinic, period=period, filters=filters), ready_at__isnull=False, booked_at__isnull=False
    )
    if connection.vendor == "postgresql":
        # In the database: a few thousand rows need not travel to Python for one number.
        found = qs.aggregate(median=_MedianSeconds(F("ready_at") - F("booked_at")), n=Count("pk"))
        if not found["n"]:
            return None, 0
        return dt.timedelta(seconds=round(found["median"], 6)), found["n"]
    durations = [
        max(ready - booked, dt.timedelta(0))
        for booked, ready in qs.values_list("booked_at", "ready_at")
        if booked is not None and ready is not None  # filtered above; said for the type checker
    ]
    if not durations:
        return None, 0
    return dt.timedelta(seconds=statistics.median(d.total_seconds() for d in durations)), len(durations)


class _MedianSeconds(Aggregate):
    """PostgreSQL's median of a duration, in seconds (negative durations count as 0, as in Python)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY GREATEST(EXTRACT(EPOCH FROM %(expressions)s), 0))"
    output_field = FloatField()


def reminders_by_channel(*, clinic: Clinic, period: Period, filters: Filters) -> list[ChannelRow]:
    """Reminders planned for the period, by channel and status, with the reasons held (one query)."""
    start, after = period.bounds(clinic)
    qs = Reminder.objects.filter(clinic_id=clinic.pk, planned_at__gte=start, planned_at__lt=after)
    if filters.procedure_id:
        qs = qs.filter(surgery__procedure_id=filters.procedure_id)
    if filters.surgeon_id:
        qs = qs.filter(surgery__surgeon_id=filters.surgeon_id)
    held = Case(
        When(status_reason__in=STOP_REASONS, then=Value("stop")),
        When(status_reason__startswith=QUIET_HOURS_PREFIX, then=Value("quiet_hours")),
        When(status_reason__startswith=DAILY_LIMIT_PREFIX, then=Value("daily_limit")),
        default=Value(""),
        output_field=CharField(),
    )
    rows = {c: ChannelRow(channel=c.value, label=c.label) for c in Channel}
    for row in qs.annotate(held=held).values("channel", "status", "held").annotate(n=Count("pk")).order_by():
        target = rows[Channel(row["channel"])]
        target.counts[row["status"]] = target.counts.get(row["status"], 0) + row["n"]
        if row["held"] == "stop" and row["status"] == Status.SUPPRESSED:
            target.stopped += row["n"]
        elif row["held"] == "quiet_hours":
            target.quiet_hours += row["n"]
        elif row["held"] == "daily_limit":
            target.daily_limit += row["n"]
    return list(rows.values())


def surgery_totals(*, clinic: Clinic, period: Period, filters: Filters) -> dict[str, int]:
    """Over the period's surgeries, at their latest snapshot: how many, how many patients had opened the
    portal and had confirmed an item, and the results recorded by interface and by hand (one query)."""
    totals = ReadinessSnapshot.objects.filter(
        _final_snapshots(clinic=clinic, period=period, filters=filters)
    ).aggregate(
        surgeries=Count("pk"),
        opened=Count("pk", filter=Q(portal_opened=True)),
        confirmed=Count("pk", filter=Q(confirmed=True)),
        by_interface=Coalesce(Sum("results_interface"), 0),
        by_hand=Coalesce(Sum("results_hand"), 0),
    )
    return {name: int(value) for name, value in totals.items()}


def inbox_now(*, clinic: Clinic, period: Period, now: dt.datetime) -> tuple[dict[str, int], list[dt.timedelta]]:
    """The inbox's messages received in the period by status, and the review queue's waits now (two queries;
    not filtered by procedure or surgeon: a message waiting there may not be matched to a surgery yet)."""
    start, after = period.bounds(clinic)
    received = {
        row["status"]: row["n"]
        for row in InboxMessage.objects.filter(clinic_id=clinic.pk, received_at__gte=start, received_at__lt=after)
        .values("status")
        .annotate(n=Count("pk"))
        .order_by()
    }
    waits = [
        now - received_at
        for received_at in InboxMessage.objects.filter(clinic_id=clinic.pk, status=MessageStatus.REVIEW).values_list(
            "received_at", flat=True
        )
    ]
    return received, waits


def results_from(totals: dict[str, int], received: dict[str, int], waits: list[dt.timedelta]) -> Results:
    median = dt.timedelta(seconds=statistics.median(w.total_seconds() for w in waits)) if waits else None
    return Results(
        by_interface=totals["by_interface"],
        by_hand=totals["by_hand"],
        received=received,
        waiting=len(waits),
        oldest_wait=max(waits) if waits else None,
        median_wait=median,
    )


def _headline(readiness: list[WeekReadiness], outcomes: Outcomes, reminders: list[ChannelRow]) -> Headline:
    ready = Share()
    for week in readiness:
        share = week.by_offset[72]
        ready.part, ready.total, ready.late = (
            ready.part + share.part,
            ready.total + share.total,
            ready.late + share.late,
        )
    reached = Share(part=sum(r.reached for r in reminders), total=sum(r.due for r in reminders))
    return Headline(
        ready_72h=ready,
        preparation_cancellations=outcomes.preparation,
        surgeries=outcomes.surgeries,
        reminders_reached=reached,
    )


def headline_figures(*, clinic: Clinic, period: Period, now: dt.datetime | None = None) -> Headline:
    """The three figures of the weekly summary (three queries): ready 72 h before, cancellations and
    No gos for preparation reasons, and reminders that reached the patient."""
    filters = Filters()
    return _headline(
        readiness_by_week(clinic=clinic, period=period, filters=filters),
        surgery_outcomes(clinic=clinic, period=period, filters=filters),
        reminders_by_channel(clinic=clinic, period=period, filters=filters),
    )


def dashboard_figures(*, clinic: Clinic, period: Period, filters: Filters, now: dt.datetime | None = None) -> Dashboard:
    """Every figure of the dashboard: eight queries, whatever the clinic's size.

    The per-surgery figures come from each surgery's latest readiness snapshot (``insights.services``
    records them with it), the readiness from the snapshots of each moment; only the outcomes
    (cancellations, No gos) and the reminders are read live, by clinic and period, through indexes.
    """
    now = now or timezone.now()
    median, measured = booking_to_ready(clinic=clinic, period=period, filters=filters)
    totals = surgery_totals(clinic=clinic, period=period, filters=filters)
    received, waits = inbox_now(clinic=clinic, period=period, now=now)
    return Dashboard(
        period=period,
        readiness=readiness_by_week(clinic=clinic, period=period, filters=filters),
        outcomes=surgery_outcomes(clinic=clinic, period=period, filters=filters),
        items=items_in_trouble(clinic=clinic, period=period, filters=filters),
        booking_to_ready=median,
        booking_to_ready_count=measured,
        reminders=reminders_by_channel(clinic=clinic, period=period, filters=filters),
        portal={name: totals[name] for name in ("surgeries", "opened", "confirmed")},
        results=results_from(totals, received, waits),
    )


def clinic_surgeons(*, clinic: Clinic) -> QuerySet:
    """The surgeons the dashboard's filter offers: the clinic's own."""
    from accounts.models import Role, User

    return User.objects.filter(clinic=clinic, role=Role.SURGEON).order_by("last_name", "first_name", "email")


def week_label(week: dt.date) -> str:
    return f"{week:%d %b}".lstrip("0")
