"""Processes the reliability tests start: Celery beat (their own Redis is devtools.processes.OwnRedis)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from devtools.processes import celery_process


@contextmanager
def celery_beat(*, broker_url: str, extra_env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    with tempfile.TemporaryDirectory(prefix="beat-") as folder:
        arguments = ["beat", "--loglevel=INFO", "-s", str(Path(folder) / "schedule")]
        log_path = Path(folder) / "beat.log"
        with celery_process(arguments, broker_url=broker_url, log_path=log_path, extra_env=extra_env) as proc:
            yield proc


def kill_group(proc: subprocess.Popen, sig: int = 9) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
