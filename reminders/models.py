"""The reminder outbox: the database, not the broker, is the source of truth.

A ``Reminder`` row is written by the planner in the transaction of the checklist change, claimed
by the dispatcher with a conditional UPDATE and a lease, and sent by a short task that re-checks
under a row lock that it is still wanted. Rows are never deleted: a plan that changes cancels.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q

from core.models import PublicIdModel


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class Kind(models.TextChoices):
    TESTS = "tests", "Tests to attend"
    HOLD = "hold", "Blood-thinner hold"
    FASTING = "fasting", "Fasting"
    ARRIVAL = "arrival", "Arrival"
    TASK = "task", "Preparation task"
    SEVERAL = "several", "Several reminders (one text a day)"


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    SUPPRESSED = "suppressed", "Suppressed"


# The planner may still rewrite or cancel these; the others are history.
LIVE_STATUSES = (Status.PENDING, Status.SENDING)

# Every status change a reminder may make, and nothing else: statuses only move forward.
# "Not sent yet" (pending, sending, cancelled, suppressed) may move among themselves (a retry, a
# postponement, a plan that wants a cancelled row again, START after STOP); once a provider may
# hold the message (sent) it moves only on to delivered or failed (a carrier's report); delivered,
# failed and expired are final. ``status_sources`` turns this table into the WHERE clause of every
# conditional UPDATE, so a change that would move a row backwards changes nothing.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.SENDING, Status.CANCELLED, Status.SUPPRESSED, Status.EXPIRED}),
    Status.SENDING: frozenset(
        {
            Status.PENDING,
            Status.SENT,
            Status.DELIVERED,
            Status.FAILED,
            Status.CANCELLED,
            Status.EXPIRED,
            Status.SUPPRESSED,
        }
    ),
    Status.SENT: frozenset({Status.DELIVERED, Status.FAILED}),
    Status.CANCELLED: frozenset({Status.PENDING}),
    Status.SUPPRESSED: frozenset({Status.PENDING, Status.CANCELLED}),
    Status.DELIVERED: frozenset(),
    Status.FAILED: frozenset(),
    Status.EXPIRED: frozenset(),
}


def transition_allowed(old: str, new: str) -> bool:
    """True when a reminder may go from ``old`` to ``new`` (the one table above)."""
    return new in TRANSITIONS.get(old, frozenset())


def status_sources(new: str) -> tuple[str, ...]:
    """The statuses a row may be in for a change to ``new``: the filter of a conditional UPDATE."""
    return tuple(old for old, targets in TRANSITIONS.items() if new in targets)


class Reminder(PublicIdModel):
    # No single-column indexes on these: the composite indexes below start with each of them, and
    # every index is written again when the dispatcher claims a row (see bench/reminders.py).
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.PROTECT, related_name="+", db_index=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="reminders", db_index=False)
    surgery = models.ForeignKey("patients.Surgery", on_delete=models.PROTECT, related_name="reminders", db_index=False)
    surgery_version = models.PositiveIntegerField()
    # Who receives it: blank for the patient, else the parent or guardian it is addressed to (the
    # patient needed one on the day it was planned for). Part of the key: one row per recipient.
    guardian = models.ForeignKey(
        "patients.Guardian", null=True, blank=True, on_delete=models.PROTECT, related_name="reminders", db_index=False
    )
    # The first item covered (null for none); ``covers`` lists every item id a merged text speaks for.
    item = models.ForeignKey("prep.ChecklistItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    covers = models.JSONField(default=list, blank=True, help_text="Checklist item ids this message reminds of.")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    recipient = models.CharField(max_length=254, blank=True, help_text="Filled when sent (address or number).")
    # Unique: the same reminder cannot exist twice for the same surgery version.
    key = models.CharField(max_length=160, unique=True)
    planned_at = models.DateTimeField(help_text="When the catalogue offset puts it, before quiet hours.")
    due_at = models.DateTimeField(help_text="When it should go (UTC), after quiet hours.")
    not_after = models.DateTimeField(help_text="Past this it is marked expired instead of sent.")
    # The claim column: due_at at first, later the time of the next retry.
    next_attempt_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    first_claimed_at = models.DateTimeField(null=True, blank=True, help_text="Reconciliation looks from here.")
    # Set when an earlier claim may have reached the provider (lease ran out, timeout): ask before sending.
    needs_reconcile = models.BooleanField(default=False)
    # Unique when set (constraint below): one provider message can be credited to one reminder only.
    provider_id = models.CharField(max_length=200, blank=True)
    # Email: set in its own commit just before the SMTP DATA command. A claim that finds it set may
    # have been accepted by the server already: it is sent again with the same Message-ID and
    # counted in ``resends``.
    handed_over_at = models.DateTimeField(null=True, blank=True)
    resends = models.PositiveIntegerField(default=0, help_text="Emails sent again after a lost commit.")
    provider_status = models.CharField(max_length=20, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True, help_text="The text as sent (SMS) or the subject (email).")
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Not a column: the due time in the clinic's zone, set by reminders.selectors for the pages.
    due_local: dt.datetime

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            # The claim reads only due pending rows: its cost follows them, not the table.
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="reminder_due_pending"),
            models.Index(fields=["claimed_until"], condition=Q(status="sending"), name="reminder_lease_sending"),
            models.Index(fields=["surgery", "status"], name="reminder_surgery_status"),
            models.Index(fields=["clinic", "status"], name="reminder_clinic_status"),
            models.Index(fields=["patient", "channel", "sent_at"], name="reminder_patient_sent"),
            # Partial: a patient's own rows (most) pay nothing for it when the dispatcher claims them.
            models.Index(fields=["guardian"], condition=Q(guardian__isnull=False), name="reminder_guardian"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_id"], condition=~Q(provider_id=""), name="reminder_provider_id_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.channel} {self.status} due {self.due_at:%Y-%m-%d %H:%M}Z"

    @property
    def reference(self) -> str:
        """The id given to providers and put in the ``Reminder-Id`` header: the public UUID."""
        return str(self.uuid)


class SmsEvent(models.Model):
    """Inbound texts and opt-out changes, kept as evidence of consent (no message body for others)."""

    class Action(models.TextChoices):
        STOP = "stop", "Opted out"
        START = "start", "Opted in again"
        HELP = "help", "Asked for help"
        OTHER = "other", "Other reply"

    clinic = models.ForeignKey("patients.Clinic", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="sms_events"
    )
    guardian = models.ForeignKey(
        "patients.Guardian", null=True, blank=True, on_delete=models.PROTECT, related_name="sms_events"
    )
    from_number = models.CharField(max_length=20)
    provider_id = models.CharField(max_length=64, unique=True, help_text="Twilio's MessageSid: one row per message.")
    action = models.CharField(max_length=6, choices=Action.choices)
    reply_sid = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.action} from {self.from_number[-4:]}"


class NurseDigest(models.Model):
    """One row per nurse and clinic-local day: the digest can never go twice in a day."""

    nurse = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    local_date = models.DateField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENDING)
    surgeries = models.PositiveIntegerField(default=0)
    provider_id = models.CharField(max_length=200, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["nurse", "local_date"], name="nurse_digest_once_a_day")]

    def __str__(self) -> str:
        return f"digest {self.local_date} for {self.nurse_id}"
