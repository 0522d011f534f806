"""Real processes the tests and benchmarks start: Celery workers and a Redis server of their own.

Shared by ``tests/`` and ``bench/`` so that the benchmarks never import the test suite.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url_for_subprocess() -> str:
    """The URL of the database this process is using right now (in a test run, the test database)."""
    conf = connection.settings_dict
    if conf["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{conf['NAME']}"
    user = conf.get("USER") or ""
    password = f":{conf['PASSWORD']}" if conf.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{conf.get('HOST') or '127.0.0.1'}:{conf.get('PORT') or 5432}/{conf['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment without pytest's variables, on the test settings and this process's database."""
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
def celery_process(
    arguments: list[str], *, broker_url: str, log_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """``celery -A config <arguments>`` on ``broker_url`` in a session of its own, its output in
    ``log_path``; stopped (then killed) on exit."""
    env = subprocess_env(CELERY_BROKER_URL=broker_url, **(extra_env or {}))
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    log = open(log_path, "w")  # noqa: SIM115
    # The command is this virtualenv's celery with fixed arguments: nothing comes from outside.
    proc = subprocess.Popen(  # noqa: S603
        [celery, "-A", "config", *arguments],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        stop_process(proc)
        log.close()


@contextmanager
def celery_worker(
    *,
    broker_url: str,
    concurrency: int = 1,
    extra_env: dict[str, str] | None = None,
    name: str = "test",
    pool: str = "prefork",
    loglevel: str = "INFO",
    host: str = "%h",
) -> Iterator[subprocess.Popen]:
    """A real Celery worker process on ``broker_url``, named ``name@host``; killed on exit.

    ``host`` defaults to this machine's name; a benchmark gives two workers two host names to
    stand for two machines sharing one database and one broker.
    """
    arguments = [
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency}",
        f"--pool={pool}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname={name}@{host}",
    ]
    log_path = ROOT / "var" / f"worker-{name}-{os.getpid()}.log"
    with celery_process(arguments, broker_url=broker_url, log_path=log_path, extra_env=extra_env) as proc:
        yield proc


def stop_process(proc: subprocess.Popen, sig: int = 15) -> None:
    """Stop ``proc``'s process group (it was started in a session of its own), killing it if it lingers."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=5)


def wait_for(
    predicate: Callable[[], object], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class OwnRedis:
    """A throw-away redis-server on its own port: the machine's Redis is never stopped."""

    def __init__(self, port: int | None = None) -> None:
        # A given port: the same broker address restarted empty (the workers and beat reconnect).
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(  # noqa: S603 - the machine's redis-server, fixed arguments
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self.ping, timeout=10, what="own redis-server")
        return self

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
