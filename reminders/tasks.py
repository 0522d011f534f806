"""Thin Celery tasks: ids in, services do the work. No ETA or countdown per reminder, ever."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, cast

from celery import current_app, shared_task
from django.conf import settings

from reminders import services

if TYPE_CHECKING:
    from kombu.transport.redis import Channel as RedisChannel

logger = logging.getLogger(__name__)
# A key the dispatcher keeps in the broker's Redis: when it is gone, the broker came back empty
# and every queued send task went with it.
BROKER_MARK_KEY = "preop:reminders:broker-mark"


def broker_came_back_empty() -> bool:
    """True once after the broker lost its data (a Redis restarted empty), and on the first run.

    Sets the mark when it is missing. Only Redis brokers are checked: the embedded filesystem
    broker keeps its messages on disk.
    """
    with current_app.connection_for_write() as conn:
        if conn.transport.driver_type != "redis":
            return False
        client = cast("RedisChannel", conn.default_channel).client  # the redis driver, checked above
        return bool(client.set(BROKER_MARK_KEY, uuid.uuid4().hex, nx=True))


def _enqueue(ids: list[int], token: str) -> None:
    try:
        send_reminders.delay(ids, token)
    except Exception:
        # The broker is down: the rows go back to the queue at once instead of waiting for a lease.
        logger.warning("send task not queued (broker unreachable): %d reminders handed back", len(ids))
        services.reminders_hand_back(reminder_ids=ids, token=token)


@shared_task(ignore_result=True)
def dispatch_reminders() -> int:
    """The one beat entry: claim due rows, enqueue short send tasks after each claim commits.

    When the broker came back empty, the claimed rows whose send never started are handed back
    first: their tasks are lost, and they are claimed again in this same run, within seconds of
    the broker's return rather than a lease later.
    """
    if broker_came_back_empty():
        handed = services.reminders_hand_back_unstarted()
        if handed:
            logger.warning("broker came back empty: %d claimed reminders handed back", handed)
    return services.reminders_dispatch(enqueue=_enqueue)


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
