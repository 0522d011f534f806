"""What the board, the surgeon worklist and the patient page cost, against ``/healthz`` in the same run.

Seeds one clinic of ``seed_scale`` (10,000 patients by default, 50 nurses, as ``python -m bench``)
in a database of its own, then requests ``/healthz``, the board's first page, the worklist and a
patient page in turn, ``--requests`` times each, through Django's test ``Client`` (the whole
middleware stack and template rendering, no network). Interleaving them means a machine that gets
busier halfway slows every figure alike, so the ratios to ``/healthz`` are the fair reading.

For each page it prints the median and the ratio, the number of queries, and the time spent in the
database driver (the rest is Python: view, selectors, templates). ``--profile`` adds the top of a
cProfile of 20 requests of each page.

    .venv/bin/python -m bench.pages                      # SQLite, var/bench-pages.sqlite3
    .venv/bin/python -m bench.pages --keep               # keep the seeded database for the next run
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/i18_pages .venv/bin/python -m bench.pages --profile
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django
    from django.conf import settings

    django.setup()
    from bench.suite import use_own_database

    use_own_database(Path(settings.VAR_DIR) / "bench-pages.sqlite3")


class _DbTimer:
    """Counts queries and the time spent executing them (a connection execute wrapper)."""

    def __init__(self) -> None:
        self.queries = 0
        self.seconds = 0.0

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.queries += 1


def seed_one_clinic(patients: int) -> None:
    """One clinic of ``seed_scale`` as ``python -m bench`` seeds it (50 nurses), unless a kept database has it."""
    from accounts.models import User
    from devtools.seeding import seed_scale
    from prep.loader import catalogue_load

    if User.objects.filter(email="nurse1@scale-1.bench.test").exists():
        return
    catalogue_load()
    started = time.perf_counter()
    report = seed_scale(clinics=1, patients=patients, days=35, nurses_per_clinic=50, seed=1)
    print(f"seeded {report.patients:,} patients, {report.items:,} items in {time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the seeded database")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of each page")
    parser.add_argument("--skip", default="", help="pages to leave out, comma-separated: board,worklist,patient")
    args = parser.parse_args(argv)

    _setup_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases, teardown_test_environment
    from django.utils import timezone

    from accounts.models import Role, User
    from core.models import Heartbeat
    from patients.models import Surgery, SurgeryStatus

    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False, keepdb=args.keep)
    try:
        seed_one_clinic(args.patients)
        # /healthz answers 200 with a fresh worker heartbeat: the figure is of the healthy path.
        Heartbeat.objects.update_or_create(name="worker", defaults={"last_run_at": timezone.now()})
        nurse = User.objects.get(email="nurse1@scale-1.bench.test")
        surgeon = User.objects.filter(clinic=nurse.clinic, role=Role.SURGEON).order_by("pk").first()
        assert surgeon is not None, "seed_scale gives every clinic surgeons"
        nurse_client, surgeon_client = Client(), Client()
        nurse_client.force_login(nurse)
        surgeon_client.force_login(surgeon)
        now = timezone.now()
        uuids = list(
            Surgery.objects.filter(
                clinic=nurse.clinic,
                status=SurgeryStatus.BOOKED,
                start_at__gte=now,
                start_at__lt=now + dt.timedelta(days=14),
            ).values_list("uuid", flat=True)
        )
        sample = random.Random(7).sample(uuids, min(args.requests, len(uuids)))
        pages: dict[str, tuple[Client, Callable[[int], str]]] = {
            "/healthz": (nurse_client, lambda i: "/healthz"),
            "board first page": (nurse_client, lambda i: "/?view=board"),
            "surgeon worklist": (surgeon_client, lambda i: "/worklist/"),
            "patient page": (nurse_client, lambda i: f"/surgeries/{sample[i % len(sample)]}/"),
        }
        short = {"board": "board first page", "worklist": "surgeon worklist", "patient": "patient page"}
        skip = {short[name] for name in filter(None, args.skip.split(","))}
        pages = {name: page for name, page in pages.items() if name not in skip}
        for client, url in pages.values():
            for i in range(3):  # warm the session, template and readiness caches
                assert client.get(url(i)).status_code == 200, url(i)
        timings: dict[str, list[float]] = {name: [] for name in pages}
        counts: dict[str, list[int]] = {name: [] for name in pages}
        db_ms: dict[str, list[float]] = {name: [] for name in pages}
        for i in range(args.requests):
            for name, (client, url) in pages.items():
                timer = _DbTimer()
                with connection.execute_wrapper(timer):
                    started = time.perf_counter()
                    response = client.get(url(i))
                    timings[name].append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (name, response.status_code)
                counts[name].append(timer.queries)
                db_ms[name].append(timer.seconds * 1000)
        load = os.getloadavg()
        health = statistics.median(timings["/healthz"])
        print(
            f"bench.pages on {connection.vendor}, {args.patients:,} patients, {args.requests} requests each, "
            f"interleaved; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        print(f"{'page':<18} {'median':>9} {'x healthz':>9} {'p95':>9} {'queries':>8} {'in db':>9}")
        for name in pages:
            ordered = sorted(timings[name])
            median = statistics.median(ordered)
            p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
            print(
                f"{name:<18} {median:7.1f}ms {median / health:8.1f}x {p95:7.1f}ms "
                f"{statistics.median(counts[name]):8.0f} {statistics.median(db_ms[name]):7.1f}ms"
            )
        if args.profile:
            for name, (client, url) in pages.items():
                if name == "/healthz":
                    continue
                profiler = cProfile.Profile()
                profiler.enable()
                for i in range(20):
                    client.get(url(i))
                profiler.disable()
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
                stats.print_stats(r"(workspace|prep|patients|accounts|core|template|db/models|forms)", 45)
                print(f"\n--- profile: {name}, 20 requests, cumulative ---")
                print("\n".join(out.getvalue().splitlines()[4:]))
    finally:
        if not args.keep:
            teardown_databases(old, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
