"""Which outside services the tests can reach (the processes they start are in devtools.processes)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def test_redis_url() -> str:
    """A Redis database of the tests' own, so they never touch what `make run` keeps in Redis.

    Under pytest-xdist each worker takes the next number down (gw0: 15, gw1: 14...): the Celery
    workers one test starts must never take another test's tasks, nor a flush empty its queue.
    """
    url = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw"):
        parts = urlsplit(url)
        number = int(parts.path.strip("/") or 0) - int(worker[2:])
        if number < 0:
            raise RuntimeError(f"TEST_REDIS_URL={url} leaves no Redis database for xdist worker {worker}")
        url = urlunsplit(parts._replace(path=f"/{number}"))
    return url


def redis_unavailable() -> str | None:
    import redis

    url = test_redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except Exception as exc:
        return f"needs Redis at {url} ({type(exc).__name__})"
    return None


def postgres_unavailable() -> str | None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://..."
    return None


def browser_unavailable() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "needs the playwright package"
    return None


CHECKS = {"redis": redis_unavailable, "postgres": postgres_unavailable, "browser": browser_unavailable}


def redis_host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379
