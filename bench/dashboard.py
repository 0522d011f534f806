"""What the clinic dashboard costs (issue 21): its median server time and its number of queries.

Seeds one clinic of ``seed_scale`` (10,000 patients by default), on PostgreSQL grows the database by
copies of it (``seed_copies``) to ``--total`` patients, then gives every surgery whose 72, 48 or
24 hours before has passed its readiness snapshots (``snapshots_fill``: written directly, as
``devtools.demo_history`` does, since the recorder records only the moments it lives through), and
requests the dashboard of the first clinic (its default period, 12 weeks) ``--requests`` times as
its lead nurse, through Django's test ``Client``, interleaved with ``/healthz``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dash .venv/bin/python -m bench.dashboard --total 100000
    .venv/bin/python -m bench.dashboard --patients 1000 --requests 10          # SQLite, small
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

# PostgreSQL: every surgery (any clinic) gets its three snapshots in one statement. A made-up readiness
# with the shape of a working clinic (about 2 in 3 ready 72 h before, more closer to the day).
FILL_SQL = """
INSERT INTO insights_readinesssnapshot
    (clinic_id, surgery_id, procedure_id, surgeon_id, offset_hours, surgery_start_at, week, due_at, taken_at,
     late, current, state, ready, required, done, overdue,
     final, booked_at, ready_at, portal_opened, confirmed, results_interface, results_hand)
SELECT s.clinic_id, s.id, s.procedure_id, s.surgeon_id, o.h, s.start_at,
       date_trunc('week', s.start_at AT TIME ZONE c.time_zone)::date,
       s.start_at - make_interval(hours => o.h), s.start_at - make_interval(hours => o.h) + interval '2 minutes',
       false, true,
       CASE WHEN (s.id * 7 + o.h) % (o.h / 12) = 0 THEN 'at_risk' ELSE 'ready' END,
       (s.id * 7 + o.h) % (o.h / 12) <> 0, 8, 8, 0,
       -- the latest moment passed is the surgery's final snapshot
       o.h = 24 OR s.start_at - make_interval(hours => o.h - 24) > now(),
       s.created_at,
       CASE WHEN (s.id * 7 + o.h) % (o.h / 12) <> 0 THEN s.start_at - make_interval(hours => o.h + 10) END,
       s.id % 3 <> 0, s.id % 5 <> 0, s.id % 3, 5
FROM patients_surgery s
JOIN patients_clinic c ON c.id = s.clinic_id
CROSS JOIN (VALUES (72), (48), (24)) AS o(h)
WHERE s.start_at - make_interval(hours => o.h) <= now()
ON CONFLICT DO NOTHING
"""
# The final snapshots not ready: two of the tests overdue each (a few rows per surgery, as the recorder writes).
ITEMS_SQL = """
INSERT INTO insights_snapshotitem (snapshot_id, clinic_id, week, code, title, overdue, reopened)
SELECT r.id, r.clinic_id, r.week, t.code, t.title, true, (r.id % 7 = 0)::int
FROM insights_readinesssnapshot r
CROSS JOIN (VALUES ('hemoglobin', 'Hemoglobin'), ('ecg', 'ECG, 12-lead')) AS t(code, title)
WHERE r.final AND NOT r.ready
"""


def snapshots_fill() -> int:
    """Snapshots for every surgery whose moments have passed; returns how many were written."""
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from insights.models import SNAPSHOT_OFFSETS_HOURS, ReadinessSnapshot, SnapshotItem
    from insights.selectors import week_of
    from patients.models import Surgery

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(FILL_SQL)
            written = cursor.rowcount
            cursor.execute(ITEMS_SQL)
            cursor.execute("ANALYZE insights_readinesssnapshot")
            cursor.execute("ANALYZE insights_snapshotitem")
        return written
    now = timezone.now()
    rows, items = [], []
    surgeries = (
        Surgery.objects.filter(start_at__lte=now + dt.timedelta(hours=72), readiness_snapshots__isnull=True)
        .distinct()
        .select_related("clinic")
    )
    for s in surgeries.iterator(chunk_size=2000):
        passed = [h for h in SNAPSHOT_OFFSETS_HOURS if s.start_at - dt.timedelta(hours=h) <= now]
        for h in passed:
            due = s.start_at - dt.timedelta(hours=h)
            ready = (s.pk * 7 + h) % (h // 12) != 0
            snapshot = ReadinessSnapshot(
                clinic_id=s.clinic_id,
                surgery_id=s.pk,
                procedure_id=s.procedure_id,
                surgeon_id=s.surgeon_id,
                offset_hours=h,
                surgery_start_at=s.start_at,
                week=week_of(s.start_at.astimezone(s.clinic.tz).date()),
                due_at=due,
                taken_at=due,
                state="ready" if ready else "at_risk",
                ready=ready,
                final=h == min(passed),
                booked_at=s.created_at,
                ready_at=due - dt.timedelta(hours=10) if ready else None,
                portal_opened=s.pk % 3 != 0,
                confirmed=s.pk % 5 != 0,
                results_interface=s.pk % 3,
                results_hand=5,
            )
            rows.append(snapshot)
            if snapshot.final and not ready:
                items.append(snapshot)
    ReadinessSnapshot.objects.bulk_create(rows, batch_size=5000)
    SnapshotItem.objects.bulk_create(
        SnapshotItem(snapshot=r, clinic_id=r.clinic_id, week=r.week, code=code, title=code, overdue=True)
        for r in items
        for code in ("hemoglobin", "ecg")
    )
    return len(rows)


def lead_nurse_client():
    """The first clinic's first nurse, made its lead nurse, signed in."""
    from django.test import Client

    from accounts.models import User

    nurse = User.objects.get(email="nurse1@scale-1.bench.test")
    if not nurse.is_lead_nurse:
        nurse.is_lead_nurse = True
        nurse.save(update_fields=["is_lead_nurse"])
    client = Client()
    client.force_login(nurse)
    return client


def measure(client, *, requests: int) -> dict[str, float]:
    """Median and p95 (ms) of the dashboard and of /healthz in turn, and the dashboard's queries per request."""
    from django.db import connection

    from bench.pages import _DbTimer

    for _ in range(3):  # the session, the templates, the chart stylesheet
        response = client.get("/dashboard/")
        if response.status_code != 200 or b'role="img"' not in response.content:
            raise RuntimeError(f"/dashboard/ answered {response.status_code} without its charts")
    dashboard, health, queries = [], [], []
    for _ in range(requests):
        started = time.perf_counter()
        client.get("/healthz")
        health.append((time.perf_counter() - started) * 1000)
        timer = _DbTimer()
        with connection.execute_wrapper(timer):
            started = time.perf_counter()
            response = client.get("/dashboard/")
            dashboard.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"/dashboard/ answered {response.status_code}")
        queries.append(timer.queries)
    # The session's idle timeout (core.middleware.SessionTimeoutMiddleware) saves the session now and then:
    # one query more in some requests. The dashboard's own count is the smallest (tests pin it exactly).
    if max(queries) - min(queries) > 1:
        raise RuntimeError(f"the dashboard's query count varied between requests: {sorted(set(queries))}")

    def p95(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    return {
        "median": statistics.median(dashboard),
        "p95": p95(dashboard),
        "health": statistics.median(health),
        "queries": min(queries),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000, help="patients of the measured clinic")
    parser.add_argument("--total", type=int, default=0, help="PostgreSQL: grow to this many patients by copies")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the seeded database")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django
    from django.conf import settings

    django.setup()
    from bench.suite import use_own_database

    use_own_database(Path(settings.VAR_DIR) / "bench-dashboard.sqlite3")
    from django.db import connection
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases, teardown_test_environment

    from bench.pages import seed_one_clinic
    from devtools.seeding import seed_copies
    from patients.models import Clinic, Patient

    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False, keepdb=args.keep)
    try:
        seed_one_clinic(args.patients)
        if args.total > args.patients and connection.vendor == "postgresql" and Clinic.objects.count() == 1:
            started = time.perf_counter()
            seed_copies(source="scale-1", copies=args.total // args.patients - 1)
            print(f"copied to {Patient.objects.count():,} patients in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        written = snapshots_fill()
        print(f"{written:,} snapshots written in {time.perf_counter() - started:.1f} s")
        result = measure(lead_nurse_client(), requests=args.requests)
        load = os.getloadavg()
        print(
            f"bench.dashboard on {connection.vendor}, {Patient.objects.count():,} patients "
            f"({Clinic.objects.count()} clinics), {args.requests} requests; load average {load[0]:.2f}"
        )
        print(
            f"dashboard median {result['median']:.1f} ms, p95 {result['p95']:.1f} ms, {result['queries']} queries; "
            f"/healthz median {result['health']:.1f} ms"
        )
    finally:
        if not args.keep:
            teardown_databases(old, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
