"""The planner: which reminders a checklist should have now, written in the checklist's transaction.

Called explicitly (``checklist_changed``, ``surgery_changed``, ``patient_changed``) as the last step
of every action (``actions/``) that can change what a checklist asks of the patient; no hook or
signal runs it. What gets a reminder is catalogue data (``TemplateItem.reminder_offsets_hours``);
the patient's channels and consent, the clinic's quiet hours in the patient's own time zone and
the daily SMS limit shape it. Rows are keyed by surgery version so that a plan for an old date can
never send, and are cancelled, never deleted.

Offsets that are whole days (24, 72 h) are calendar days in the patient's zone (same wall-clock
time, across daylight-saving changes); other offsets are elapsed hours: ``prep.planning.hours_before``,
the rule holds use too.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import cast

from django.db.models import Q
from django.utils import timezone

from patients.models import Clinic, Guardian, Patient, Surgery, SurgeryStatus
from prep.models import (
    Category,
    Checklist,
    ChecklistItem,
    ChecklistStatus,
    ItemStatus,
    TemplateItem,
    default_reminder_kind,
)
from prep.planning import hours_before, local_to_utc
from reminders.models import LIVE_STATUSES, Channel, Kind, Reminder, Status

UTC = dt.UTC
# Moving a reminder back before the quiet hours (when after them is too late) leaves this margin.
QUIET_MARGIN = dt.timedelta(minutes=15)
# Patient-facing categories: the tests and imaging the patient has to attend, even when a nurse records them.
ATTEND_CATEGORIES = (Category.TESTS, Category.IMAGING)


@dataclass
class Planned:
    key: str
    channel: str
    kind: str
    items: list[ChecklistItem]
    planned_at: dt.datetime
    due_at: dt.datetime
    not_after: dt.datetime
    covers: list[int] = field(default_factory=list)
    guardian: Guardian | None = None


@dataclass(frozen=True)
class Recipient:
    """Who a reminder goes to: the patient (``guardian`` None) or one of their guardians."""

    guardian: Guardian | None
    email: str
    mobile: str
    language: str
    use_email: bool
    use_sms: bool
    sms_detailed: bool

    @property
    def key_part(self) -> str:
        # The patient's own rows keep the key they always had; a guardian's carry the guardian.
        return f"g{self.guardian.pk}:" if self.guardian is not None else ""


def recipient_of(patient: Patient, guardian: Guardian | None) -> Recipient:
    if guardian is None:
        return Recipient(
            guardian=None,
            email=patient.email,
            mobile=patient.mobile,
            language=patient.language,
            use_email=patient.channel_email and bool(patient.email),
            use_sms=patient.can_receive_sms,
            sms_detailed=patient.sms_detailed,
        )
    live = guardian.receives_messages
    return Recipient(
        guardian=guardian,
        email=guardian.email,
        mobile=guardian.mobile,
        language=guardian.language,
        use_email=live and guardian.channel_email and bool(guardian.email),
        use_sms=live and guardian.can_receive_sms,
        sms_detailed=guardian.sms_detailed,
    )


def local_today(patient: Patient, now: dt.datetime) -> dt.date:
    return now.astimezone(patient.tz).date()


def recipients_on(patient: Patient, day: dt.date, guardians: list[Guardian]) -> list[Recipient]:
    """Who receives the patient's messages on ``day`` (the patient's local date).

    While the patient needs a guardian, the guardians who receive messages, and never the patient
    (none of them: nobody, so the child's own contact gets nothing). From the 18th birthday, unless
    staff marked the patient as needing a guardian, the patient alone.
    """
    if not patient.guardian_required_on(day):
        return [recipient_of(patient, None)]
    out: list[Recipient] = []
    emails: set[str] = set()
    mobiles: set[str] = set()
    for guardian in guardians:
        if not guardian.receives_messages:
            continue
        recipient = recipient_of(patient, guardian)
        # Two parents who gave the same address or number get one message there, not two.
        use_email = recipient.use_email and recipient.email.lower() not in emails
        use_sms = recipient.use_sms and recipient.mobile not in mobiles
        if use_email:
            emails.add(recipient.email.lower())
        if use_sms:
            mobiles.add(recipient.mobile)
        out.append(replace(recipient, use_email=use_email, use_sms=use_sms))
    return out


def patient_guardians(patient: Patient, now: dt.datetime) -> list[Guardian]:
    """The guardians the plan may use: read only when the patient needs one today (an adult's
    plan costs no query more; a patient who needs none today needs none later either)."""
    if not patient.guardian_required_on(local_today(patient, now)):
        return []
    return list(Guardian.objects.filter(patient_id=patient.pk))


def item_kind(item: ChecklistItem) -> str:
    """The words of the item's reminders: the catalogue's ``reminder_kind`` (never the item's code)."""
    ti = item.template_item
    return Kind(ti.reminder_kind if ti is not None else default_reminder_kind(item.category))


def item_wants_patient_reminder(item: ChecklistItem) -> bool:
    """Open, approved, and something the patient does or attends."""
    if item.status != ItemStatus.OPEN or item.locked or item.template_item is None:
        return False
    if not item.template_item.reminder_offsets_hours:
        return False
    return item.assignee == "patient" or item.category in ATTEND_CATEGORIES


def in_quiet_hours(local: dt.time, start: dt.time, end: dt.time) -> bool:
    if start == end:
        return False
    if start > end:  # over midnight, e.g. 21:00 -> 08:00
        return local >= start or local < end
    return start <= local < end


def quiet_end_after(when: dt.datetime, clinic: Clinic, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The end of the quiet period ``when`` falls in (``when`` must be inside it)."""
    local = when.astimezone(tz)
    day = local.date()
    if clinic.quiet_hours_start > clinic.quiet_hours_end and local.time() >= clinic.quiet_hours_start:
        day += dt.timedelta(days=1)
    return local_to_utc(dt.datetime.combine(day, clinic.quiet_hours_end), tz)


def quiet_start_before(when: dt.datetime, clinic: Clinic, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """The start of the quiet period ``when`` falls in."""
    local = when.astimezone(tz)
    day = local.date()
    if clinic.quiet_hours_start > clinic.quiet_hours_end and local.time() < clinic.quiet_hours_end:
        day -= dt.timedelta(days=1)
    return local_to_utc(dt.datetime.combine(day, clinic.quiet_hours_start), tz)


def outside_quiet_hours(
    when: dt.datetime, *, clinic: Clinic, tz: zoneinfo.ZoneInfo, not_after: dt.datetime, now: dt.datetime
) -> dt.datetime | None:
    """When to send instead of ``when``: unchanged outside quiet hours, else the end of the quiet
    period, or (if that is past the deadline) just before it started; None if neither is possible."""
    if not in_quiet_hours(when.astimezone(tz).time(), clinic.quiet_hours_start, clinic.quiet_hours_end):
        return when
    after = quiet_end_after(when, clinic, tz)
    if after <= not_after:
        return after
    before = quiet_start_before(when, clinic, tz) - QUIET_MARGIN
    if before >= now:
        return before
    return None


def _candidates(
    item: ChecklistItem, *, patient: Patient, clinic: Clinic, now: dt.datetime
) -> tuple[list[tuple[int, dt.datetime, dt.datetime]], set[int]]:
    """(offset, planned_at, due_at) to create, and every offset that may keep an existing row."""
    tz = patient.tz
    not_after = item.due_at
    template_item = cast(TemplateItem, item.template_item)  # item_wants_patient_reminder: it has one
    offsets = sorted(set(template_item.reminder_offsets_hours), reverse=True)
    timed = [(h, hours_before(item.due_at, tz, h)) for h in offsets]
    future = [(h, at) for h, at in timed if at > now]
    past = [(h, at) for h, at in timed if at <= now]
    create: list[tuple[int, dt.datetime, dt.datetime]] = []
    for h, at in future:
        due = outside_quiet_hours(at, clinic=clinic, tz=tz, not_after=not_after, now=now)
        if due is not None:
            create.append((h, at, due))
    if past and not future and now < not_after:
        # Booked late: the latest missed reminder goes now (once), the earlier ones are skipped.
        h, at = past[-1]
        due = outside_quiet_hours(now, clinic=clinic, tz=tz, not_after=not_after, now=now)
        if due is not None:
            create.append((h, at, due))
    return create, {h for h, _ in timed}


def _words(group: list[tuple[dt.datetime, dt.datetime, dt.datetime, ChecklistItem]]) -> tuple[object, ...]:
    """What decides the words of a plain text: its kind, the first item's time and the count."""
    items = list({e[3].pk: e[3] for e in group}.values())
    kinds = {item_kind(i) for i in items}
    return (kinds.pop() if len(kinds) == 1 else Kind.SEVERAL, min(i.due_at for i in items), len(items))


def sms_groups(
    entries: list[tuple[dt.datetime, dt.datetime, dt.datetime, ChecklistItem]], *, limit: int
) -> list[list[tuple[dt.datetime, dt.datetime, dt.datetime, ChecklistItem]]]:
    """One day's text reminders of a booking as messages: ``(due_at, planned_at, item due, item)``.

    Items due at the same time share ONE text (five blood tests due together are one message, not
    five texts with the same words: the provider could not tell those apart, nor the patient).
    Two texts of a day whose words would still be the same (same kind, first time and count) are
    merged into the earlier one. Within the daily limit of N texts, the first N-1 go alone and the
    rest share the last.
    """
    by_time: dict[dt.datetime, list] = defaultdict(list)
    for entry in sorted(entries, key=lambda e: (e[0], e[3].sort_order)):
        by_time[entry[0]].append(entry)
    groups = [by_time[at] for at in sorted(by_time)]
    merged = True
    while merged:
        merged = False
        seen: dict[tuple[object, ...], int] = {}
        for n, group in enumerate(groups):
            words = _words(group)
            if words in seen:
                groups[seen[words]].extend(group)
                del groups[n]
                merged = True
                break
            seen[words] = n
    if len(groups) > limit:
        groups = [*groups[: limit - 1], [e for g in groups[limit - 1 :] for e in g]]
    return groups


def reminders_wanted(
    *, surgery: Surgery, items: list[ChecklistItem], now: dt.datetime, guardians: list[Guardian] | None = None
) -> list[Planned]:
    """The reminders this booking should have (nothing is saved). ``surgery`` has patient and clinic.

    One plan per recipient: the patient, or each guardian while the patient needs one on the day a
    reminder goes (a patient who turns 18 before the surgery gets the reminders from that day on).
    """
    patient, clinic = surgery.patient, surgery.patient.clinic
    if guardians is None:
        guardians = patient_guardians(patient, now)
    tz = patient.tz
    Entry = tuple[dt.datetime, dt.datetime, dt.datetime, ChecklistItem]
    email_by_day: dict[tuple[Recipient, dt.date, str], list[Entry]] = defaultdict(list)
    sms_by_day: dict[tuple[Recipient, dt.date], list[Entry]] = defaultdict(list)
    # Recipients by local date, computed once a day rather than once an entry.
    by_day: dict[dt.date, list[Recipient]] = {}
    for item in items:
        if not item_wants_patient_reminder(item):
            continue
        create, _ = _candidates(item, patient=patient, clinic=clinic, now=now)
        for _hours, planned_at, due_at in create:
            entry = (due_at, planned_at, item.due_at, item)
            day = due_at.astimezone(tz).date()
            if day not in by_day:
                by_day[day] = recipients_on(patient, day, guardians)
            for recipient in by_day[day]:
                if recipient.use_email:
                    email_by_day[(recipient, day, item_kind(item))].append(entry)
                if recipient.use_sms:
                    sms_by_day[(recipient, day)].append(entry)
    wanted: list[Planned] = []
    # Email: one message per recipient, day and kind (five blood tests due together make one email).
    for (recipient, day, kind), entries in sorted(email_by_day.items(), key=lambda kv: (kv[0][0].key_part, *kv[0][1:])):
        group_items = list({e[3].pk: e[3] for e in entries}.values())
        wanted.append(
            Planned(
                key=f"s{surgery.pk}:v{surgery.version}:{recipient.key_part}email:d{day.isoformat()}:{kind}",
                channel=Channel.EMAIL,
                kind=kind,
                items=group_items,
                planned_at=min(e[1] for e in entries),
                due_at=min(e[0] for e in entries),
                not_after=max(e[2] for e in entries),
                covers=sorted(i.pk for i in group_items),
                guardian=recipient.guardian,
            )
        )
    # The daily text limit is per recipient: each guardian's phone gets at most N texts a day.
    limit = max(clinic.sms_daily_limit, 1)
    for (recipient, day), entries in sorted(sms_by_day.items(), key=lambda kv: (kv[0][0].key_part, kv[0][1])):
        for slot, group in enumerate(sms_groups(entries, limit=limit)):
            group_items = list({e[3].pk: e[3] for e in group}.values())
            kinds = {item_kind(i) for i in group_items}
            wanted.append(
                Planned(
                    key=f"s{surgery.pk}:v{surgery.version}:{recipient.key_part}sms:d{day.isoformat()}:{slot}",
                    channel=Channel.SMS,
                    kind=kinds.pop() if len(kinds) == 1 else Kind.SEVERAL,
                    items=group_items,
                    planned_at=min(e[1] for e in group),
                    due_at=min(e[0] for e in group),
                    not_after=max(e[2] for e in group),
                    covers=sorted(i.pk for i in group_items),
                    guardian=recipient.guardian,
                )
            )
    return wanted


def reminders_replan(*, checklist: Checklist, now: dt.datetime | None = None) -> dict[str, int]:
    """Bring the reminder rows of ``checklist``'s surgery in line with what is wanted now.

    Runs inside the caller's transaction. Cancels live rows of older surgery versions and rows no
    longer wanted; creates missing rows (a unique key: a concurrent plan cannot double them);
    rewrites pending rows whose time or content changed; revives cancelled rows wanted again.
    Conditional UPDATEs only: a row a send task holds is waited for, and once sent it is history.
    """
    now = now or timezone.now()
    surgery = Surgery.objects.select_related("patient__clinic").get(pk=checklist.surgery_id)
    active = surgery.is_active and checklist.status == ChecklistStatus.ACTIVE
    items = list(ChecklistItem.objects.filter(checklist_id=checklist.pk).select_related("template_item"))
    wanted = reminders_wanted(surgery=surgery, items=items, now=now) if active else []
    by_key = {p.key: p for p in wanted}
    counts = {"created": 0, "cancelled": 0, "updated": 0}

    # Rows handed over to a provider (``needs_reconcile``) are left to the send step, which asks the
    # provider before it settles them: cancelling one here could record "cancelled" for a text the
    # patient received. Filters on the row's own columns only, so that PostgreSQL re-checks them
    # on the version a send that held the row committed (see services._send_one for the order).
    live = Reminder.objects.filter(surgery=surgery, status__in=LIVE_STATUSES, needs_reconcile=False)
    counts["cancelled"] += live.filter(~Q(surgery_version=surgery.version)).update(
        claimed_until=None,
        status=Status.CANCELLED,
        status_reason="Surgery moved or cancelled" if surgery.version > 1 or not active else "Plan changed",
        claim_token=None,
        updated_at=now,
    )
    existing = {
        r.key: r
        for r in Reminder.objects.filter(surgery=surgery, surgery_version=surgery.version).only(
            "id", "key", "status", "due_at", "not_after", "covers", "kind", "planned_at"
        )
    }
    # A row already due stays while an item it covers still wants reminding: the send step
    # re-checks it. Cancelling it because its time has passed would lose it.
    still_wanted = {i.pk for i in items if item_wants_patient_reminder(i)} if active else set()
    stale_ids = [
        r.pk
        for k, r in existing.items()
        if k not in by_key
        and r.status in LIVE_STATUSES
        and not (r.due_at <= now and still_wanted.intersection(r.covers))
    ]
    if stale_ids:
        reason = "Checklist closed" if not active else "No longer needed (item done, changed or on hold)"
        counts["cancelled"] += Reminder.objects.filter(
            pk__in=stale_ids, status__in=LIVE_STATUSES, needs_reconcile=False
        ).update(status=Status.CANCELLED, status_reason=reason, claim_token=None, claimed_until=None, updated_at=now)
    new: list[Reminder] = []
    for key, plan in by_key.items():
        row = existing.get(key)
        values = {
            "kind": plan.kind,
            "covers": plan.covers,
            "item_id": plan.items[0].pk,
            "planned_at": plan.planned_at,
            "due_at": plan.due_at,
            "next_attempt_at": plan.due_at,
            "not_after": plan.not_after,
        }
        if row is None:
            new.append(
                Reminder(
                    clinic_id=surgery.patient.clinic_id,
                    patient_id=surgery.patient_id,
                    surgery_id=surgery.pk,
                    surgery_version=surgery.version,
                    guardian_id=plan.guardian.pk if plan.guardian is not None else None,
                    key=key,
                    channel=plan.channel,
                    status=Status.PENDING,
                    **values,
                )
            )
            continue
        unchanged = (row.due_at, row.not_after, list(row.covers), row.kind) == (
            plan.due_at,
            plan.not_after,
            plan.covers,
            plan.kind,
        )
        if row.status == Status.PENDING and not unchanged:
            counts["updated"] += Reminder.objects.filter(pk=row.pk, status=Status.PENDING).update(
                **values, updated_at=now
            )
        elif row.status in (Status.CANCELLED, Status.SUPPRESSED):
            # Wanted again (an item reopened, texts turned back on): the same row comes back rather
            # than a second one.
            counts["updated"] += Reminder.objects.filter(pk=row.pk, status=row.status).update(
                **values, status=Status.PENDING, status_reason="Planned again", updated_at=now
            )
    if new:
        Reminder.objects.bulk_create(new, ignore_conflicts=True)
        counts["created"] = len(new)
    return counts


def checklist_changed(*, checklist: Checklist) -> None:
    """Re-plan after a change to the checklist's items (or to what its patient receives).

    Called by the actions at their end, inside their transaction: the plan commits with the change.
    """
    reminders_replan(checklist=checklist)


def surgery_changed(*, surgery: Surgery) -> None:
    """Re-plan the checklist of ``surgery`` (booked, moved, changed or cancelled), if it has one."""
    checklist = Checklist.objects.select_for_update().filter(surgery_id=surgery.pk).first()
    if checklist is not None:
        reminders_replan(checklist=checklist)


def patient_changed(*, patient: Patient) -> None:
    """Re-plan every active booking of ``patient``: their facts, medications, channels or consent changed."""
    checklists = Checklist.objects.select_for_update(of=("self",)).filter(
        surgery__patient_id=patient.pk, surgery__status__in=(SurgeryStatus.BOOKED, SurgeryStatus.POSTPONED)
    )
    for checklist in checklists.order_by("pk"):
        reminders_replan(checklist=checklist)
