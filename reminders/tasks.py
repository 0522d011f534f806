"""Thin Celery tasks: ids in, services do the work. No ETA or countdown per reminder, ever."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from reminders import services


@shared_task(ignore_result=True)
def dispatch_reminders() -> int:
    """The one beat entry: claim due rows, enqueue short send tasks after each claim commits."""
    return services.reminders_dispatch(enqueue=lambda ids, token: send_reminders.delay(ids, token))


@shared_task(ignore_result=True, acks_late=True)
def send_reminders(reminder_ids: list[int], token: str) -> int:
    """Send a few reminders of one claim, each under its own lock and commit; returns how many went.

    A redelivered or duplicated task carries a stale token for what is already done and skips it.
    """
    outcomes = services.reminders_send(
        reminder_ids=reminder_ids, token=token, budget_seconds=settings.REMINDERS_TASK_BUDGET_SECONDS
    )
    return sum(outcome.status == "sent" for outcome in outcomes)


@shared_task(ignore_result=True)
def send_nurse_digests() -> int:
    return services.nurse_digests_send()
