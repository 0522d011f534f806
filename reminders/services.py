"""Writes on reminders: claim, send, reconcile, provider callbacks, opt-outs and the nurse digest.

The claim is a conditional UPDATE (``... WHERE status = 'pending' AND next_attempt_at <= now``,
``FOR UPDATE SKIP LOCKED`` on PostgreSQL) that sets a short lease and a claim token; the send task
renews the lease while it works. The send step takes the row lock, checks the token (a stale or
redelivered task does nothing), asks the provider first when an earlier attempt was handed over,
re-checks that the reminder is still wanted, prepares the message and commits a hand-over mark
(``needs_reconcile``, ``handed_over_at``, the words); only then does it call the provider, and it
records the provider id in one UPDATE as soon as the answer comes.

The order with STOP, cancel and reschedule, which update the same rows: whoever takes the row lock
first wins. A change committed first is seen by the send step, and nothing leaves. A change that
comes after the hand-over leaves that row alone (it waits only for the short lock, never for a
provider): the message left before the change, and the send step's record says so.

A claim whose lease ran out is claimed again; a row that was handed over is reconciled: for SMS the
provider is asked for a text with the same words to the same number since the hand-over, and a
message already credited to another reminder is skipped (a provider id is unique in the outbox).
SMTP cannot be asked: the one remaining window is a worker killed after the SMTP server accepted
the DATA and before our one-statement record; the email is then sent again with the same
``Message-ID`` and ``Reminder-Id`` and counted in ``Reminder.resends``.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]  # not in django-stubs
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from patients.models import ACTIVE_SURGERY_STATUSES, Clinic, Guardian, Patient, Surgery
from patients.services import guardian_update, patient_update
from prep.models import Checklist, ChecklistItem, ChecklistStatus
from reminders import messages
from reminders.models import (
    Channel,
    Kind,
    NurseDigest,
    Reminder,
    SmsEvent,
    Status,
    status_sources,
    transition_allowed,
)
from reminders.planner import (
    Recipient,
    in_quiet_hours,
    item_kind,
    item_wants_patient_reminder,
    patient_changed,
    quiet_end_after,
    recipient_of,
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

if TYPE_CHECKING:
    from django.db.models import Field, Model

    from accounts.models import User

logger = logging.getLogger(__name__)
M = TypeVar("M", bound="Model")
# Clock skew allowed between us and the provider when reconciling.
RECONCILE_MARGIN = dt.timedelta(minutes=1)


# --- Claiming ---------------------------------------------------------------------------------


def _db(field_name: str, value: object) -> Any:
    """A value as the database stores it (UUIDs are hex text on SQLite, datetimes naive text)."""
    column = cast("Field[Any, Any]", Reminder._meta.get_field(field_name))  # the names are Reminder's columns
    return column.get_db_prep_value(value, connection, prepared=False)


def _claim(
    *, where: str, params: list[Any], order: str, set_extra: str, now: dt.datetime, limit: int
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
        # A row handed over to a provider already carries needs_reconcile; one that never was
        # needs no look-up.
        set_extra="",
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
    (``REMINDERS_DISPATCH_MAX``) were claimed: a single batch per tick would cap sending at
    batch/interval a second, while claiming without a limit could claim more than the workers send
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
                transaction.on_commit(functools.partial(enqueue, ids, token))
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
    "id",
    "uuid",
    "patient_id",
    "surgery_id",
    "surgery_version",
    "covers",
    "kind",
    "channel",
    "status",
    "status_reason",
    "attempts",
    "claim_token",
    "claimed_until",
    "first_claimed_at",
    "needs_reconcile",
    "handed_over_at",
    "resends",
    "not_after",
    "due_at",
    "next_attempt_at",
    "provider_id",
    "recipient",
    "body",
    "sent_at",
    "last_error",
    "created_at",
    "updated_at",
    "surgery__id",
    "surgery__version",
    "surgery__status",
    "surgery__start_at",
    "surgery__checklist__id",
    "surgery__checklist__status",
    "patient__id",
    "patient__first_name",
    "patient__language",
    "patient__time_zone",
    "patient__email",
    "patient__mobile",
    "patient__channel_email",
    "patient__channel_sms",
    "patient__sms_consent",
    "patient__sms_opted_out_at",
    "patient__sms_detailed",
    "patient__birth_date",
    "patient__needs_guardian",
    "guardian__id",
    "guardian__first_name",
    "guardian__language",
    "guardian__email",
    "guardian__mobile",
    "guardian__channel_email",
    "guardian__channel_sms",
    "guardian__sms_consent",
    "guardian__sms_opted_out_at",
    "guardian__sms_detailed",
    "guardian__receives_messages",
    "patient__clinic__id",
    "patient__clinic__name",
    "patient__clinic__phone",
    "patient__clinic__time_zone",
    "patient__clinic__quiet_hours_start",
    "patient__clinic__quiet_hours_end",
    "patient__clinic__sms_daily_limit",
    "patient__clinic__clock_12h",  # the clock the message is written on
)
ITEM_FIELDS = (
    "id",
    "code",
    "category",
    "assignee",
    "status",
    "locked",
    "due_at",
    "drug_name",
    "title",
    "sort_order",
    "template_item__id",
    "template_item__reminder_offsets_hours",
    "template_item__patient_title_en",
    "template_item__patient_title_es",
    "template_item__reminder_kind",
)


@dataclass
class Outcome:
    status: str
    detail: str = ""


@dataclass
class _Context:
    surgery: Surgery
    patient: Patient
    clinic: Clinic
    recipient: Recipient
    items: list[ChecklistItem] = field(default_factory=list)


def _lock_and_load(reminder_id: int) -> Reminder | None:
    """The reminder under its row lock, with its surgery, checklist, patient and clinic.

    ``FOR UPDATE OF`` the reminder only: the planner cancels or rewrites a reminder row in the same
    transaction as any change to its surgery, checklist or items, so holding this lock is enough
    to make that change wait for the send, or the send see the change.
    """
    if connection.get_autocommit():
        raise TransactionManagementError("the send step locks its reminder inside a transaction")

    def build() -> QuerySet[Reminder]:
        return (
            Reminder.objects.select_for_update(of=("self",))
            .select_related("surgery__checklist", "patient__clinic", "guardian")
            .only(*LOAD_FIELDS)
            .filter(pk=reminder_id)
            .order_by()
        )

    return next(iter(_fetch("lock_and_load", build, [reminder_id])), None)


def _items(reminder: Reminder) -> list[ChecklistItem]:
    # A statement of its own, after the lock: it reads the item states committed before we got it.
    ids = list(dict.fromkeys(pk for pk in reminder.covers if pk is not None))
    if not ids:
        return []

    def build() -> QuerySet[ChecklistItem]:
        items = ChecklistItem.objects.filter(pk__in=ids).select_related("template_item").only(*ITEM_FIELDS)
        return items.order_by()

    return _fetch(("items", len(ids)), build, ids)


# Per thread (a threads pool runs several sends in one process) and per database connection.
_compiled = threading.local()


@dataclass
class _Compiled:
    sql: str
    compiler: Any  # the SQLCompiler that compiled ``sql``: its select list maps the columns
    init_list: list[str]
    start: int
    end: int
    populators: list[Any]


def _fetch(key: object, build: Callable[[], QuerySet[M]], params: Sequence[Any]) -> list[M]:
    """``list(build())`` with the queryset's SQL compiled once per thread, connection and shape.

    The ORM builds and compiles a queryset on every evaluation: for the send step's two reads (a
    five-table ``select_related`` under a lock, and the items) that was about a quarter of a
    worker's CPU per reminder (cProfile on thread CPU time, bench/results.md, issue 18). The
    rows are turned into model instances as Django's ``ModelIterable`` does, from the compiler
    kept with the SQL. ``params`` are the values the SQL takes, in its order; they are checked
    against the ORM's own when it is compiled, and a query whose parameters differ is not kept.
    """
    cache: dict[object, _Compiled] = _compiled.__dict__.setdefault("cache", {})
    cache_key = (connection.alias, connection.vendor, key)
    compiled = cache.get(cache_key)
    if compiled is None:
        queryset = build()
        compiler = queryset.query.get_compiler(using=connection.alias)
        sql, compiled_params = compiler.as_sql()
        if list(compiled_params) != list(params):
            return list(queryset)  # not the shape this cache is for: the ORM's own way
        klass_info, select = compiler.klass_info, compiler.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        compiled = _Compiled(
            sql=sql,
            compiler=compiler,
            init_list=[column[0].target.attname for column in select[start:end]],
            start=start,
            end=end,
            populators=get_related_populators(klass_info, select, connection.alias),
        )
        cache[cache_key] = compiled
    with connection.cursor() as cursor:
        cursor.execute(compiled.sql, list(params))
        rows = cursor.fetchall()
    model = compiled.compiler.klass_info["model"]
    out = []
    for row in compiled.compiler.results_iter([rows]):
        obj = model.from_db(connection.alias, compiled.init_list, row[compiled.start : compiled.end])
        for populator in compiled.populators:
            populator.populate(row, obj)
        out.append(obj)
    return out


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
    patient, recipient = ctx.patient, ctx.recipient
    # Who receives the patient's messages today: a guardian while one is needed (the child's own
    # contact gets nothing), the patient from their 18th birthday. A row for the other is cancelled:
    # the plan made on that change has the right one.
    needs_guardian = patient.guardian_required_on(now.astimezone(patient.tz).date())
    if recipient.guardian is None and needs_guardian:
        return Status.CANCELLED, "A parent or guardian receives this patient's messages"
    if recipient.guardian is not None and not needs_guardian:
        return Status.CANCELLED, "The patient is now their own contact"
    if recipient.guardian is not None and not recipient.guardian.receives_messages:
        return Status.CANCELLED, "This guardian no longer receives messages"
    who = "Guardian" if recipient.guardian is not None else "Patient"
    if reminder.channel == Channel.SMS and not recipient.use_sms:
        return Status.SUPPRESSED, f"{who} opted out of texts or has no consent"
    if reminder.channel == Channel.EMAIL and not recipient.use_email:
        return Status.SUPPRESSED, f"{who} does not receive email reminders"
    return None


def _finish(reminder: Reminder, status: str, reason: str, now: dt.datetime, **extra: object) -> Outcome:
    """Settle a claimed row: the one place the send path changes a status (forward only).

    A conditional UPDATE on the claim token, so it changes nothing once the row was claimed again
    (the lease ran out) or settled by someone else; the outcome then says "stale".
    """
    if not transition_allowed(Status.SENDING, status):
        raise ValueError(f"a claimed reminder cannot become {status}")
    values = {
        "status": status,
        "status_reason": reason[:200],
        "claim_token": None,
        "claimed_until": None,
        "updated_at": now,
        **extra,
    }
    changed = Reminder.objects.filter(pk=reminder.pk, claim_token=reminder.claim_token, status=Status.SENDING).update(
        **values
    )
    for name, value in values.items():
        setattr(reminder, name, value)
    if not changed:
        return Outcome("stale", "settled or claimed again while it was being sent")
    return Outcome(status, reason)


def _postpone(reminder: Reminder, until: dt.datetime, reason: str, now: dt.datetime) -> Outcome:
    if until > reminder.not_after:
        return _finish(reminder, Status.EXPIRED, f"{reason}; the next allowed time is past its deadline", now)
    # A postponement is not an attempt: give back the one the claim counted. The mark stays only if
    # the provider may still hold an earlier attempt (an email; a text the look-up did not find is
    # known not to have left).
    attempts = max(reminder.attempts - 1, 0)
    return _finish(
        reminder,
        Status.PENDING,
        reason,
        now,
        next_attempt_at=until,
        due_at=until,
        attempts=attempts,
        needs_reconcile=reminder.needs_reconcile,
    )


def _sms_sent_today(reminder: Reminder, ctx: _Context, now: dt.datetime) -> list[tuple[str, str]]:
    """(number, words) of the texts this reminder's recipient (the patient, or that one guardian) was
    sent today (the patient's local day), counting those handed to the provider whose record is not
    in yet: they may have gone. The daily limit is per person who receives them."""
    tz = ctx.patient.tz
    local = now.astimezone(tz)
    day_start = dt.datetime.combine(local.date(), dt.time(0, 0), tzinfo=tz)
    sent = Q(sent_at__gte=day_start, status__in=(Status.SENT, Status.DELIVERED))
    in_flight = Q(needs_reconcile=True, handed_over_at__gte=day_start)
    gid = reminder.guardian_id
    whom = Q(guardian__isnull=True) if gid is None else Q(guardian_id=gid)
    rows = Reminder.objects.filter(sent | in_flight, whom, patient_id=reminder.patient_id, channel=Channel.SMS)
    return [
        (recipient or ctx.recipient.mobile, body)
        for recipient, body in rows.exclude(pk=reminder.pk).values_list("recipient", "body")
    ]


def _backoff(attempts: int) -> dt.timedelta:
    seconds = settings.REMINDERS_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return dt.timedelta(seconds=min(seconds, settings.REMINDERS_RETRY_MAX_SECONDS))


def _renew_lease(reminder_ids: Sequence[int], token: str) -> int:
    """Extend the lease of this claim's rows still to do: a task at work keeps its claim.

    Leases are short (``REMINDERS_LEASE_SECONDS``, 30 s by default) so that a claim whose worker
    died, or whose task the broker lost, is claimed again within seconds; a task renews its rows
    when it starts and then every third of a lease, so that a long chunk is never taken from it.
    """
    until = timezone.now() + dt.timedelta(seconds=settings.REMINDERS_LEASE_SECONDS)
    return Reminder.objects.filter(pk__in=list(reminder_ids), claim_token=token, status=Status.SENDING).update(
        claimed_until=until
    )


def reminders_hand_back_unstarted(*, now: dt.datetime | None = None) -> int:
    """Claimed rows no send has handed to a provider go back to the queue, due now.

    Called when the broker comes back empty (see ``tasks.dispatch_reminders``): their tasks are
    gone, and waiting for the lease would strand them. A row handed over (``needs_reconcile``)
    is left for its lease: only the send step, which asks the provider first, may settle it. A
    task still holding one of these rows finds its token gone and skips it.
    """
    now = now or timezone.now()
    return Reminder.objects.filter(status=Status.SENDING, needs_reconcile=False).update(
        status=Status.PENDING,
        claim_token=None,
        claimed_until=None,
        next_attempt_at=now,
        attempts=Greatest(F("attempts") - 1, 0),
        status_reason="Handed back: the broker lost its task",
        updated_at=now,
    )


def reminders_hand_back(*, reminder_ids: Sequence[int], token: str) -> None:
    """Return claimed rows to the queue, due now: a task that ran out of time, or was never queued.

    A row an earlier run handed over keeps its mark: that run may have been sending it.
    """
    now = timezone.now()
    Reminder.objects.filter(pk__in=list(reminder_ids), claim_token=token, status=Status.SENDING).update(
        status=Status.PENDING,
        claim_token=None,
        claimed_until=None,
        next_attempt_at=now,
        attempts=Greatest(F("attempts") - 1, 0),
        updated_at=now,
    )


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

    Each one is locked, re-checked, handed over (its own commit), sent and recorded on its own, so
    a worker killed mid-way leaves at most the one in flight marked, which the next claim
    reconciles. Rows left when ``budget_seconds`` has passed are handed back rather than run into
    the task's time limit. Safe to call twice with the same token: finished rows are "stale".
    """
    _renew_lease(reminder_ids, token)
    renew_every = settings.REMINDERS_LEASE_SECONDS / 3
    renew_at = time.monotonic() + renew_every
    sms = sms or sms_transport()
    email = email or email_transport()
    deadline = time.monotonic() + budget_seconds if budget_seconds is not None else None
    outcomes: list[Outcome] = []
    for n, pk in enumerate(reminder_ids):
        if deadline is not None and n and time.monotonic() > deadline:
            rest = reminder_ids[n:]
            reminders_hand_back(reminder_ids=rest, token=token)
            outcomes.extend(Outcome("handed back", "the task's time ran out before this one") for _ in rest)
            break
        if time.monotonic() > renew_at:
            _renew_lease(reminder_ids[n:], token)
            renew_at = time.monotonic() + renew_every
        outcomes.append(_send_one(pk, token, now=now, sms=sms, email=email))
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


@dataclass
class _Prepared:
    """Everything a send needs, built before the hand-over so that nothing is left to do after."""

    body: str
    recipient: str
    message: EmailMessage | None = None  # None for a text


def _send_one(
    reminder_id: int, token: str, *, now: dt.datetime | None, sms: SmsTransport, email: EmailTransport
) -> Outcome:
    """Lock, reconcile, re-check, prepare and hand over in one short transaction; then send and record.

    The order with STOP, cancel and reschedule (which update the same rows): whoever takes the row
    lock first wins. A change that commits first is seen here and nothing is sent; once this
    transaction commits the hand-over mark, the changes leave the row alone (they never wait on a
    provider) and the send is recorded as having left before them.
    """
    with transaction.atomic():
        reminder = _lock_and_load(reminder_id)
        if reminder is None or reminder.status != Status.SENDING or str(reminder.claim_token) != token:
            return Outcome("stale", "not claimed by this task (already handled, or claimed again)")
        now = now or timezone.now()
        patient = reminder.patient
        recipient = recipient_of(patient, reminder.guardian)
        ctx = _Context(surgery=reminder.surgery, patient=patient, clinic=patient.clinic, recipient=recipient)
        if reminder.channel == Channel.SMS:
            _one_text_at_a_time(patient.pk)
        if reminder.needs_reconcile and reminder.channel == Channel.SMS:
            # Ask the provider before any other check: a text that left is recorded as sent,
            # whatever quiet hours, the daily limit or a later change now say.
            try:
                found = _sms_lookup(reminder, sms)
            except TransportError as exc:
                exc.maybe_sent = True  # nothing learnt: the next attempt must ask again
                return _failed(reminder, ctx, exc, now)
            if found:
                return _finish(
                    reminder,
                    Status.SENT,
                    "Found at the provider after an interrupted send",
                    now,
                    provider_id=found,
                    recipient=recipient.mobile,
                    sent_at=now,
                    needs_reconcile=False,
                    last_error="",
                )
            reminder.needs_reconcile = False  # not at the provider: it never left
        ctx.items = [i for i in _items(reminder) if item_wants_patient_reminder(i)]
        refusal = _not_wanted(reminder, ctx, now)
        if refusal:
            reason = refusal[1]
            if reminder.needs_reconcile:
                # An email handed to the SMTP server before the change (its commit was lost):
                # the server may have accepted it, and SMTP cannot be asked.
                reason = f"{reason}; an earlier attempt may have reached the patient"
            return _finish(reminder, refusal[0], reason, now, needs_reconcile=False)
        clinic = ctx.clinic
        tz = patient.tz
        if in_quiet_hours(now.astimezone(tz).time(), clinic.quiet_hours_start, clinic.quiet_hours_end):
            return _postpone(reminder, quiet_end_after(now, clinic, tz), "Quiet hours", now)
        prepared = _prepare(reminder, ctx)
        if reminder.channel == Channel.SMS:
            today = _sms_sent_today(reminder, ctx, now)
            if (recipient.mobile, prepared.body) in today:
                # The same words already reached this number today: a second copy tells the patient
                # nothing and the provider could not tell the two apart.
                return _finish(reminder, Status.CANCELLED, "The same text went to this number today", now)
            if len(today) >= max(clinic.sms_daily_limit, 1):
                tomorrow = now.astimezone(tz).date() + dt.timedelta(days=1)
                next_day = dt.datetime.combine(tomorrow, clinic.quiet_hours_end, tzinfo=tz).astimezone(dt.UTC)
                return _postpone(reminder, next_day, "Daily text limit reached", now)
        resend = reminder.channel == Channel.EMAIL and reminder.needs_reconcile
        # The hand-over mark, committed before the provider is called: from here the provider may
        # hold the message, so a later claim asks it (SMS) or counts a resend (email).
        Reminder.objects.filter(pk=reminder.pk).update(
            needs_reconcile=True,
            handed_over_at=Coalesce(F("handed_over_at"), Value(now)),
            body=prepared.body,
            resends=F("resends") + 1 if resend else F("resends"),
            updated_at=now,
        )
    if resend:
        logger.warning("reminder email sent again after a lost commit reminder=%s", reminder.uuid)
    return _deliver(reminder, ctx, prepared, now, sms=sms, email=email)


# The first key of the advisory locks that serialise the texts to one patient (any constant
# nothing else uses).
TEXT_LOCK_NAMESPACE = 15_001


def _one_text_at_a_time(patient_id: int) -> None:
    """Serialise the hand-over of texts to one patient until this transaction ends.

    Two workers sending two reminders of one patient at the same moment would both pass the
    daily-limit and same-words checks before either mark is committed. A transaction-scoped
    advisory lock (PostgreSQL) makes the second wait for the first's mark; it takes no row lock,
    so it cannot deadlock with STOP or a re-plan, which lock rows. SQLite runs one writing
    transaction at a time already.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [TEXT_LOCK_NAMESPACE, patient_id % 2**31])


def _sms_lookup(reminder: Reminder, sms: SmsTransport) -> str | None:
    """The provider id of this reminder's text if the provider has it and no other row claims it."""
    since = (reminder.handed_over_at or reminder.first_claimed_at or timezone.now()) - RECONCILE_MARGIN
    mobile = reminder.guardian.mobile if reminder.guardian is not None else reminder.patient.mobile
    candidates = sms.find(to=mobile, body=reminder.body, since=since)
    if not candidates:
        return None
    # A message already credited to another reminder is that reminder's, never this one's.
    taken = set(Reminder.objects.filter(provider_id__in=candidates).values_list("provider_id", flat=True))
    free = [sid for sid in candidates if sid not in taken]
    return free[0] if free else None


def _prepare(reminder: Reminder, ctx: _Context) -> _Prepared:
    clinic, patient, recipient = ctx.clinic, ctx.patient, ctx.recipient
    kind = reminder.kind
    if kind == Kind.SEVERAL and len(ctx.items) == 1:
        kind = item_kind(ctx.items[0])
    if reminder.channel == Channel.SMS:
        body = messages.sms_render(
            kind=kind, clinic=clinic, patient=patient, items=ctx.items, guardian=recipient.guardian
        )
        return _Prepared(body=body, recipient=recipient.mobile)
    message = messages.email_render(
        kind=kind if kind in messages.EMAIL_KINDS else Kind.TASK,
        clinic=clinic,
        patient=patient,
        items=ctx.items,
        reference=reminder.reference,
        guardian=recipient.guardian,
    )
    # Built and serialised now, once: the SMTP conversation after the hand-over has nothing left
    # to build (the backend's own message() and as_bytes() return what this made).
    message.freeze()
    return _Prepared(body=str(message.subject), recipient=recipient.email, message=message)


def _deliver(
    reminder: Reminder,
    ctx: _Context,
    prepared: _Prepared,
    now: dt.datetime,
    *,
    sms: SmsTransport,
    email: EmailTransport,
) -> Outcome:
    try:
        if reminder.channel == Channel.SMS:
            provider_id = sms.send(to=prepared.recipient, body=prepared.body, reference=reminder.reference)
        else:
            provider_id = email.send(cast(EmailMessage, prepared.message))  # an email's is always there
    except TransportError as exc:
        return _failed(reminder, ctx, exc, now)
    # One statement, in autocommit: the only time between the provider's answer and our record.
    try:
        return _finish(
            reminder,
            Status.SENT,
            "",
            now,
            provider_id=provider_id[:200],
            recipient=prepared.recipient,
            body=prepared.body,
            sent_at=now,
            needs_reconcile=False,
            last_error="",
        )
    except IntegrityError:
        # The provider gave an id another row holds (only a provider's bug can): keep the row for
        # reconciliation rather than credit one message twice.
        logger.error("provider id already recorded for another reminder reminder=%s", reminder.uuid)
        return Outcome("stale", "the provider's id is recorded for another reminder")


# One transaction: the carrier's STOP recorded on the number and the row settled go together, so a
# worker killed between the two leaves neither (the row is reconciled and tried again).
@transaction.atomic
def _failed(reminder: Reminder, ctx: _Context, exc: TransportError, now: dt.datetime) -> Outcome:
    error = str(exc)[:300]
    if exc.code == TWILIO_UNSUBSCRIBED and reminder.channel == Channel.SMS:
        # The carrier holds a STOP for this number: record it so that no other text is tried.
        _number_opted_out(ctx.recipient.mobile, now)
        error = f"{error} (the number replied STOP)"
    # A definite refusal means the provider does not hold it: the mark goes.
    settled: dict[str, object] = {"needs_reconcile": exc.maybe_sent}
    if not exc.maybe_sent:
        settled["handed_over_at"] = None
    if exc.permanent:
        return _finish(reminder, Status.FAILED, "Permanent error: not retried", now, last_error=error, **settled)
    if reminder.attempts >= settings.REMINDERS_MAX_ATTEMPTS:
        return _finish(
            reminder, Status.FAILED, f"Gave up after {reminder.attempts} attempts", now, last_error=error, **settled
        )
    retry_at = now + _backoff(reminder.attempts)
    if retry_at > reminder.not_after:
        return _finish(
            reminder, Status.EXPIRED, "Temporary error and no time left to retry", now, last_error=error, **settled
        )
    return _finish(
        reminder,
        Status.PENDING,
        f"Temporary error: retry {reminder.attempts + 1}",
        now,
        last_error=error,
        next_attempt_at=retry_at,
        **settled,
    )


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
        # A callback for a send whose commit was lost also settles it: the reference in its URL is
        # this reminder's own, so the message is credited to this row and no other.
        values.update(provider_id=provider_id[:200], claim_token=None, claimed_until=None, needs_reconcile=False)
    # Delivered and undelivered are both final: only rows still sending or sent move, forward.
    qs = Reminder.objects.filter(uuid=ref, channel=Channel.SMS, status__in=status_sources(new))
    if provider_id:
        qs = qs.filter(provider_id__in=(provider_id, ""))
    try:
        with transaction.atomic():
            changed = qs.update(**values)
    except IntegrityError:
        logger.warning("status callback for a message credited to another reminder sid=%s", provider_id[:40])
        return False
    if changed and new == Status.FAILED and error_code == str(TWILIO_UNSUBSCRIBED):
        row = Reminder.objects.filter(uuid=ref).values("recipient", "patient__mobile", "guardian__mobile").first()
        if row:
            _number_opted_out(row["recipient"] or row["guardian__mobile"] or row["patient__mobile"], now)
    return bool(changed)


def _number_opted_out(mobile: str, now: dt.datetime) -> None:
    """The carrier says this number refuses texts: every patient and guardian with it is opted out."""
    if not mobile:
        return
    Patient.objects.filter(mobile=mobile, sms_opted_out_at__isnull=True).update(sms_opted_out_at=now)
    Guardian.objects.filter(mobile=mobile, sms_opted_out_at__isnull=True).update(sms_opted_out_at=now)


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


def reminders_stop_texts(
    *, patient_ids: Sequence[int], reason: str, now: dt.datetime, guardian_ids: Sequence[int] = ()
) -> int:
    """Suppress every text to these patients, and to these guardians, not yet handed to the
    provider, claimed ones included. A patient's texts are those addressed to the patient: a
    guardian's STOP stops that guardian's texts, not the other guardian's, nor the patient's.

    It updates the rows a send locks, so it waits for a send between its lock and its hand-over
    (milliseconds, never a network call) and then leaves a handed-over text alone: that one left
    before the STOP. A claimed row's task finds its token gone and sends nothing. The filter is on
    the row's own columns so that PostgreSQL re-checks it on the row a waiting send committed.
    """
    whose = Q(patient_id__in=list(patient_ids), guardian__isnull=True) | Q(guardian_id__in=list(guardian_ids))
    rows = Reminder.objects.filter(
        whose,
        channel=Channel.SMS,
        status__in=status_sources(Status.SUPPRESSED),
        needs_reconcile=False,
    )
    return rows.update(
        status=Status.SUPPRESSED, status_reason=reason, claim_token=None, claimed_until=None, updated_at=now
    )


@transaction.atomic
def sms_inbound_record(*, from_number: str, body: str, message_sid: str) -> InboundResult:
    """An inbound text: opt out or in at once, one reply per inbound message (duplicates get none)."""
    action = inbound_action(body)
    patients = list(Patient.objects.select_related("clinic").filter(mobile=from_number).order_by("-updated_at"))
    # A parent's number: the guardian rows with it (one parent of two children has two).
    guardians = list(
        Guardian.objects.select_related("patient__clinic").filter(mobile=from_number).order_by("-updated_at")
    )
    patient = patients[0] if patients else None
    guardian = guardians[0] if guardians and patient is None else None
    clinic = patient.clinic if patient else (guardian.patient.clinic if guardian else None)
    try:
        with transaction.atomic():
            SmsEvent.objects.create(
                clinic=clinic,
                patient=patient or (guardian.patient if guardian else None),
                guardian=guardian,
                from_number=from_number[:20],
                provider_id=message_sid[:64],
                action=action,
            )
    except IntegrityError:
        return InboundResult(action, "")  # Twilio retried the webhook: already handled
    now = timezone.now()
    if action == SmsEvent.Action.STOP:
        # Every patient with this number: the opt-out is the number's, whatever the clinic.
        # And every guardian with it: that guardian's texts stop, not the child's other guardian's.
        Patient.objects.filter(mobile=from_number, sms_opted_out_at__isnull=True).update(sms_opted_out_at=now)
        Guardian.objects.filter(mobile=from_number, sms_opted_out_at__isnull=True).update(sms_opted_out_at=now)
        reminders_stop_texts(
            patient_ids=[p.pk for p in patients],
            guardian_ids=[g.pk for g in guardians],
            reason="Guardian replied STOP" if guardian else "Patient replied STOP",
            now=now,
        )
    elif action == SmsEvent.Action.START:
        Patient.objects.filter(mobile=from_number).update(sms_opted_out_at=None)
        Guardian.objects.filter(mobile=from_number).update(sms_opted_out_at=None)
        # Texts planned before the STOP (and still ahead) come back.
        checklists = Checklist.objects.filter(
            Q(surgery__patient__mobile=from_number) | Q(surgery__patient__guardians__mobile=from_number),
            surgery__status__in=ACTIVE_SURGERY_STATUSES,
            status=ChecklistStatus.ACTIVE,
        ).distinct()
        ids = list(checklists.values_list("pk", flat=True))
        for checklist in Checklist.objects.filter(pk__in=ids).order_by("pk").select_for_update(of=("self",)):
            reminders_replan(checklist=checklist, now=now)
    if action == SmsEvent.Action.OTHER:
        return InboundResult(action, "")
    language = patient.language if patient else (guardian.language if guardian else "en")
    reply = messages.sms_reply_render(kind=action, clinic=clinic, language=language)
    return InboundResult(action, reply)


# --- One-click unsubscribe (RFC 8058) ---------------------------------------------------------


def email_unsubscribe(*, token: str) -> bool:
    """Turn email reminders off for the patient of the email that carried ``token``.

    Returns False when the token is not one of ours. Through ``patients.services.patient_update``,
    so the patient's history records it, then the plan is redone so that the pending emails are
    cancelled in the same transaction. Saying it twice changes nothing more.
    """

    reference = messages.unsubscribe_reference(token)
    if reference is None:
        return False
    try:
        ref = uuid.UUID(reference)
    except ValueError:
        return False
    row = Reminder.objects.filter(uuid=ref, channel=Channel.EMAIL).values("patient_id", "guardian_id").first()
    if row is None:
        return False
    patient_id, guardian_id = row["patient_id"], row["guardian_id"]
    if guardian_id is not None:
        # A guardian's email: that guardian's email reminders stop, nobody else's.
        with transaction.atomic():
            guardian = Guardian.objects.select_for_update().select_related("patient").get(pk=guardian_id)
            if guardian.channel_email:
                guardian_update(
                    guardian=guardian,
                    by=None,
                    reason="Email reminders turned off by the one-click unsubscribe link",
                    channel_email=False,
                )
                patient_changed(patient=guardian.patient)
        return True
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient_id)
        if patient.channel_email:
            patient._change_reason = "Email reminders turned off by the one-click unsubscribe link"
            patient_update(patient=patient, by=None, channel_email=False)
            patient_changed(patient=patient)
    return True


# --- Nurse digest -----------------------------------------------------------------------------


def nurse_digests_send(*, now: dt.datetime | None = None, days: int = 7) -> int:
    """One digest per nurse per clinic-local day, from the clinic's ``digest_hour``.

    A unique row per nurse and local date is inserted before sending: a second beat run (or a
    second beat) cannot send it again. Returns the number sent.
    """
    from accounts.models import Role, User
    from prep.selectors import Readiness, readiness_compute, surgeries_upcoming
    from prep.services import readiness_refresh_due

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
        readiness_refresh_due(surgeries=surgeries_upcoming(clinic=clinic, days=days, now=now), now=now)
        flagged = list(
            surgeries_upcoming(clinic=clinic, days=days, now=now)
            # django-stubs checks a lookup on an annotation as an exact match (it expects one int here).
            .filter(readiness_rank__in=(Readiness.RANK[Readiness.NOT_READY], Readiness.RANK[Readiness.AT_RISK]))  # type: ignore[misc]
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


def _digest_send_one(*, nurse: User, clinic: Clinic, local_date: dt.date, rows: list[dict], days: int) -> int:
    from django.core.mail import EmailMultiAlternatives
    from django.template.loader import render_to_string

    from core.text import render_text

    try:
        with transaction.atomic():
            digest = NurseDigest.objects.create(nurse=nurse, local_date=local_date, surgeries=len(rows))
    except IntegrityError:
        return 0  # another run got there first
    context = {
        "clinic": clinic,
        "nurse": nurse,
        "rows": rows,
        "date": local_date,
        "days": days,
        "link": settings.PUBLIC_BASE_URL.rstrip("/") + "/",
    }
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
