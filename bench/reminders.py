"""Reminder benchmark (not a test): throughput through the dispatcher and 2 Celery workers, and the
claim query's time with 1,000,000 future pending rows on PostgreSQL.

    .venv/bin/python bench/reminders.py [--reminders 10000] [--future 1000000] [--workers 2]

Needs PostgreSQL and redis-server. It creates (and drops) its own database, ``BENCH_DATABASE_URL``
(default postgres://postgres@127.0.0.1:5432/preop_bench_reminders_<pid>), and starts its own
redis-server on a free port unless ``BENCH_REDIS_URL`` is given. The SMTP and SMS servers are the
stand-ins of ``devtools.standins`` (aiosmtpd and a Twilio-like HTTP server) running in this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A database and a Redis of its own per run: concurrent runs and the test suites never share them.
DB_URL = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/preop_bench_reminders_{os.getpid()}")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")


def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}"')


def setup_django() -> None:
    os.environ["DATABASE_URL"] = DB_URL
    os.environ["CELERY_BROKER_URL"] = REDIS_URL
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("VAR_DIR", str(ROOT / "var" / "bench"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def _in_days(days: int, hour: int = 8):
    """``days`` from now at ``hour`` o'clock in Los Angeles, the bench clinic's zone."""
    import datetime as dt
    import zoneinfo

    from django.utils import timezone

    local = timezone.now().astimezone(zoneinfo.ZoneInfo("America/Los_Angeles")) + dt.timedelta(days=days)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0)


def prepare_database() -> None:
    """Migrate and load the catalogue into the bench database (once per run)."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("load_catalogue", verbosity=0)


def make_surgeries(count: int, *, detailed_from: int | None = None, first: int = 0):
    """``count`` patients of the bench clinic (numbered from ``first``), each with a booked surgery."""
    from django.db import connection

    from actions.booking import surgery_book
    from actions.patients import patient_create
    from devtools.outbox import open_all_hours
    from patients.models import Clinic
    from prep.models import ProcedureVariant

    if Clinic._meta.db_table not in connection.introspection.table_names():
        prepare_database()
    clinic = Clinic.objects.filter(slug="bench").first()
    if clinic is None:
        clinic = Clinic.objects.create(name="Bench Spine Center", slug="bench", phone="+13105550100")
        open_all_hours(clinic)
    procedure = ProcedureVariant.objects.get(slug="lumbar-facet-rf")
    surgeries = []
    for n in range(first, first + count):
        patient = patient_create(
            clinic=clinic,
            by=None,
            mrn=f"B{n:05d}",
            first_name="Bench",
            last_name=f"Patient{n}",
            birth_date="1960-01-01",
            email=f"bench{n}@example.org",
            mobile=f"+1310555{n:04d}",
            channel_sms=True,
            sms_consent=True,
            sms_detailed=detailed_from is not None and n - first >= detailed_from,
        )
        surgeries.append(surgery_book(patient=patient, procedure=procedure, start_at=_in_days(25), by=None))
    return surgeries


# Half emails, 20 per patient; half texts, one per test item for patients who chose detailed texts,
# so that each of a patient's texts has its own words (issue 15: a second text with the same words to
# one number is never sent, so identical rows would measure skipping, not sending). The daily text
# limit is lifted for the run; the per-patient count it reads stays small.
SMS_CODES = ("blood_group", "hemoglobin", "ecg", "chest_xray", "urinalysis")
EMAILS_PER_PATIENT = 20


def patients_for(total: int) -> tuple[int, int]:
    """(email patients, text patients) for about ``total`` reminders, half of each channel."""
    email_patients = max(total // 2 // EMAILS_PER_PATIENT, 1)
    sms_patients = max((total - email_patients * EMAILS_PER_PATIENT) // len(SMS_CODES), 1)
    return email_patients, sms_patients


def make_due(surgeries, email_patients: int, *, prefix: str = "bench") -> int:
    """Reminder rows due now: 20 emails for each of the first ``email_patients``, 5 texts for the rest."""
    from devtools.outbox import due_reminders
    from reminders.models import Channel

    for surgery in surgeries[:email_patients]:
        due_reminders(surgery, EMAILS_PER_PATIENT, channel=Channel.EMAIL, prefix=prefix)
    for surgery in surgeries[email_patients:]:
        for code in SMS_CODES:
            due_reminders(surgery, 1, channel=Channel.SMS, code=code, prefix=f"{prefix}-{code}")
    return email_patients * EMAILS_PER_PATIENT + (len(surgeries) - email_patients) * len(SMS_CODES)


class CpuMeter:
    """CPU seconds spent by each part of the run between ``start`` and ``stop``: the worker
    processes (with their pool children), the PostgreSQL backends of the bench database, the
    bench's Redis when it started its own, and this process (its main thread, the dispatcher
    loop, apart from the stand-in servers' threads). Read from /proc through psutil."""

    def __init__(self, *, workers=(), redis_pid: int | None = None) -> None:
        self.workers = list(workers)
        self.redis_pid = redis_pid
        self.begin: dict[str, dict[int, float]] = {}
        self.end: dict[str, dict[int, float]] = {}

    def _sample(self) -> dict[str, dict[int, float]]:
        import threading

        import psutil
        from django.db import connection

        def cpu(pid: int) -> float:
            try:
                t = psutil.Process(pid).cpu_times()
                return t.user + t.system
            except psutil.Error:
                return 0.0

        parts: dict[str, dict[int, float]] = {"workers": {}, "postgres": {}, "redis": {}, "dispatcher": {}}
        parts["stand-ins"] = {}
        for proc in self.workers:
            try:
                tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
            except psutil.Error:
                continue
            for p in tree:
                parts["workers"][p.pid] = cpu(p.pid)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
            for (pid,) in cursor.fetchall():
                parts["postgres"][pid] = cpu(pid)
        if self.redis_pid:
            parts["redis"][self.redis_pid] = cpu(self.redis_pid)
        main = threading.main_thread().native_id
        for t in psutil.Process().threads():
            parts["dispatcher" if t.id == main else "stand-ins"][t.id] = t.user_time + t.system_time
        return parts

    def start(self) -> None:
        self.begin = self._sample()

    def stop(self) -> None:
        self.end = self._sample()

    def seconds(self) -> dict[str, float]:
        return {
            part: sum(value - self.begin.get(part, {}).get(pid, 0.0) for pid, value in pids.items())
            for part, pids in self.end.items()
        }

    def line(self, count: int) -> str:
        """CPU milliseconds per reminder by part, and their sum."""
        seconds = self.seconds()
        parts = ", ".join(f"{part} {value / count * 1000:.2f}" for part, value in seconds.items())
        return f"CPU ms per reminder: {parts}; total {sum(seconds.values()) / count * 1000:.2f}"


def throughput(total: int, workers: int, concurrency: int, pool: str, redis_pid: int | None = None) -> dict:
    import redis

    from devtools.processes import celery_worker
    from devtools.standins import FakeTwilio, SmtpServer, provider_env
    from reminders.models import Reminder, Status
    from reminders.services import reminders_dispatch
    from reminders.tasks import send_reminders

    redis.Redis.from_url(REDIS_URL).flushdb()
    email_patients, sms_patients = patients_for(total)
    surgeries = make_surgeries(email_patients + sms_patients, detailed_from=email_patients)
    total = make_due(surgeries, email_patients)
    smtp, sms = SmtpServer().start(), FakeTwilio().start()
    env = {**provider_env(smtp, sms), "DATABASE_URL": DB_URL, "LOG_LEVEL": "WARNING"}
    started = []
    try:
        from contextlib import ExitStack

        with ExitStack() as stack:
            for w in range(workers):
                started.append(
                    stack.enter_context(
                        celery_worker(
                            broker_url=REDIS_URL,
                            concurrency=concurrency,
                            extra_env=env,
                            name=f"bench{w}",
                            pool=pool,
                            loglevel="WARNING",
                        )
                    )
                )
            time.sleep(4)  # let the workers connect before the clock starts
            meter = CpuMeter(workers=started, redis_pid=redis_pid)
            meter.start()
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            claimed = 0
            while claimed < total:
                # The beat task's body, run back to back instead of every 30 s.
                claimed += reminders_dispatch(enqueue=lambda ids, token: send_reminders.delay(ids, token))
            t_claimed = time.perf_counter() - t0
            while Reminder.objects.filter(key__startswith="bench", status=Status.SENT).count() < total:
                time.sleep(0.2)
                if time.perf_counter() - t0 > 900:
                    raise SystemExit("bench: not all reminders were sent within 15 minutes")
            elapsed = time.perf_counter() - t0
            meter.stop()
    finally:
        smtp.stop()
        sms.stop()
    return {
        "reminders": total,
        "seconds": elapsed,
        "per_second": total / elapsed,
        "claim_seconds": t_claimed,
        "emails_received": len(smtp.handler.reminder_ids()),
        "texts_received": len(sms.references()),
        "cpu": meter.line(total),
        "load": load,
    }


def email_window(count: int = 300) -> dict:
    """The one window SMTP leaves open, measured: from the server's "250" (the email is the
    server's) to our one-statement record, against the whole time a worker spends on an email.

    A worker killed at a random moment while it sends emails dies inside the window with the
    probability ``window / busy``; that email is then sent again (same Message-ID, counted).
    """
    from django.db import transaction
    from django.test import override_settings

    from devtools.outbox import due_reminders
    from devtools.standins import SmtpServer, provider_settings
    from reminders.models import Channel, Reminder
    from reminders.services import reminders_claim, reminders_send
    from reminders.transports import email_transport

    smtp = SmtpServer().start()
    try:
        with override_settings(**provider_settings(smtp, None)):
            surgeries = {r.surgery for r in Reminder.objects.filter(key__startswith="bench", channel=Channel.EMAIL)}
            for surgery in list(surgeries)[: max(count // 20, 1)]:
                due_reminders(surgery, 20, channel=Channel.EMAIL, prefix="window")
            real = email_transport()
            accepted: list[float] = []

            class Timed:
                def send(self, message) -> str:
                    provider_id = real.send(message)
                    accepted.append(time.perf_counter())  # the "250" is in: the email is the server's
                    return provider_id

            windows, busy = [], []
            while True:
                with transaction.atomic():
                    claimed = reminders_claim()
                if not claimed:
                    break
                for pk, token in claimed:
                    t0 = time.perf_counter()
                    [outcome] = reminders_send(reminder_ids=[pk], token=token, email=Timed())
                    t1 = time.perf_counter()
                    assert outcome.status == "sent", outcome
                    windows.append(t1 - accepted[-1])
                    busy.append(t1 - t0)
    finally:
        smtp.stop()
    return {
        "emails": len(busy),
        "window_median_ms": statistics.median(windows) * 1000,
        "window_max_ms": max(windows) * 1000,
        "busy_median_ms": statistics.median(busy) * 1000,
        "share": sum(windows) / sum(busy),
    }


def claim_time(future: int, due: int = 500, runs: int = 15) -> dict:
    from django.db import connection, transaction

    from reminders.models import Reminder
    from reminders.services import reminders_claim

    table = Reminder._meta.db_table
    template = Reminder.objects.filter(key__startswith="bench").first()
    with connection.cursor() as cursor:
        # 1,000,000 pending rows due in the next 60 days, written by the database itself.
        cursor.execute(
            f"""
            INSERT INTO {table} (uuid, clinic_id, patient_id, surgery_id, surgery_version, item_id, covers, kind,
                channel, recipient, key, planned_at, due_at, not_after, next_attempt_at, status, status_reason,
                attempts, needs_reconcile, provider_id, provider_status, last_error, body, created_at, updated_at,
                resends)
            SELECT gen_random_uuid(), %s, %s, %s, 1, %s, '[]'::jsonb, 'tests', 'email', '', 'future:' || g,
                now() + (g %% 86400 || ' minutes')::interval, now() + (g %% 86400 || ' minutes')::interval,
                now() + interval '90 days', now() + (1 + g %% 86400 || ' minutes')::interval, 'pending', '',
                0, false, '', '', '', '', now(), now(), 0
            FROM generate_series(1, %s) AS g
            """,  # noqa: S608
            [template.clinic_id, template.patient_id, template.surgery_id, template.item_id, future],
        )
        cursor.execute(
            f"""
            INSERT INTO {table} (uuid, clinic_id, patient_id, surgery_id, surgery_version, item_id, covers, kind,
                channel, recipient, key, planned_at, due_at, not_after, next_attempt_at, status, status_reason,
                attempts, needs_reconcile, provider_id, provider_status, last_error, body, created_at, updated_at,
                resends)
            SELECT gen_random_uuid(), %s, %s, %s, 1, %s, '[]'::jsonb, 'tests', 'email', '', 'due:' || g,
                now(), now(), now() + interval '1 day', now() - interval '1 minute', 'pending', '', 0, false,
                '', '', '', '', now(), now(), 0
            FROM generate_series(1, %s) AS g
            """,  # noqa: S608
            [template.clinic_id, template.patient_id, template.surgery_id, template.item_id, due],
        )
        cursor.execute(f"ANALYZE {table}")
        cursor.execute(f"SELECT count(*) FROM {table} WHERE status = 'pending'")  # noqa: S608
        pending = cursor.fetchone()[0]
        cursor.execute(
            f"EXPLAIN SELECT id FROM {table} WHERE status = 'pending' AND next_attempt_at <= now() "  # noqa: S608
            "ORDER BY next_attempt_at LIMIT 500 FOR UPDATE SKIP LOCKED"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())

    class Undo(Exception):
        pass

    def measure(limit: int) -> list[float]:
        timings = []
        for _ in range(runs):
            try:
                with transaction.atomic():
                    t0 = time.perf_counter()
                    claimed = reminders_claim(limit=limit)
                    timings.append((time.perf_counter() - t0) * 1000)
                    assert len(claimed) == min(limit, due), len(claimed)
                    raise Undo
            except Undo:
                pass
        return timings

    batch = measure(due)
    small = measure(50)
    return {
        "pending_rows": pending,
        "due_rows": due,
        "median_ms": statistics.median(batch),
        "max_ms": max(batch),
        "median_50_ms": statistics.median(small),
        "plan": plan,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--future", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    # The worker the README recommends for production (issue 18): 4 threads per process.
    parser.add_argument("--concurrency", type=int, default=4, help="pool size of each worker")
    parser.add_argument("--pool", default="threads", choices=("prefork", "threads"), help="Celery pool")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--throughput-only", action="store_true", help="skip the email window and the claim query")
    args = parser.parse_args()
    global REDIS_URL
    own_redis = None
    if not REDIS_URL:
        from devtools.processes import OwnRedis

        own_redis = OwnRedis().start()
        REDIS_URL = own_redis.url
    recreate_database(DB_URL)
    setup_django()
    try:
        result = throughput(
            args.reminders, args.workers, args.concurrency, args.pool, own_redis.proc.pid if own_redis else None
        )
        print(
            f"throughput: {result['reminders']} reminders in {result['seconds']:.1f} s = "
            f"{result['per_second']:.0f} reminders/s with {args.workers} worker processes ({args.pool} pool, "
            f"concurrency {args.concurrency}) "
            f"(claimed and enqueued in {result['claim_seconds']:.1f} s; received: {result['emails_received']} "
            f"emails, {result['texts_received']} texts; {os.cpu_count()} CPUs; load average {result['load']:.2f})"
        )
        print(result["cpu"])
        if args.throughput_only:
            return
        window = email_window()
        print(
            f"email window: {window['emails']} emails, from the SMTP server's 250 to our record median "
            f"{window['window_median_ms']:.2f} ms (max {window['window_max_ms']:.2f} ms) of "
            f"{window['busy_median_ms']:.1f} ms per email: {window['share']:.1%} of a sending worker's time "
            f"(a kill at a random moment while sending emails resends one with this probability)"
        )
        claim = claim_time(args.future)
        print(
            f"claim query: {claim['due_rows']} due rows among {claim['pending_rows']:,} pending: median "
            f"{claim['median_ms']:.1f} ms, max {claim['max_ms']:.1f} ms to claim all {claim['due_rows']}; "
            f"median {claim['median_50_ms']:.1f} ms to claim a batch of 50"
        )
        print("plan:\n" + claim["plan"])
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(DB_URL)
        if own_redis is not None:
            own_redis.stop()


if __name__ == "__main__":
    main()
