"""Writes on reminders: claim, send, reconcile, provider callbacks, opt-outs and the nurse digest.

The claim is a conditional UPDATE (``... WHERE status = 'pending' AND next_attempt_at <= now``,
``FOR UPDATE SKIP LOCKED`` on PostgreSQL) that sets a lease and a claim token; the send step takes
the row lock, checks the token (a stale or redelivered task does nothing), re-checks that the
reminder is still wanted, sends with a timeout and stores the provider id in the same transaction.
The row lock is held during the send, so a reschedule or cancel waits for it (bounded by the send
timeout) instead of racing it: either the text left before the change, or it never leaves.

A claim whose lease ran out (worker killed, broker lost the task) is claimed again with
``needs_reconcile``: for SMS the provider is asked whether it already has the text and it is sent
only if not. SMTP cannot be asked: the residual window is a worker killed after the SMTP server
accepted the message and before our commit (a few milliseconds); the email is then sent again with
the same ``Message-ID`` and ``Reminder-Id``, which receiving systems may use to drop it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from patients.models import Clinic, Patient, Surgery, SurgeryStatus
from prep.models import Checklist, ChecklistItem, ChecklistStatus
from reminders import messages
from reminders.models import Channel, Kind, NurseDigest, Reminder, SmsEvent, Status
from reminders.planner import (
    in_quiet_hours,
    item_kind,
    item_wants_patient_reminder,
    quiet_end_after,
    reminders_replan,
)
from reminders.transports import (
    TWILIO_UNSUBSCRIBED,
    EmailTransport,
    SmsTransport,
    TransportError,
    email_transport,
    sms_transport,
)

logger = logging.getLogger(__name__)
# Clock skew allowed between us and the provider when reconciling.
RECONCILE_MARGIN = dt.timedelta(minutes=1)


# --- Claiming ---------------------------------------------------------------------------------


def _db(field_name: str, value: object) -> object:
    """A value as the database stores it (UUIDs are hex text on SQLite, datetimes naive text)."""
    return Reminder._meta.get_field(field_name).get_db_prep_value(value, connection, prepared=False)


def _claim(
    *, where: str, params: list[object], order: str, set_extra: str, now: dt.datetime, limit: int
) -> list[tuple[int, str]]:
    table = Reminder._meta.db_table
    token = uuid.uuid4()
    # The interpolated pieces are constants of this module (table, column names, fixed clauses);
    # every value goes through parameters.
    pick = f"SELECT id FROM {table} WHERE {where} ORDER BY {order} LIMIT %s"  # noqa: S608  # nosec B608
    if connection.vendor == "postgresql":
        # A materialized CTE runs once. As a plain ``IN (subquery)`` PostgreSQL may rescan the
        # subquery, whose SKIP LOCKED then passes over the rows this UPDATE already changed and
        # picks more: a batch of 3 claimed 7 rows in a test.
        head_sql, pick_from = f"WITH picked AS MATERIALIZED ({pick} FOR UPDATE SKIP LOCKED) ", "picked"
    else:
        # SQLite takes the database write lock for the whole (IMMEDIATE) transaction instead.
        head_sql, pick_from = "", f"({pick})"
    sql = (
        f"{head_sql}UPDATE {table} SET status = %s, claim_token = %s, claimed_until = %s, "  # noqa: S608  # nosec B608
        f"attempts = attempts + 1, first_claimed_at = COALESCE(first_claimed_at, %s), updated_at = %s{set_extra} "
        f"WHERE id IN (SELECT id FROM {pick_from}) AND {where} RETURNING id"
    )
    lease = now + dt.timedelta(seconds=settings.REMINDERS_LEASE_SECONDS)
    head = [
        _db("status", Status.SENDING),
        _db("claim_token", token),
        _db("claimed_until", lease),
        _db("first_claimed_at", now),
        _db("updated_at", now),
    ]
    picked = [*params, limit]
    values = [*picked, *head, *params] if connection.vendor == "postgresql" else [*head, *picked, *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return [(row[0], str(token)) for row in cursor.fetchall()]


def reminders_claim(*, now: dt.datetime | None = None, limit: int | None = None) -> list[tuple[int, str]]:
    """Claim due rows and rows whose lease ran out; return ``(id, claim token)`` pairs.

    Must run inside a transaction; the caller enqueues the sends on commit.
    """
    now = now or timezone.now()
    limit = limit or settings.REMINDERS_BATCH_SIZE
    expired = _claim(
        where="status = %s AND claimed_until < %s",
        params=[_db("status", Status.SENDING), _db("claimed_until", now)],
        order="claimed_until",
        set_extra=", needs_reconcile = %s" % ("TRUE" if connection.vendor == "postgresql" else "1"),
        now=now,
        limit=limit,
    )
    remaining = limit - len(expired)
    due = (
        _claim(
            where="status = %s AND next_attempt_at <= %s",
            params=[_db("status", Status.PENDING), _db("next_attempt_at", now)],
            order="next_attempt_at",
            set_extra="",
            now=now,
            limit=remaining,
        )
        if remaining > 0
        else []
    )
    return expired + due


def reminders_dispatch(
    *, enqueue: Callable[[list[int], str], None], now: dt.datetime | None = None, limit: int | None = None
) -> int:
    """The beat task's body: claim due rows and hand them to send tasks once each claim commits.

    Claims batches until one comes back short (nothing more is due) or ``limit`` rows
    (``REMINDERS_DISPATCH_MAX``) were claimed: a single batch per 30 s tick would cap sending at
    batch/30 a second, while claiming without a limit could claim more than the workers send
    within a lease. Each task gets up to ``REMINDERS_SEND_CHUNK`` ids of one claim.
    """
    limit = limit or settings.REMINDERS_DISPATCH_MAX
    batch = settings.REMINDERS_BATCH_SIZE
    total = 0
    while total < limit:
        size = min(batch, limit - total)
        with transaction.atomic():
            claimed = reminders_claim(now=now, limit=size)
            for token, ids in _chunks(claimed, settings.REMINDERS_SEND_CHUNK):
                transaction.on_commit(lambda ids=ids, token=token: enqueue(ids, token))
        total += len(claimed)
        if len(claimed) < size:
            break
    return total


def _chunks(claimed: list[tuple[int, str]], size: int) -> list[tuple[str, list[int]]]:
    """Consecutive ids of the same claim token, at most ``size`` at a time."""
    out: list[tuple[str, list[int]]] = []
    for pk, token in claimed:
        if out and out[-1][0] == token and len(out[-1][1]) < size:
            out[-1][1].append(pk)
        else:
            out.append((token, [pk]))
    return out


# --- Sending ----------------------------------------------------------------------------------

# Fetched with the reminder in one statement that locks only the reminder row: what the checks and
# texts need, not the wide catalogue texts.
LOAD_FIELDS = (
    "id", "uuid", "patient_id", "surgery_id", "surgery_version", "covers", "kind", "channel", "status",
    "status_reason", "attempts", "claim_token", "claimed_until", "first_claimed_at", "needs_reconcile",
    "not_after", "due_at", "next_attempt_at", "provider_id", "recipient", "body", "sent_at", "last_error",
    "created_at", "updated_at",
    "surgery__id", "surgery__version", "surgery__status", "surgery__start_at",
    "surgery__checklist__id", "surgery__checklist__status",
    "patient__id", "patient__first_name", "patient__language", "patient__time_zone", "patient__email",
    "patient__mobile", "patient__channel_email", "patient__channel_sms", "patient__sms_consent",
    "patient__sms_opted_out_at", "patient__sms_detailed",
    "patient__clinic__id", "patient__clinic__name", "patient__clinic__phone", "patient__clinic__time_zone",
    "patient__clinic__quiet_hours_start", "patient__clinic__quiet_hours_end", "patient__clinic__sms_daily_limit",
    "patient__clinic__clock_12h",  # the clock the message is written on
)  # fmt: skip
ITEM_FIELDS = (
    "id", "code", "category", "assignee", "status", "locked", "due_at", "drug_name", "title", "sort_order",
    "template_item__id", "template_item__reminder_offsets_hours", "template_item__patient_title_en",
    "template_item__patient_title_es",
)  # fmt: skip


@dataclass
class Outcome:
    status: str
    detail: str = ""


@dataclass
class _Context:
    surgery: Surgery
    patient: Patient
    clinic: Clinic
    items: list[ChecklistItem] = field(default_factory=list)


def _lock_and_load(reminder_id: int) -> Reminder | None:
    """The reminder under its row lock, with its surgery, checklist, patient and clinic.

    ``FOR UPDATE OF`` the reminder only: the planner cancels or rewrites a reminder row in the same
    transaction as any change to its surgery, checklist or items, so holding this lock is enough
    to make that change wait for the send, or the send see the change.
    """
    queryset = (
        Reminder.objects.select_for_update(of=("self",))
        .select_related("surgery__checklist", "patient__clinic")
        .only(*LOAD_FIELDS)
        .filter(pk=reminder_id)
        .order_by()
    )
    return next(iter(queryset), None)


def _items(reminder: Reminder) -> list[ChecklistItem]:
    # A statement of its own, after the lock: it reads the item states committed before we got it.
    items = ChecklistItem.objects.filter(pk__in=reminder.covers).select_related("template_item").only(*ITEM_FIELDS)
    return list(items.order_by())


def _not_wanted(reminder: Reminder, ctx: _Context, now: dt.datetime) -> tuple[str, str] | None:
    """(status, reason) when the reminder must not go, else None."""
    surgery = ctx.surgery
    if surgery.version != reminder.surgery_version or not surgery.is_active:
        return Status.CANCELLED, "Surgery moved or cancelled"
    checklist = getattr(surgery, "checklist", None)
    if checklist is None or checklist.status != ChecklistStatus.ACTIVE:
        return Status.CANCELLED, "Checklist closed"
    if now > reminder.not_after:
        return Status.EXPIRED, "Past its deadline"
    if not ctx.items:
        return Status.CANCELLED, "No longer needed (item done, changed or on hold)"
    patient = ctx.patient
    if reminder.channel == Channel.SMS and not patient.can_receive_sms:
        return Status.SUPPRESSED, "Patient opted out of texts or has no consent"
    if reminder.channel == Channel.EMAIL and not (patient.channel_email and patient.email):
        return Status.SUPPRESSED, "Patient does not receive email reminders"
    return None


def _finish(reminder: Reminder, status: str, reason: str, now: dt.datetime, **extra: object) -> Outcome:
    reminder.status = status
    reminder.status_reason = reason[:200]
    reminder.claim_token = None
    reminder.claimed_until = None
    fields = ["status", "status_reason", "claim_token", "claimed_until", "needs_reconcile", "updated_at", *extra]
    for name, value in extra.items():
        setattr(reminder, name, value)
    reminder.save(update_fields=fields)
    return Outcome(status, reason)


def _postpone(reminder: Reminder, until: dt.datetime, reason: str, now: dt.datetime) -> Outcome:
    if until > reminder.not_after:
        return _finish(reminder, Status.EXPIRED, f"{reason}; the next allowed time is past its deadline", now)
    reminder.next_attempt_at = until
    reminder.due_at = until
    # A postponement is not an attempt: give back the one the claim counted.
    reminder.attempts = max(reminder.attempts - 1, 0)
    return _finish(
        reminder, Status.PENDING, reason, now, next_attempt_at=until, due_at=until, attempts=reminder.attempts
    )


def _sms_sent_today(reminder: Reminder, ctx: _Context, now: dt.datetime) -> int:
    tz = ctx.patient.tz
    local = now.astimezone(tz)
    day_start = dt.datetime.combine(local.date(), dt.time(0, 0), tzinfo=tz)
    return (
        Reminder.objects.filter(
            patient_id=reminder.patient_id,
            channel=Channel.SMS,
            sent_at__gte=day_start,
            status__in=(Status.SENT, Status.DELIVERED),
        )
        .exclude(pk=reminder.pk)
        .count()
    )


def _backoff(attempts: int) -> dt.timedelta:
    seconds = settings.REMINDERS_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return dt.timedelta(seconds=min(seconds, settings.REMINDERS_RETRY_MAX_SECONDS))


def _mark_started(reminder_ids: Sequence[int], token: str) -> set[int]:
    """Durably note "a run with this token started" (its own commit); return the ids marked now.

    A second run with the same token (the task redelivered after its worker process died
    mid-send) finds the mark and reconciles with the provider instead of sending blindly.
    """
    table = Reminder._meta.db_table
    marks = ", ".join(["%s"] * len(reminder_ids))
    # Constants of this module and one placeholder per id; every value goes through parameters.
    sql = (
        f"UPDATE {table} SET needs_reconcile = %s WHERE id IN ({marks}) AND claim_token = %s "  # noqa: S608  # nosec B608
        f"AND status = %s AND needs_reconcile = %s RETURNING id"
    )
    params = [
        _db("needs_reconcile", True), *reminder_ids, _db("claim_token", uuid.UUID(token)),
        _db("status", Status.SENDING), _db("needs_reconcile", False),
    ]  # fmt: skip
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _hand_back(reminder_ids: Sequence[int], token: str, started: set[int]) -> None:
    """Return claimed rows this run did not get to (its time ran out) to the queue, due now.

    Rows this run marked are unmarked: it never tried them. A row an earlier run marked keeps its
    mark, since that run may have been sending it when it died.
    """
    now = timezone.now()
    mine = Reminder.objects.filter(pk__in=reminder_ids, claim_token=token, status=Status.SENDING)
    with transaction.atomic():
        mine.filter(pk__in=started).update(needs_reconcile=False)
        mine.update(
            status=Status.PENDING, claim_token=None, claimed_until=None, next_attempt_at=now,
            attempts=Greatest(F("attempts") - 1, 0), updated_at=now,
        )  # fmt: skip


def reminders_send(
    *,
    reminder_ids: Sequence[int],
    token: str,
    now: dt.datetime | None = None,
    sms: SmsTransport | None = None,
    email: EmailTransport | None = None,
    budget_seconds: float | None = None,
) -> list[Outcome]:
    """Send reminders claimed together (one claim token) if they are still wanted.

    Each one is locked, re-checked, sent and committed on its own, so a worker killed mid-way
    loses at most the one in flight, which the next run reconciles. Rows left when
    ``budget_seconds`` has passed are handed back rather than run into the task's time limit.
    Safe to call twice with the same token: what the first call finished is skipped as stale.
    """
    started = _mark_started(reminder_ids, token)
    sms = sms or sms_transport()
    email = email or email_transport()
    deadline = time.monotonic() + budget_seconds if budget_seconds is not None else None
    outcomes: list[Outcome] = []
    for n, pk in enumerate(reminder_ids):
        if deadline is not None and n and time.monotonic() > deadline:
            rest = reminder_ids[n:]
            _hand_back(rest, token, started)
            outcomes.extend(Outcome("handed back", "the task's time ran out before this one") for _ in rest)
            break
        outcomes.append(_send_one(pk, token, first_run=pk in started, now=now, sms=sms, email=email))
    return outcomes


def reminder_send(
    *,
    reminder_id: int,
    token: str,
    now: dt.datetime | None = None,
    sms: SmsTransport | None = None,
    email: EmailTransport | None = None,
) -> Outcome:
    """Send one claimed reminder if it is still wanted (``reminders_send`` for a single id)."""
    return reminders_send(reminder_ids=[reminder_id], token=token, now=now, sms=sms, email=email)[0]


def _send_one(
    reminder_id: int, token: str, *, first_run: bool, now: dt.datetime | None, sms: SmsTransport, email: EmailTransport
) -> Outcome:
    with transaction.atomic():
        reminder = _lock_and_load(reminder_id)
        if reminder is None or reminder.status != Status.SENDING or str(reminder.claim_token) != token:
            return Outcome("stale", "not claimed by this task (already handled, or claimed again)")
        # What is really unknown: an earlier run (this token's, or an expired claim's) may have sent it.
        reminder.needs_reconcile = not first_run
        now = now or timezone.now()
        patient = reminder.patient
        ctx = _Context(surgery=reminder.surgery, patient=patient, clinic=patient.clinic)
        ctx.items = [i for i in _items(reminder) if item_wants_patient_reminder(i)]
        refusal = _not_wanted(reminder, ctx, now)
        if refusal:
            return _finish(reminder, refusal[0], refusal[1], now)
        clinic = ctx.clinic
        tz = patient.tz
        if in_quiet_hours(now.astimezone(tz).time(), clinic.quiet_hours_start, clinic.quiet_hours_end):
            return _postpone(reminder, quiet_end_after(now, clinic, tz), "Quiet hours", now)
        if reminder.channel == Channel.SMS and _sms_sent_today(reminder, ctx, now) >= max(clinic.sms_daily_limit, 1):
            tomorrow = now.astimezone(tz).date() + dt.timedelta(days=1)
            next_day = dt.datetime.combine(tomorrow, clinic.quiet_hours_end, tzinfo=tz).astimezone(dt.UTC)
            return _postpone(reminder, next_day, "Daily text limit reached", now)
        return _deliver(reminder, ctx, now, sms=sms, email=email)


def _deliver(
    reminder: Reminder, ctx: _Context, now: dt.datetime, *, sms: SmsTransport, email: EmailTransport
) -> Outcome:
    clinic, patient = ctx.clinic, ctx.patient
    kind = reminder.kind
    if kind == Kind.SEVERAL and len(ctx.items) == 1:
        kind = item_kind(ctx.items[0])
    try:
        if reminder.channel == Channel.SMS:
            body = messages.sms_render(kind=kind, clinic=clinic, patient=patient, items=ctx.items)
            transport = sms
            provider_id = None
            if reminder.needs_reconcile:
                # Only texts since this reminder's first claim can be its own (an earlier reminder of the
                # same item may have had the same words).
                since = (reminder.first_claimed_at or now) - RECONCILE_MARGIN
                try:
                    provider_id = transport.find(to=patient.mobile, body=body, since=since)
                except TransportError as exc:
                    exc.maybe_sent = True  # nothing learnt: the next attempt must ask again
                    raise
                if provider_id:
                    return _finish(
                        reminder, Status.SENT, "Found at the provider after an interrupted send", now,
                        provider_id=provider_id, recipient=patient.mobile, body=body, sent_at=now,
                        needs_reconcile=False, last_error="",
                    )  # fmt: skip
            provider_id = transport.send(to=patient.mobile, body=body, reference=reminder.reference)
            recipient = patient.mobile
        else:
            message = messages.email_render(
                kind=kind if kind in messages.EMAIL_KINDS else Kind.TASK,
                clinic=clinic,
                patient=patient,
                items=ctx.items,
                reference=reminder.reference,
            )
            body = message.subject
            provider_id = email.send(message)
            recipient = patient.email
    except TransportError as exc:
        return _failed(reminder, ctx, exc, now)
    return _finish(
        reminder, Status.SENT, "", now, provider_id=provider_id[:200], recipient=recipient, body=body,
        sent_at=now, needs_reconcile=False, last_error="",
    )  # fmt: skip


def _failed(reminder: Reminder, ctx: _Context, exc: TransportError, now: dt.datetime) -> Outcome:
    error = str(exc)[:300]
    if exc.code == TWILIO_UNSUBSCRIBED and reminder.channel == Channel.SMS:
        # The carrier holds a STOP for this number: record it so that no other text is tried.
        Patient.objects.filter(mobile=ctx.patient.mobile, sms_opted_out_at__isnull=True).update(sms_opted_out_at=now)
        error = f"{error} (the number replied STOP)"
    if exc.permanent:
        return _finish(reminder, Status.FAILED, "Permanent error: not retried", now, last_error=error)
    if reminder.attempts >= settings.REMINDERS_MAX_ATTEMPTS:
        return _finish(
            reminder, Status.FAILED, f"Gave up after {reminder.attempts} attempts", now, last_error=error
        )  # fmt: skip
    retry_at = now + _backoff(reminder.attempts)
    if retry_at > reminder.not_after:
        return _finish(reminder, Status.EXPIRED, "Temporary error and no time left to retry", now, last_error=error)
    return _finish(
        reminder, Status.PENDING, f"Temporary error: retry {reminder.attempts + 1}", now, last_error=error,
        next_attempt_at=retry_at, needs_reconcile=exc.maybe_sent,
    )  # fmt: skip


@dataclass
class RunCounts:
    sent: int = 0
    failed: int = 0
    expired: int = 0
    skipped: int = 0
    retrying: int = 0

    def add(self, outcome: Outcome) -> None:
        if outcome.status == Status.SENT:
            self.sent += 1
        elif outcome.status == Status.FAILED:
            self.failed += 1
        elif outcome.status == Status.EXPIRED:
            self.expired += 1
        elif outcome.status == Status.PENDING and outcome.detail.startswith("Temporary"):
            self.retrying += 1
        else:
            self.skipped += 1


def reminders_run_once(*, now: dt.datetime | None = None, max_rounds: int = 1000) -> RunCounts:
    """Claim and send everything due now in this process (``dispatch_reminders --once``)."""
    counts = RunCounts()
    sms, email = sms_transport(), email_transport()
    for _ in range(max_rounds):
        with transaction.atomic():
            claimed = reminders_claim(now=now)
        if not claimed:
            break
        for token, ids in _chunks(claimed, len(claimed)):
            for outcome in reminders_send(reminder_ids=ids, token=token, now=now, sms=sms, email=email):
                counts.add(outcome)
    return counts


# --- Provider callbacks and inbound texts -----------------------------------------------------

TWILIO_STATUS = {
    "accepted": Status.SENT,
    "queued": Status.SENT,
    "sending": Status.SENT,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "undelivered": Status.FAILED,
    "failed": Status.FAILED,
}


def reminder_status_record(*, reference: str, provider_id: str, provider_status: str, error_code: str = "") -> bool:
    """A delivery callback. Statuses only move forward; True when the row changed."""
    new = TWILIO_STATUS.get(provider_status.lower())
    if new is None or new == Status.SENT:
        return False  # our own send recorded "sent"; "queued"/"sent" callbacks add nothing
    try:
        ref = uuid.UUID(reference)
    except ValueError:
        return False
    now = timezone.now()
    values: dict[str, object] = {"status": new, "provider_status": provider_status[:20], "updated_at": now}
    if new == Status.DELIVERED:
        values["delivered_at"] = now
    else:
        values["last_error"] = f"Twilio {provider_status} error {error_code or '-'}"
        values["status_reason"] = "The carrier did not deliver the text"
    if provider_id:
        # A callback for a send whose commit was lost also settles it: no reconciliation needed.
        values.update(provider_id=provider_id[:200], claim_token=None, claimed_until=None)
    # Delivered and undelivered are both final: only rows still sending or sent move, forward.
    qs = Reminder.objects.filter(uuid=ref, channel=Channel.SMS, status__in=(Status.SENDING, Status.SENT))
    if provider_id:
        qs = qs.filter(provider_id__in=(provider_id, ""))
    changed = qs.update(**values)
    if changed and new == Status.FAILED and error_code == str(TWILIO_UNSUBSCRIBED):
        mobile = Reminder.objects.filter(uuid=ref).values_list("patient__mobile", flat=True).first()
        if mobile:
            Patient.objects.filter(mobile=mobile, sms_opted_out_at__isnull=True).update(sms_opted_out_at=now)
    return bool(changed)


OPT_OUT_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
OPT_IN_WORDS = {"START", "UNSTOP", "SUBSCRIBE"}
HELP_WORDS = {"HELP", "INFO"}


def inbound_action(body: str) -> str:
    """STOP wins over everything (any reasonable manner), then START, then HELP."""
    text = re.sub(r"\bOPT[\s\-_]*OUT\b", " OPTOUT ", body.upper())
    words = set(re.findall(r"[A-Z]+", text))
    if words & OPT_OUT_WORDS:
        return SmsEvent.Action.STOP
    if words & OPT_IN_WORDS:
        return SmsEvent.Action.START
    if words & HELP_WORDS:
        return SmsEvent.Action.HELP
    return SmsEvent.Action.OTHER


@dataclass
class InboundResult:
    action: str
    reply: str  # empty: send nothing (a duplicate delivery, or a reply we do not answer)


@transaction.atomic
def sms_inbound_record(*, from_number: str, body: str, message_sid: str) -> InboundResult:
    """An inbound text: opt out or in at once, one reply per inbound message (duplicates get none)."""
    action = inbound_action(body)
    patients = list(Patient.objects.select_related("clinic").filter(mobile=from_number).order_by("-updated_at"))
    patient = patients[0] if patients else None
    try:
        with transaction.atomic():
            SmsEvent.objects.create(
                clinic=patient.clinic if patient else None,
                patient=patient,
                from_number=from_number[:20],
                provider_id=message_sid[:64],
                action=action,
            )
    except IntegrityError:
        return InboundResult(action, "")  # Twilio retried the webhook: already handled
    now = timezone.now()
    if action == SmsEvent.Action.STOP:
        # Every patient with this number: the opt-out is the number's, whatever the clinic.
        Patient.objects.filter(mobile=from_number, sms_opted_out_at__isnull=True).update(sms_opted_out_at=now)
        Reminder.objects.filter(
            patient__mobile=from_number, channel=Channel.SMS, status=Status.PENDING
        ).update(status=Status.SUPPRESSED, status_reason="Patient replied STOP", updated_at=now)  # fmt: skip
    elif action == SmsEvent.Action.START:
        Patient.objects.filter(mobile=from_number).update(sms_opted_out_at=None)
        # Texts planned before the STOP (and still ahead) come back.
        checklists = Checklist.objects.filter(
            surgery__patient__mobile=from_number,
            surgery__status__in=(SurgeryStatus.BOOKED, SurgeryStatus.POSTPONED),
            status=ChecklistStatus.ACTIVE,
        )
        for checklist in checklists.select_for_update(of=("self",)):
            reminders_replan(checklist=checklist, now=now)
    if action == SmsEvent.Action.OTHER:
        return InboundResult(action, "")
    language = patient.language if patient else "en"
    reply = messages.sms_reply_render(kind=action, clinic=patient.clinic if patient else None, language=language)
    return InboundResult(action, reply)


# --- Nurse digest -----------------------------------------------------------------------------


def nurse_digests_send(*, now: dt.datetime | None = None, days: int = 7) -> int:
    """One digest per nurse per clinic-local day, from the clinic's ``digest_hour``.

    A unique row per nurse and local date is inserted before sending: a second beat run (or a
    second beat) cannot send it again. Returns the number sent.
    """
    from accounts.models import Role, User
    from prep.selectors import Readiness, readiness_compute, surgeries_upcoming

    now = now or timezone.now()
    sent = 0
    for clinic in Clinic.objects.all():
        local = now.astimezone(clinic.tz)
        if local.hour < clinic.digest_hour:
            continue
        nurses = list(User.objects.filter(clinic=clinic, role=Role.NURSE, is_active=True).exclude(email=""))
        if not nurses:
            continue
        done = set(
            NurseDigest.objects.filter(nurse__in=nurses, local_date=local.date()).values_list("nurse_id", flat=True)
        )
        todo = [n for n in nurses if n.pk not in done]
        if not todo:
            continue
        flagged = list(
            surgeries_upcoming(clinic=clinic, days=days, now=now)
            .filter(readiness_rank__in=(Readiness.RANK[Readiness.NOT_READY], Readiness.RANK[Readiness.AT_RISK]))
            .select_related("patient", "procedure")
            .prefetch_related("checklist__items")
        )
        rows = []
        for surgery in flagged:
            items = list(surgery.checklist.items.all()) if hasattr(surgery, "checklist") else []
            report = readiness_compute(surgery=surgery, items=items, clinic=clinic, now=now)
            start = surgery.start_at.astimezone(clinic.tz)  # pre-formatted: templates would show UTC
            clock_text = f"{start:%I:%M %p}".lstrip("0") if clinic.clock_12h else f"{start:%H:%M}"
            rows.append({"surgery": surgery, "report": report, "start": f"{start:%a %d %b} {clock_text}"})
        for nurse in todo:
            sent += _digest_send_one(nurse=nurse, clinic=clinic, local_date=local.date(), rows=rows, days=days)
    return sent


def _digest_send_one(*, nurse: object, clinic: Clinic, local_date: dt.date, rows: list[dict], days: int) -> int:
    from django.core.mail import EmailMultiAlternatives
    from django.template.loader import render_to_string

    from core.text import render_text

    try:
        with transaction.atomic():
            digest = NurseDigest.objects.create(nurse=nurse, local_date=local_date, surgeries=len(rows))
    except IntegrityError:
        return 0  # another run got there first
    context = {"clinic": clinic, "nurse": nurse, "rows": rows, "date": local_date, "days": days,
               "link": settings.PUBLIC_BASE_URL.rstrip("/") + "/"}  # fmt: skip
    message = EmailMultiAlternatives(
        subject=" ".join(render_text("emails/digest/subject.en.txt", context).split()),
        body=render_text("emails/digest/body.en.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[nurse.email],
        headers={"Auto-Submitted": "auto-generated", "Digest-Id": f"{nurse.pk}-{local_date.isoformat()}"},
    )
    message.attach_alternative(render_to_string("emails/digest/body.en.html", context), "text/html")
    try:
        provider_id = email_transport().send(message)
    except TransportError as exc:
        # Not retried today: a digest is a convenience, and "never twice" matters more.
        NurseDigest.objects.filter(pk=digest.pk).update(status=Status.FAILED, last_error=str(exc)[:300])
        logger.warning("nurse digest failed digest=%s error=%s", digest.pk, exc)
        return 0
    NurseDigest.objects.filter(pk=digest.pk).update(status=Status.SENT, provider_id=provider_id, sent_at=timezone.now())
    return 1
