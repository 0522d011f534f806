"""Which outside services the tests can reach (the processes they start are in devtools.processes)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def test_redis_url() -> str:
    """This test process's own Redis database (``TEST_REDIS_URL`` in config/test_settings.py)."""
    return settings.TEST_REDIS_URL


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


@contextmanager
def celery_broker(url: str, transport_options: dict | None = None) -> Iterator[None]:
    """This test process's Celery app sends to ``url`` until the block ends, then to its own again.

    The app keeps a pool of producer connections to the broker it first used: it is closed on the
    way in and out, or a later test's ``.delay()`` would still go to this broker, gone by then.
    """
    from config.celery import app

    def reset_pool() -> None:
        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
        app.amqp._producer_pool = None  # built on the pool above

    old = app.conf.broker_url, app.conf.broker_transport_options
    reset_pool()
    app.conf.broker_url = url
    if transport_options is not None:
        app.conf.broker_transport_options = transport_options
    try:
        yield
    finally:
        reset_pool()
        app.conf.broker_url, app.conf.broker_transport_options = old
