"""Writes of the clinic dashboard: readiness snapshots, and the weekly summary email."""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q
from django.utils import timezone

from accounts import permissions as perms
from accounts.models import Role, User
from audit.models import AccessLog
from insights import selectors
from insights.models import SNAPSHOT_OFFSETS_HOURS, ReadinessSnapshot, SnapshotItem, WeeklySummary
from patients.models import Clinic, Surgery, SurgeryStatus
from prep.models import CLOSED_STATUSES, ChecklistItem, ItemStatus, Readiness
from prep.selectors import surgeries_with_summary
from prep.services import readiness_refresh_due
from reminders.transports import TransportError, email_transport

logger = logging.getLogger(__name__)

_STATE_OF_RANK = {rank: state for state, rank in Readiness.RANK.items()}


@dataclass
class SnapshotRun:
    recorded: int = 0
    late: int = 0
    superseded: int = 0


def readiness_snapshots_record(*, now: dt.datetime | None = None) -> SnapshotRun:
    """Record the readiness of every surgery whose 72, 48 or 24 hours before has come and has none yet.

    Idempotent (one row per surgery, offset and start: a second run, or a second beat, inserts
    nothing) and catching up: a moment passed within ``INSIGHTS_SNAPSHOT_CATCH_UP_HOURS`` that has
    no snapshot (the task was down) gets one now, with the readiness *as it stands now* and
    ``late`` set when more than ``INSIGHTS_SNAPSHOT_LATE_MINUTES`` passed. Surgeries that were
    active at the moment count (booked, postponed, since done, or cancelled after it); a surgery
    cancelled before its moment has none. At most ``INSIGHTS_SNAPSHOT_BATCH`` per offset and run,
    oldest first: a long catch-up finishes over the next runs. A fixed number of queries per offset.
    """
    now = now or timezone.now()
    run = SnapshotRun()
    window = dt.timedelta(hours=settings.INSIGHTS_SNAPSHOT_CATCH_UP_HOURS)
    late_after = dt.timedelta(minutes=settings.INSIGHTS_SNAPSHOT_LATE_MINUTES)
    # Snapshots of a date the surgery no longer has leave the figures (a moved surgery gets new ones).
    run.superseded = (
        ReadinessSnapshot.objects.filter(current=True, surgery_start_at__gte=now - window)
        .exclude(surgery_start_at=F("surgery__start_at"))
        .update(current=False)
    )
    # ...and a surgery moved back to a date it had has those snapshots again (one per start: the constraint).
    ReadinessSnapshot.objects.filter(
        current=False, surgery_start_at__gte=now - window, surgery_start_at=F("surgery__start_at")
    ).update(current=True)
    for hours in SNAPSHOT_OFFSETS_HOURS:
        offset = dt.timedelta(hours=hours)
        candidates = (
            Surgery.objects.filter(start_at__gt=now + offset - window, start_at__lte=now + offset)
            .filter(
                Q(status__in=(SurgeryStatus.BOOKED, SurgeryStatus.POSTPONED, SurgeryStatus.DONE))
                | Q(status=SurgeryStatus.CANCELLED, cancelled_at__gt=F("start_at") - offset)
            )
            .exclude(
                Exists(
                    ReadinessSnapshot.objects.filter(
                        surgery_id=OuterRef("pk"), offset_hours=hours, surgery_start_at=OuterRef("start_at")
                    )
                )
            )
            .order_by("start_at")
        )
        ids = list(candidates.values_list("pk", flat=True)[: settings.INSIGHTS_SNAPSHOT_BATCH])
        if not ids:
            continue
        scope = Surgery.objects.filter(pk__in=ids)
        readiness_refresh_due(surgeries=scope, now=now)
        facts = _surgery_facts(ids=ids, now=now)
        troubled = _troubled_items(ids=ids, now=now)
        # A surgery already recorded nearer its start (a catch-up that went in batches) keeps that one final.
        nearer = set(
            ReadinessSnapshot.objects.filter(surgery_id__in=ids, current=True, offset_hours__lt=hours).values_list(
                "surgery_id", flat=True
            )
        )
        rows = surgeries_with_summary(qs=scope).values(
            "pk",
            "clinic_id",
            "clinic__time_zone",
            "procedure_id",
            "surgeon_id",
            "start_at",
            "readiness_rank",
            "required_count",
            "done_count",
            "overdue_count",
        )
        snapshots = []
        for row in rows:
            start: dt.datetime = row["start_at"]
            due = start - offset
            state = _STATE_OF_RANK[row["readiness_rank"]]
            local_day = start.astimezone(zoneinfo.ZoneInfo(row["clinic__time_zone"])).date()
            fact = facts[row["pk"]]
            snapshots.append(
                ReadinessSnapshot(
                    clinic_id=row["clinic_id"],
                    surgery_id=row["pk"],
                    procedure_id=row["procedure_id"],
                    surgeon_id=row["surgeon_id"],
                    offset_hours=hours,
                    surgery_start_at=start,
                    week=selectors.week_of(local_day),
                    due_at=due,
                    taken_at=now,
                    late=now - due > late_after,
                    state=state,
                    ready=state == Readiness.READY,
                    required=row["required_count"],
                    done=row["done_count"],
                    overdue=row["overdue_count"],
                    final=row["pk"] not in nearer,
                    **fact,
                )
            )
        try:
            with transaction.atomic():
                ReadinessSnapshot.objects.filter(
                    surgery_id__in=ids, current=True, final=True, offset_hours__gt=hours
                ).update(final=False)
                ReadinessSnapshot.objects.bulk_create(snapshots)
                SnapshotItem.objects.bulk_create(
                    SnapshotItem(snapshot=snapshot, clinic_id=snapshot.clinic_id, week=snapshot.week, **item)
                    for snapshot in snapshots
                    for item in troubled.get(snapshot.surgery_id, ())
                )
        except IntegrityError:
            # Another run recorded some of them at the same moment (the constraint): the next run
            # records what is still missing.
            logger.info("readiness snapshots: another run got there first (offset %s h)", hours)
            continue
        run.recorded += len(snapshots)
        run.late += sum(s.late for s in snapshots)
    if run.recorded or run.superseded:
        logger.info("readiness snapshots recorded=%s late=%s superseded=%s", run.recorded, run.late, run.superseded)
    return run


def _surgery_facts(*, ids: list[int], now: dt.datetime) -> dict[int, dict[str, Any]]:
    """Per surgery, at ``now``: when it was booked and got ready, portal use, results by how they came (one query)."""
    items = "checklist__items__"
    result = Q(**{f"{items}status__in": (ItemStatus.DONE, ItemStatus.ACCEPTED)}) & ~Q(**{f"{items}result_value": ""})
    system = Q(**{f"{items}completed_by__role": perms.SYSTEM})
    required = Q(**{f"{items}required": True})
    rows = (
        Surgery.objects.filter(pk__in=ids)
        .annotate(
            required_n=Count(f"{items}pk", filter=required),
            open_required=Count(f"{items}pk", filter=required & ~Q(**{f"{items}status__in": CLOSED_STATUSES})),
            last_closed=Max(f"{items}completed_at", filter=required),
            results_interface=Count(f"{items}pk", filter=result & system),
            results_hand=Count(f"{items}pk", filter=result & ~system),
            portal_opened=Exists(
                AccessLog.objects.filter(patient_id=OuterRef("patient_id"), role=perms.PATIENT, at__lte=now)
            ),
            confirmed=Exists(
                ChecklistItem.objects.filter(checklist__surgery_id=OuterRef("pk"), confirmed_at__isnull=False)
            ),
        )
        .values(
            "pk",
            "created_at",
            "required_n",
            "open_required",
            "last_closed",
            "results_interface",
            "results_hand",
            "portal_opened",
            "confirmed",
        )
    )
    return {
        row["pk"]: {
            "booked_at": row["created_at"],
            "ready_at": row["last_closed"] if row["required_n"] and not row["open_required"] else None,
            "portal_opened": row["portal_opened"],
            "confirmed": row["confirmed"],
            "results_interface": row["results_interface"],
            "results_hand": row["results_hand"],
        }
        for row in rows
    }


def _troubled_items(*, ids: list[int], now: dt.datetime) -> dict[int, list[dict[str, Any]]]:
    """Per surgery, its required items overdue at ``now`` (done after their due time, or open past it)
    or reopened so far (undone by staff, or a result that expired when the surgery moved): two queries."""
    late_done = Q(status__in=(ItemStatus.DONE, ItemStatus.ACCEPTED), completed_at__gt=F("due_at"))
    still_open = Q(status__in=(ItemStatus.OPEN, ItemStatus.PATIENT_CONFIRMED), due_at__lt=now)
    found: dict[tuple[int, str], dict[str, Any]] = {}
    overdue = (
        ChecklistItem.objects.filter(checklist__surgery_id__in=ids, required=True)
        .filter(late_done | still_open)
        .values_list("checklist__surgery_id", "code", "title")
    )
    for surgery_id, code, title in overdue:
        found[(surgery_id, code)] = {"code": code, "title": title[:200], "overdue": True, "reopened": 0}
    history = ChecklistItem.history.model.objects
    reopened = (
        history.filter(checklist__surgery_id__in=ids, required=True, history_change_reason__startswith="Reopened")
        .values("checklist__surgery_id", "code")
        .annotate(n=Count("history_id"), title=Max("title"))
        .order_by()
    )
    for row in reopened:
        key = (row["checklist__surgery_id"], row["code"])
        item = found.setdefault(key, {"code": row["code"], "title": row["title"][:200], "overdue": False})
        item["reopened"] = row["n"]
    by_surgery: dict[int, list[dict[str, Any]]] = {}
    for (surgery_id, _code), item in sorted(found.items()):
        by_surgery.setdefault(surgery_id, []).append(item)
    return by_surgery


# --- The weekly summary ------------------------------------------------------------------------


def weekly_summaries_send(*, now: dt.datetime | None = None) -> int:
    """The previous week's headline figures to each clinic admin, once per admin and week.

    Goes from Monday at the clinic's ``digest_hour`` (local time); a run that missed Monday (the
    beat was down) sends it on a later day of the same week. A row per admin and week is inserted
    before sending, as the nurses' digest does: never twice. Returns the number sent.
    """
    now = now or timezone.now()
    sent = 0
    for clinic in Clinic.objects.all():
        local = now.astimezone(clinic.tz)
        if local.weekday() == 0 and local.hour < clinic.digest_hour:
            continue
        this_week = selectors.week_of(local.date())
        week = this_week - dt.timedelta(days=7)
        admins = list(
            User.objects.filter(clinic=clinic, role=Role.CLINIC_ADMIN, is_active=True)
            .exclude(email="")
            .exclude(Exists(WeeklySummary.objects.filter(recipient_id=OuterRef("pk"), week=week)))
        )
        if not admins:
            continue
        headline = selectors.headline_figures(clinic=clinic, period=selectors.Period(start=week, end=week), now=now)
        for admin in admins:
            sent += _summary_send_one(admin=admin, clinic=clinic, week=week, headline=headline)
    return sent


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:g}%"


def _summary_send_one(*, admin: User, clinic: Clinic, week: dt.date, headline: selectors.Headline) -> int:
    from django.core.mail import EmailMultiAlternatives
    from django.template.loader import render_to_string

    from core.text import render_text

    try:
        with transaction.atomic():
            summary = WeeklySummary.objects.create(recipient=admin, week=week)
    except IntegrityError:
        return 0  # another run got there first
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    context = {
        "clinic": clinic,
        "admin": admin,
        "week": week,
        "week_end": week + dt.timedelta(days=6),
        "headline": headline,
        "ready": _percent(headline.ready_72h.percent),
        "reached": _percent(headline.reminders_reached.percent),
        "link": f"{base}/dashboard/?start={week.isoformat()}&end={week.isoformat()}",
    }
    message = EmailMultiAlternatives(
        subject=" ".join(render_text("emails/weekly_summary/subject.en.txt", context).split()),
        body=render_text("emails/weekly_summary/body.en.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[admin.email],
        headers={"Auto-Submitted": "auto-generated", "Summary-Id": f"{admin.pk}-{week.isoformat()}"},
    )
    message.attach_alternative(render_to_string("emails/weekly_summary/body.en.html", context), "text/html")
    try:
        provider_id = email_transport().send(message)
    except TransportError as exc:
        # Not retried: a summary is a convenience, and "never twice" matters more (as the digest).
        WeeklySummary.objects.filter(pk=summary.pk).update(
            status=WeeklySummary.Status.FAILED, last_error=str(exc)[:300]
        )
        logger.warning("weekly summary failed summary=%s error=%s", summary.pk, exc)
        return 0
    WeeklySummary.objects.filter(pk=summary.pk).update(
        status=WeeklySummary.Status.SENT, provider_id=provider_id, sent_at=timezone.now()
    )
    return 1
