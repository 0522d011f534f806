"""Health of the parts the application needs: database, broker, worker."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from celery import current_app
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.models import Heartbeat


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def database_check() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "down"; the type is not the point here
        return Check(False, f"unreachable ({type(exc).__name__})")
    return Check(True, "ok")


def broker_check(*, timeout: int = 2) -> Check:
    # The application config/celery.py made current when Django loaded the config package.
    app = current_app
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # kombu wraps transport errors in several types
        return Check(False, f"unreachable ({type(exc).__name__})")
    return Check(True, "ok")


def heartbeat_check(*, now: datetime | None = None) -> tuple[Check, datetime | None]:
    now = now or timezone.now()
    try:
        beat = Heartbeat.objects.filter(name="worker").first()
    except Exception as exc:
        return Check(False, f"unknown ({type(exc).__name__})"), None
    if beat is None:
        return Check(False, "no worker heartbeat recorded yet"), None
    age = (now - beat.last_run_at).total_seconds()
    if age > settings.HEARTBEAT_MAX_AGE:
        return Check(False, f"last heartbeat {int(age)} s ago"), beat.last_run_at
    return Check(True, "ok"), beat.last_run_at


def health_status() -> tuple[bool, dict]:
    db = database_check()
    broker = broker_check()
    beat, last = heartbeat_check() if db.ok else (Check(False, "database down"), None)
    last_age = None
    if last is not None:
        last_age = round((timezone.now() - last).total_seconds(), 1)
    body = {
        "status": "ok" if (db.ok and broker.ok and beat.ok) else "unhealthy",
        "database": db.detail,
        "broker": broker.detail,
        "worker": {
            "status": beat.detail,
            "last_heartbeat": last.isoformat() if last else None,
            "age_seconds": last_age,
        },
    }
    return body["status"] == "ok", body
