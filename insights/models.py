"""The clinic dashboard's history: readiness as it stood at fixed moments before each surgery.

Figures over time cannot be recomputed from today's rows (an item ticked yesterday says nothing of
whether it was done 72 hours before last week's surgery), so a periodic task writes one
``ReadinessSnapshot`` per surgery and offset when that moment comes (``insights.services``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

# Hours before the surgery's start at which its readiness is recorded.
SNAPSHOT_OFFSETS_HOURS = (72, 48, 24)


class ReadinessSnapshot(models.Model):
    """The stored readiness of one surgery, ``offset_hours`` before the start it then had.

    ``due_at`` is the moment it describes, ``taken_at`` when it was recorded: the task runs every
    few minutes, and after downtime it catches up with the readiness *at recording time* (the past
    state cannot be rebuilt), marked ``late``; the dashboard says how many of its figures are late.
    A surgery moved after a snapshot keeps it (``current`` turns False: the dashboard counts only
    snapshots of the date the surgery still has) and gets new ones for its new date.

    The clinic, week, procedure and surgeon are copied from the surgery so that the dashboard reads
    this table alone, through the (clinic, week) index, whatever the size of the others.
    """

    clinic = models.ForeignKey("patients.Clinic", on_delete=models.PROTECT, related_name="+", db_index=False)
    surgery = models.ForeignKey(
        "patients.Surgery", on_delete=models.CASCADE, related_name="readiness_snapshots", db_index=False
    )
    procedure = models.ForeignKey("prep.ProcedureVariant", on_delete=models.PROTECT, related_name="+", db_index=False)
    surgeon = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    offset_hours = models.PositiveSmallIntegerField()
    surgery_start_at = models.DateTimeField(help_text="The start the offset was counted from.")
    week = models.DateField(help_text="Monday of the surgery's week, in the clinic's time zone.")
    due_at = models.DateTimeField(help_text="surgery_start_at minus offset_hours: the moment described.")
    taken_at = models.DateTimeField(help_text="When it was recorded.")
    late = models.BooleanField(default=False, help_text="Recorded well after due_at: readiness at taken_at.")
    current = models.BooleanField(default=True, help_text="False once the surgery moved to another start.")
    state = models.CharField(max_length=10)
    ready = models.BooleanField()
    required = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    overdue = models.PositiveIntegerField(default=0)
    # The surgery's last snapshot so far (the 24 h one once taken): the dashboard's per-surgery figures
    # (items, booking to ready, portal, results) read these, so that they too are "as it stood then"
    # and cost one indexed read of this table, not a walk through every item of the period.
    final = models.BooleanField(default=True, help_text="The latest snapshot of the surgery's current start.")
    booked_at = models.DateTimeField(null=True, blank=True, help_text="When the surgery was booked.")
    ready_at = models.DateTimeField(
        null=True, blank=True, help_text="Every required item closed: the last closing time (else blank)."
    )
    portal_opened = models.BooleanField(default=False, help_text="The patient had opened the portal.")
    confirmed = models.BooleanField(default=False, help_text="The patient had confirmed at least one item.")
    results_interface = models.PositiveIntegerField(default=0, help_text="Results recorded by a system user.")
    results_hand = models.PositiveIntegerField(default=0, help_text="Results typed by a person.")

    class Meta:
        ordering = ["surgery_start_at", "offset_hours"]
        constraints = [
            models.UniqueConstraint(
                fields=["surgery", "offset_hours", "surgery_start_at"], name="snapshot_once_per_surgery_offset_start"
            ),
        ]
        indexes = [
            # The dashboard: one clinic's weeks (ready and late in the key: an index-only count).
            models.Index(
                fields=["clinic", "week", "offset_hours", "ready", "late"],
                name="snapshot_clinic_week",
                condition=Q(current=True),
            ),
            # The per-surgery figures: each surgery's latest snapshot, by clinic and week.
            models.Index(
                fields=["clinic", "week"], name="snapshot_clinic_week_final", condition=Q(current=True, final=True)
            ),
            # The recording task marks snapshots of moved surgeries: only recent and coming starts.
            models.Index(fields=["surgery_start_at"], name="snapshot_start", condition=Q(current=True)),
        ]

    def __str__(self) -> str:
        return f"surgery {self.surgery_id} {self.offset_hours} h before: {self.state}"


class SnapshotItem(models.Model):
    """A required item that was overdue, or had been reopened, when its surgery's snapshot was taken.

    Only such items get a row (a few per surgery), with the snapshot's clinic and week copied so that
    "the items most often overdue or reopened" is one grouped read through the (clinic, week) index.
    """

    snapshot = models.ForeignKey(ReadinessSnapshot, on_delete=models.CASCADE, related_name="items")
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.PROTECT, related_name="+", db_index=False)
    week = models.DateField()
    code = models.CharField(max_length=80)
    title = models.CharField(max_length=200)
    overdue = models.BooleanField(help_text="Done after its due time, or still open past it.")
    reopened = models.PositiveIntegerField(default=0, help_text="Times reopened so far.")

    class Meta:
        indexes = [models.Index(fields=["clinic", "week"], name="snapshot_item_clinic_week")]

    def __str__(self) -> str:
        return f"{self.code} of snapshot {self.snapshot_id}"


class WeeklySummary(models.Model):
    """One row per clinic admin and week: the weekly summary email can never go twice."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week = models.DateField(help_text="Monday of the week the summary describes (clinic time).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENDING)
    provider_id = models.CharField(max_length=200, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "weekly summaries"
        constraints = [models.UniqueConstraint(fields=["recipient", "week"], name="weekly_summary_once_a_week")]

    def __str__(self) -> str:
        return f"weekly summary {self.week} for {self.recipient_id}"
