"""Thin Celery tasks: ids in, services do the work. No ETA or countdown per reminder, ever."""

from __future__ import annotations

from celery import shared_task

from reminders import services


@shared_task(ignore_result=True)
def dispatch_reminders() -> int:
    """The one beat entry: claim due rows, enqueue one short send task per row after the commit."""
    return services.reminders_dispatch(enqueue=lambda pk, token: send_reminder.delay(pk, token))


@shared_task(ignore_result=True, acks_late=True)
def send_reminder(reminder_id: int, token: str) -> str:
    # A redelivered or duplicated task carries a stale token and does nothing.
    return services.reminder_send(reminder_id=reminder_id, token=token).status


@shared_task(ignore_result=True)
def send_nurse_digests() -> int:
    return services.nurse_digests_send()
