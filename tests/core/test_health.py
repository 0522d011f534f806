"""The health page in each state, and the heartbeat through a real worker on real Redis."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client, override_settings
from django.utils import timezone

from core.models import Heartbeat
from core.services import heartbeat_record
from devtools import processes
from tests import services

pytestmark = pytest.mark.django_db


def _get(client: Client) -> tuple[int, dict]:
    response = client.get("/healthz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def test_healthy_with_recent_heartbeat(client: Client) -> None:
    heartbeat_record(name="worker", hostname="w1")
    status, body = _get(client)
    assert status == 200
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert body["worker"]["status"] == "ok"
    assert body["worker"]["age_seconds"] < 5


def test_no_heartbeat_yet_is_503(client: Client) -> None:
    status, body = _get(client)
    assert status == 503
    assert body["worker"]["status"] == "no worker heartbeat recorded yet"


def test_stale_heartbeat_is_503(client: Client) -> None:
    with time_machine.travel(timezone.now() - dt.timedelta(minutes=10), tick=False):
        heartbeat_record(name="worker")
    status, body = _get(client)
    assert status == 503
    assert body["worker"]["status"].startswith("last heartbeat 600 s ago")


def test_broken_broker_gives_503_not_an_exception(client: Client) -> None:
    heartbeat_record(name="worker")

    port = processes.free_port()  # nothing listens there
    with services.celery_broker(f"redis://127.0.0.1:{port}/0", {"socket_connect_timeout": 0.5}):
        status, body = _get(client)
    assert status == 503
    assert body["broker"].startswith("unreachable")
    assert body["database"] == "ok"


def test_health_shows_no_patient_data_and_needs_no_login(client: Client) -> None:
    response = client.get("/healthz")
    assert set(response.json()) == {"status", "database", "broker", "worker"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_only_get(client: Client) -> None:
    assert client.post("/healthz").status_code == 405


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@override_settings(HEARTBEAT_MAX_AGE=120)
def test_heartbeat_task_runs_in_a_real_worker(redis_url: str, client: Client) -> None:
    from core.tasks import heartbeat

    with services.celery_broker(redis_url, {}), processes.celery_worker(broker_url=redis_url, name="heartbeat"):
        heartbeat.delay()
        processes.wait_for(lambda: Heartbeat.objects.filter(name="worker").exists(), timeout=60, what="heartbeat")
        status, body = _get(client)
    assert status == 200, body
    beat = Heartbeat.objects.get(name="worker")
    assert beat.hostname.startswith("heartbeat@")
    assert (timezone.now() - beat.last_run_at).total_seconds() < 60
