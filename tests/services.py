"""Which outside services the tests can reach, and real processes the tests start."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import connection

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url_for_subprocess() -> str:
    """The URL of the database the tests are using right now (the test database)."""
    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    user = conf.get("USER") or ""
    password = f":{conf['PASSWORD']}" if conf.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{conf.get('HOST') or '127.0.0.1'}:{conf.get('PORT') or 5432}/{conf['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.test_settings",
            "DATABASE_URL": database_url_for_subprocess(),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@contextmanager
def celery_worker(
    *,
    broker_url: str,
    concurrency: int = 1,
    extra_env: dict[str, str] | None = None,
    name: str = "test",
    pool: str = "prefork",
    loglevel: str = "INFO",
) -> Iterator[subprocess.Popen]:
    """A real Celery worker process on ``broker_url``; killed on exit."""
    env = subprocess_env(CELERY_BROKER_URL=broker_url, **(extra_env or {}))
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    log = open(ROOT / "var" / f"worker-{name}-{os.getpid()}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [celery, "-A", "config", "worker", f"--loglevel={loglevel}", f"--concurrency={concurrency}", f"--pool={pool}",
         "--without-gossip", "--without-mingle", "--without-heartbeat", f"--hostname={name}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        yield proc
    finally:
        stop_process(proc)
        log.close()


def stop_process(proc: subprocess.Popen, sig: int = 15) -> None:
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=5)


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def redis_host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379
