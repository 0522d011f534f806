"""The clinic dashboard's demo history: eight past weeks of surgeries, as the product would have left them.

The demo's own bookings (``devtools.demo``) are all ahead of today, and the dashboard reads the past:
readiness recorded 72, 48 and 24 hours before each surgery, cancellations with their reasons,
items closed late, reminders sent. A past booking cannot go through the booking service (it
refuses a date in the past), so, like ``devtools.seeding``, this writes the rows directly: the
checklist is planned by the real planner, then its items are closed at invented moments, and the
snapshots say what readiness those moments gave. The preparation improves over the eight weeks,
as a clinic's would after adopting the tracker. Deterministic (one seeded random generator).
"""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction

from accounts import permissions as perms
from accounts.models import Role, User
from insights.models import SNAPSHOT_OFFSETS_HOURS, ReadinessSnapshot, SnapshotItem
from insights.selectors import week_of
from patients.models import Clinic, GoDecision, Patient, Surgery, SurgeryStatus
from prep.models import ChecklistItem, ChecklistStatus, ItemStatus, ProcedureVariant, Readiness, ResultKind
from prep.planning import local_to_utc
from prep.services import checklist_generate, checklist_summary_refresh
from reminders.models import Channel, Reminder, Status

HISTORY_WEEKS = 8
PER_WEEK = 6
FIRST = ("Ana", "Ben", "Chloe", "Dev", "Elena", "Farid", "Gina", "Hugo", "Iris", "Jonas", "Kara", "Leo")
LAST = ("Alvarez", "Brooks", "Castillo", "Dubois", "Evans", "Fischer", "Gupta", "Hale", "Ito", "Jensen")
PROCEDURES = ("lumbar-facet-rf", "cervical-facet-rf", "thoracic-facet-rf", "trigeminal-rf")
CANCEL_REASONS = ("prep_tests", "prep_medication", "prep_clearance", "patient_unwell", "patient_request")


def _lab_user(clinic: Clinic) -> User:
    """The demo lab's system user: results that came by interface are recorded under it."""
    user = User.objects.filter(email="lab@demo.preop.test").first()
    if user is None:
        user = User.objects.create_user(
            email="lab@demo.preop.test", first_name="Demo", last_name="Lab", clinic=clinic, role=perms.SYSTEM
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _result(item: ChecklistItem) -> str:
    ti = item.template_item
    kind = ti.result_kind if ti else ResultKind.NONE
    if kind == ResultKind.CHOICE:
        return ti.result_choices[0] if ti and ti.result_choices else ""
    if kind == ResultKind.NUMBER:
        return "13.2"
    if kind == ResultKind.TEXT:
        return "Normal"
    return ""


@transaction.atomic
def demo_history(*, clinic: Clinic, users: dict[str, User], now: dt.datetime) -> int:
    """Write the history unless the clinic has one; return the number of past surgeries written."""
    if ReadinessSnapshot.objects.filter(clinic=clinic).exists():
        return 0
    rng = random.Random(21)  # noqa: S311  # demo data, not security
    nurse, surgeon = users[Role.NURSE], users[Role.SURGEON]
    lab = _lab_user(clinic)
    procedures = [ProcedureVariant.objects.get(slug=slug) for slug in PROCEDURES]
    tz = clinic.tz
    this_week = week_of(now.astimezone(tz).date())
    written = 0
    for weeks_back in range(HISTORY_WEEKS, 0, -1):
        skill = (HISTORY_WEEKS - weeks_back) / (HISTORY_WEEKS - 1)  # 0 in the first week, 1 in the last
        monday = this_week - dt.timedelta(weeks=weeks_back)
        for n in range(PER_WEEK):
            start = local_to_utc(dt.datetime.combine(monday + dt.timedelta(days=n % 5), dt.time(8 + n, 0)), tz)
            booked = start - dt.timedelta(days=rng.randint(12, 30), hours=rng.randint(0, 8))
            written += 1
            patient = Patient.objects.create(
                clinic=clinic,
                mrn=f"DEMO-H{weeks_back:02d}{n}",
                first_name=rng.choice(FIRST),
                last_name=rng.choice(LAST),
                birth_date=dt.date(1950 + rng.randint(0, 35), rng.randint(1, 12), rng.randint(1, 28)),
                email=f"history{weeks_back}{n}@example.org",
                created_by=nurse,
            )
            surgery = Surgery.objects.create(
                patient=patient,
                procedure=rng.choice(procedures),
                start_at=start,
                anaesthesia="local",
                surgeon=surgeon,
                status=SurgeryStatus.DONE,
                created_by=nurse,
            )
            Surgery.objects.filter(pk=surgery.pk).update(created_at=booked)
            checklist = checklist_generate(surgery=surgery, by=nurse)
            fate = rng.random()
            cancel_at = None
            if fate < 0.16 - 0.1 * skill:
                cancel_at = start - dt.timedelta(hours=rng.randint(30, 70))
            # Hours before the start at which every required item was closed (None: never).
            ready_hours: float | None = rng.gauss(30 + 70 * skill, 35)
            if ready_hours is not None and ready_hours < 3:
                ready_hours = None
            items = list(checklist.items.filter(required=True).select_related("template_item"))
            for item in items:
                if ready_hours is None and rng.random() < 0.4:
                    continue  # left open
                hours = (ready_hours or 4) + rng.uniform(0, 96)
                done_at = max(start - dt.timedelta(hours=hours), booked + dt.timedelta(hours=2))
                if ready_hours is not None and done_at > start - dt.timedelta(hours=ready_hours):
                    done_at = start - dt.timedelta(hours=ready_hours)
                if cancel_at is not None and done_at > cancel_at:
                    continue
                item.status, item.completed_at = ItemStatus.DONE, done_at
                item.result_value = _result(item)
                by_lab = item.code in ("hemoglobin", "blood_group") and rng.random() < 0.2 + 0.6 * skill
                item.completed_by = lab if by_lab else (surgeon if item.assignee == "surgeon" else nurse)
                item.result_at = done_at if item.result_value else None
            ChecklistItem.objects.bulk_update(
                items, ["status", "completed_at", "completed_by", "result_value", "result_at"]
            )
            snapshots = []
            opened = rng.random() < 0.3 + 0.5 * skill
            for hours in SNAPSHOT_OFFSETS_HOURS:
                due = start - dt.timedelta(hours=hours)
                if cancel_at is not None and cancel_at < due:
                    continue
                ready = ready_hours is not None and ready_hours >= hours
                state = Readiness.READY if ready else (Readiness.NOT_READY if hours <= 24 else Readiness.AT_RISK)
                closed = [i for i in items if i.completed_at is not None and i.completed_at <= due]
                results = [i for i in closed if i.result_value]
                snapshots.append(
                    ReadinessSnapshot(
                        clinic=clinic,
                        surgery=surgery,
                        procedure_id=surgery.procedure_id,
                        surgeon=surgeon,
                        offset_hours=hours,
                        surgery_start_at=start,
                        week=monday,
                        due_at=due,
                        taken_at=due + dt.timedelta(minutes=rng.randint(0, 5)),
                        state=state,
                        ready=ready,
                        required=len(items),
                        done=len(closed),
                        booked_at=booked,
                        ready_at=start - dt.timedelta(hours=ready_hours) if ready and ready_hours is not None else None,
                        portal_opened=opened,
                        confirmed=opened and rng.random() < 0.6,
                        results_interface=sum(1 for i in results if i.completed_by_id == lab.pk),
                        results_hand=sum(1 for i in results if i.completed_by_id != lab.pk),
                    )
                )
            for snapshot in snapshots[:-1]:
                snapshot.final = False
            ReadinessSnapshot.objects.bulk_create(snapshots)
            if snapshots:
                last = snapshots[-1]
                late = [
                    i
                    for i in items
                    if (i.completed_at is not None and i.completed_at > i.due_at)
                    or (i.completed_at is None and i.due_at < last.due_at)
                ]
                SnapshotItem.objects.bulk_create(
                    SnapshotItem(
                        snapshot=last, clinic=clinic, week=monday, code=i.code, title=i.title[:200], overdue=True
                    )
                    for i in late
                )
            if cancel_at is not None:
                reason = rng.choice(CANCEL_REASONS)
                Surgery.objects.filter(pk=surgery.pk).update(
                    status=SurgeryStatus.CANCELLED, cancel_reason=reason, cancelled_at=cancel_at
                )
                checklist.status, checklist.closed_reason = ChecklistStatus.CLOSED, "Surgery cancelled (demo history)"
                checklist.save(update_fields=["status", "closed_reason"])
            elif ready_hours is None and rng.random() < 0.5:
                Surgery.objects.filter(pk=surgery.pk).update(
                    status=SurgeryStatus.POSTPONED,
                    go_decision=GoDecision.NO_GO,
                    no_go_reason=rng.choice(("prep_tests", "prep_medication", "prep_fasting")),
                    go_decided_at=start - dt.timedelta(hours=20),
                    go_decided_by=surgeon,
                )
            checklist.refresh_from_db()
            checklist_summary_refresh(checklist=checklist, now=now)
            _reminders(clinic=clinic, surgery=surgery, start=start, rng=rng, skill=skill, cancelled=cancel_at)
    return written


def _reminders(
    *,
    clinic: Clinic,
    surgery: Surgery,
    start: dt.datetime,
    rng: random.Random,
    skill: float,
    cancelled: dt.datetime | None,
) -> None:
    rows = []
    for n, days in enumerate((7, 3, 1)):
        planned = start - dt.timedelta(days=days)
        sms = n != 0 and rng.random() < 0.6
        if cancelled is not None and cancelled < planned:
            status, reason = Status.CANCELLED, "Surgery moved or cancelled"
        elif sms:
            roll = rng.random()
            if roll < 0.06:
                status, reason = Status.SUPPRESSED, "Patient replied STOP"
            elif roll < 0.16 - 0.06 * skill:
                status, reason = Status.FAILED, "The carrier did not deliver the text"
            elif roll < 0.2:
                status, reason = Status.EXPIRED, "Quiet hours; the next allowed time is past its deadline"
            else:
                status, reason = Status.DELIVERED, ""
        else:
            status, reason = Status.SENT, ""
        rows.append(
            Reminder(
                clinic=clinic,
                patient_id=surgery.patient_id,
                surgery=surgery,
                surgery_version=1,
                kind="tests" if n == 0 else "task",
                channel=Channel.SMS if sms else Channel.EMAIL,
                key=f"demo-history:{surgery.pk}:{n}",
                planned_at=planned,
                due_at=planned,
                not_after=start,
                next_attempt_at=planned,
                status=status,
                status_reason=reason,
                sent_at=planned if status in (Status.SENT, Status.DELIVERED, Status.FAILED) else None,
            )
        )
    Reminder.objects.bulk_create(rows)
