"""Processes the reliability tests start: Celery beat (their own Redis is devtools.processes.OwnRedis)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from devtools.processes import ROOT, stop_process, subprocess_env


@contextmanager
def celery_beat(*, broker_url: str, extra_env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    env = subprocess_env(CELERY_BROKER_URL=broker_url, **(extra_env or {}))
    celery = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
    with tempfile.TemporaryDirectory(prefix="beat-") as folder:
        log = open(Path(folder) / "beat.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [celery, "-A", "config", "beat", "--loglevel=INFO", "-s", str(Path(folder) / "schedule")],
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


def kill_group(proc: subprocess.Popen, sig: int = 9) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
