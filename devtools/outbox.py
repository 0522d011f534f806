"""Reminder rows written straight into the outbox, for tests and benchmarks of the dispatcher.

They bypass the planner on purpose: a dispatcher test or benchmark needs many rows due now,
whatever the planner would have chosen.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from patients.models import Clinic, Surgery
from prep.models import ChecklistItem
from reminders.models import Channel, Kind, Reminder, Status


def open_all_hours(clinic: Clinic, *, sms_daily_limit: int = 100_000) -> None:
    """No quiet hours and no daily text limit: tests that run at any real time of day."""
    clinic.quiet_hours_start = clinic.quiet_hours_end = dt.time(0, 0)
    clinic.sms_daily_limit = sms_daily_limit
    clinic.save()


def reminder_item(surgery: Surgery, code: str = "blood_group") -> ChecklistItem:
    return ChecklistItem.objects.get(checklist__surgery=surgery, code=code)


def due_reminders(
    surgery: Surgery,
    n: int,
    *,
    channel: str = Channel.EMAIL,
    code: str = "blood_group",
    prefix: str = "t",
    due_at: dt.datetime | None = None,
) -> list[Reminder]:
    """``n`` reminder rows due now for an open item of ``surgery`` (bulk, bypassing the planner)."""
    item = reminder_item(surgery, code)
    now = due_at or timezone.now()
    rows = [
        Reminder(
            clinic_id=surgery.patient.clinic_id,
            patient_id=surgery.patient_id,
            surgery_id=surgery.pk,
            surgery_version=surgery.version,
            item=item,
            covers=[item.pk],
            kind=Kind.TESTS,
            channel=channel,
            key=f"{prefix}:{surgery.pk}:{channel}:{i}",
            planned_at=now,
            due_at=now,
            next_attempt_at=now,
            not_after=item.due_at,
            status=Status.PENDING,
        )
        for i in range(n)
    ]
    return Reminder.objects.bulk_create(rows)
