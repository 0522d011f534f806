"""Thin Celery tasks for the clinic dashboard: the services do the work."""

from __future__ import annotations

from celery import shared_task

from insights import services


@shared_task(ignore_result=True)
def record_readiness_snapshots() -> int:
    return services.readiness_snapshots_record().recorded


@shared_task(ignore_result=True)
def send_weekly_summaries() -> int:
    return services.weekly_summaries_send()
