"""Thin Celery tasks: a stored message's id in, the service does the work."""

from __future__ import annotations

from celery import shared_task

from inbox import services


@shared_task(ignore_result=True, acks_late=True)
def process_message(message_id: int) -> str:
    return services.message_process(message_id=message_id).status


@shared_task(ignore_result=True)
def process_pending() -> int:
    """The sweep (beat, and the listener at start): every stored message nobody processed yet."""
    ids = services.pending_ids()
    for message_id in ids:
        services.message_process(message_id=message_id)
    return len(ids)
