"""Processes the reliability tests start: Celery beat, and a Redis of their own on a free port."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.services import ROOT, free_port, stop_process, subprocess_env, wait_for


@contextmanager
def celery_beat(*, broker_url: str, extra_env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    env = subprocess_env(CELERY_BROKER_URL=broker_url, **(extra_env or {}))
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    with tempfile.TemporaryDirectory(prefix="beat-") as folder:
        log = open(Path(folder) / "beat.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [celery, "-A", "config", "beat", "--loglevel=INFO", "-s", str(Path(folder) / "schedule")],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            yield proc
        finally:
            stop_process(proc)
            log.close()


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
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
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


def kill_group(proc: subprocess.Popen, sig: int = 9) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
