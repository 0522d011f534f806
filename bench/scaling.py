"""Dispatcher scaling (issue 18): reminders per second with 1, 2 and 4 worker processes, with two
workers under two host names (what a second machine adds), and the lag after a worker is killed.

    .venv/bin/python -m bench.scaling [--quick] [--reminders 6000]

Needs PostgreSQL and redis-server, like ``bench/reminders.py``, whose database set-up, patients,
due rows, CPU meter and stand-in servers (``devtools.standins``) it uses: its own database
(``BENCH_DATABASE_URL``, default ``preop_bench_scaling_<pid>``, dropped at the end) and its own
redis-server unless ``BENCH_REDIS_URL`` is given. Every worker is started as production runs it
(``WORKER_POOL`` x ``WORKER_CONCURRENCY``, the settings the README recommends) with
``devtools.processes.celery_worker``.

- Throughput runs: the due rows are claimed by the dispatcher's body run back to back in this
  process (as ``bench/reminders.py`` does), so the figure is what the workers send, not what one
  beat tick lets through; each run has its own reminders (the previous run's rows are deleted, so
  the "same words twice a day" rule does not turn this run's texts into skips).
- Kill run (as many reminders as a throughput run): a real ``celery beat`` ticks the dispatcher
  at the recommended interval and lease; once a third of the reminders are sent, one of the two
  workers is killed with SIGKILL (its whole process group: a machine lost). The lag is the time
  from the kill until the last reminder claimed more than once is sent (the killed worker's
  claims, claimed again once their lease ran out, and any whose lease ran out while queued).
  Every delivery is counted per reminder at the stand-in servers: one received twice is a
  duplicate.

``rows(quick=...)`` returns the figures for ``bench/suite.py``; ``main()`` prints them.
"""

from __future__ import annotations

import argparse
import collections
import email.parser
import os
import signal
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import reminders as base  # noqa: E402  - after the path: runnable as a script too

if "BENCH_DATABASE_URL" not in os.environ:
    base.DB_URL = f"postgres://postgres@127.0.0.1:5432/preop_bench_scaling_{os.getpid()}"

# The worker the README recommends for production and the Procfile starts: the figures are
# measured with it. Threads: a send waits on PostgreSQL, the broker and a provider most of its
# time, and one process with a few threads overlaps those waits where a prefork child of
# concurrency 1 sits idle; each thread keeps its own database and provider connections.
WORKER_POOL = "threads"
WORKER_CONCURRENCY = 4
# Lease and dispatcher interval as the README recommends (config.settings defaults).
LEASE_SECONDS = 30
DISPATCH_INTERVAL = 10
# The send timeout must stay under half the lease (settings refuse it otherwise): 10 s is the default.
SEND_TIMEOUT = 10


@dataclass
class Run:
    label: str
    processes: int
    hosts: int
    reminders: int
    seconds: float
    load_before: float
    load_after: float
    duplicates: int
    per_host: dict[str, int] = field(default_factory=dict)
    cpu: str = ""
    lag_seconds: float | None = None
    reclaimed: int = 0
    resends: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.reminders / self.seconds if self.seconds else 0.0


def _deliveries(smtp, sms) -> collections.Counter:
    """Deliveries per reminder reference as the stand-in servers received them."""
    with smtp.handler.lock:
        raw = list(smtp.handler.raw)
    parser = email.parser.BytesHeaderParser()
    counts: collections.Counter = collections.Counter(parser.parsebytes(content)["Reminder-Id"] for content in raw)
    counts.update(sms.references())
    return counts


def _worker_env(smtp, sms) -> dict[str, str]:
    from devtools.standins import provider_env

    return {
        **provider_env(smtp, sms),
        "DATABASE_URL": base.DB_URL,
        "LOG_LEVEL": "WARNING",
        "REMINDERS_LEASE_SECONDS": str(LEASE_SECONDS),
        "REMINDERS_DISPATCH_INTERVAL": str(DISPATCH_INTERVAL),
        "REMINDERS_SEND_TIMEOUT": str(SEND_TIMEOUT),
    }


@contextmanager
def _workers(names: list[tuple[str, str]], env: dict[str, str]):
    from devtools.processes import celery_worker

    with ExitStack() as stack:
        yield [
            stack.enter_context(
                celery_worker(
                    broker_url=base.REDIS_URL,
                    concurrency=WORKER_CONCURRENCY,
                    pool=WORKER_POOL,
                    extra_env=env,
                    name=name,
                    host=host,
                    loglevel="WARNING",
                )
            )
            for name, host in names
        ]


def _tasks_per_host(expected: int) -> dict[str, int]:
    """Send tasks each worker ran, by host name (Celery's remote control ``stats``)."""
    from celery import current_app

    stats = current_app.control.inspect(timeout=3).stats() or {}
    out: dict[str, int] = collections.Counter()
    for worker, info in stats.items():
        out[worker.partition("@")[2]] += int(info.get("total", {}).get("reminders.tasks.send_reminders", 0))
    if len(stats) < expected:
        out["(workers that did not answer)"] = expected - len(stats)
    return dict(out)


class Population:
    """The bench clinic's patients, made once; each run gets fresh due rows for them."""

    def __init__(self, total: int) -> None:
        self.email_patients, sms_patients = base.patients_for(total)
        self.surgeries = base.make_surgeries(self.email_patients + sms_patients, detailed_from=self.email_patients)
        self.runs = 0

    def due(self) -> tuple[str, int]:
        from reminders.models import Reminder

        # The previous run's rows go: a text with the same words to the same number within a day
        # is never sent (issue 15), so keeping them would turn this run's texts into skips.
        Reminder.objects.filter(key__startswith="run").delete()
        self.runs += 1
        prefix = f"run{self.runs}"
        return prefix, base.make_due(self.surgeries, self.email_patients, prefix=prefix)


def throughput_run(population: Population, names: list[tuple[str, str]], label: str) -> Run:
    import redis
    from django.db.models import Sum

    from devtools.standins import FakeTwilio, SmtpServer
    from reminders.models import LIVE_STATUSES, Reminder, Status
    from reminders.services import reminders_dispatch
    from reminders.tasks import send_reminders

    redis.Redis.from_url(base.REDIS_URL).flushdb()
    prefix, total = population.due()
    smtp, sms = SmtpServer().start(), FakeTwilio().start()
    try:
        with _workers(names, _worker_env(smtp, sms)) as procs:
            time.sleep(4)  # let the workers connect before the clock starts
            meter = base.CpuMeter(workers=procs, redis_pid=REDIS_PID)
            meter.start()
            load_before = os.getloadavg()[0]
            t0 = time.perf_counter()
            claimed = 0
            while claimed < total:
                claimed += reminders_dispatch(enqueue=lambda ids, token: send_reminders.delay(ids, token))
            rows = Reminder.objects.filter(key__startswith=prefix)
            while rows.filter(status__in=LIVE_STATUSES).exists():
                time.sleep(0.1)
                if time.perf_counter() - t0 > 900:
                    raise SystemExit(f"scaling: {label}: not all reminders were sent within 15 minutes")
            elapsed = time.perf_counter() - t0
            meter.stop()
            per_host = _tasks_per_host(len(names)) if len({h for _, h in names}) > 1 else {}
        deliveries = _deliveries(smtp, sms)
    finally:
        smtp.stop()
        sms.stop()
    run = Run(
        label=label,
        processes=len(names),
        hosts=len({h for _, h in names}),
        reminders=total,
        seconds=elapsed,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        duplicates=sum(n - 1 for n in deliveries.values() if n > 1),
        per_host=per_host,
        cpu=meter.line(total),
        resends=rows.aggregate(n=Sum("resends"))["n"] or 0,
    )
    received = sum(1 for ref in rows.values_list("uuid", flat=True) if deliveries[str(ref)])
    if received != total:
        run.problems.append(f"{label}: {total - received} of {total} reminders not received by the stand-ins")
    unsent = rows.exclude(status=Status.SENT).count()
    if unsent:
        run.problems.append(f"{label}: {unsent} reminders settled otherwise than sent")
    if run.duplicates:
        run.problems.append(f"{label}: {run.duplicates} reminders received twice")
    return run


def kill_run(population: Population) -> Run:
    import redis
    from django.db.models import Sum

    from devtools.processes import celery_process, stop_process
    from devtools.standins import FakeTwilio, SmtpServer
    from reminders.models import LIVE_STATUSES, Reminder, Status

    redis.Redis.from_url(base.REDIS_URL).flushdb()
    prefix, total = population.due()
    rows = Reminder.objects.filter(key__startswith=prefix)
    smtp, sms = SmtpServer().start(), FakeTwilio().start()
    env = _worker_env(smtp, sms)
    names = [("w1", "hostA"), ("w2", "hostB")]
    try:
        with tempfile.TemporaryDirectory(prefix="scaling-beat-") as folder, _workers(names, env) as procs:
            time.sleep(4)
            load_before = os.getloadavg()[0]
            beat_args = ["beat", "--loglevel=WARNING", "-s", str(Path(folder) / "schedule")]
            with celery_process(
                beat_args, broker_url=base.REDIS_URL, log_path=Path(folder) / "beat.log", extra_env=env
            ):
                t0 = time.perf_counter()
                while rows.filter(status=Status.SENT).count() < total // 3:
                    time.sleep(0.05)
                    if time.perf_counter() - t0 > 600:
                        raise SystemExit("scaling: kill run: a third was not sent within 10 minutes")
                victim = procs[1]
                os.killpg(victim.pid, signal.SIGKILL)  # the whole worker, pool included: a machine lost
                killed_at = time.time()
                t_kill = time.perf_counter()
                victim.wait(timeout=10)
                while rows.filter(status__in=LIVE_STATUSES).exists():
                    time.sleep(0.2)
                    if time.perf_counter() - t_kill > 600:
                        raise SystemExit("scaling: kill run: not all reminders were sent within 10 minutes of the kill")
                elapsed = time.perf_counter() - t0
            stop_process(procs[0])
        deliveries = _deliveries(smtp, sms)
    finally:
        smtp.stop()
        sms.stop()
    again = rows.filter(attempts__gte=2)
    last = max((r.sent_at.timestamp() for r in again.only("sent_at")), default=killed_at)
    run = Run(
        label="2 processes, hosts A and B, one killed (SIGKILL) at a third",
        processes=2,
        hosts=2,
        reminders=total,
        seconds=elapsed,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        duplicates=sum(n - 1 for n in deliveries.values() if n > 1),
        lag_seconds=last - killed_at,
        reclaimed=again.count(),
        resends=rows.aggregate(n=Sum("resends"))["n"] or 0,
    )
    received = sum(1 for ref in rows.values_list("uuid", flat=True) if deliveries[str(ref)])
    if received != total:
        run.problems.append(f"kill run: {total - received} of {total} reminders not received by the stand-ins")
    if run.reclaimed == 0:
        run.problems.append("kill run: no reminder was claimed again: the killed worker held nothing")
    if run.lag_seconds is not None and run.lag_seconds > 2 * LEASE_SECONDS:
        run.problems.append(f"kill run: lag {run.lag_seconds:.1f} s is more than twice the {LEASE_SECONDS} s lease")
    # An email whose worker died between the SMTP server's 250 and our record is sent again with the
    # same Message-ID and counted (the one window SMTP leaves, README "Reliability"); anything else
    # received twice is a fault.
    if run.duplicates > run.resends:
        run.problems.append(f"kill run: {run.duplicates} received twice, {run.resends} of them counted resends")
    return run


REDIS_PID: int | None = None


def rows(*, quick: bool = False, reminders: int | None = None, kill: bool = True, throughput: bool = True) -> list[Run]:
    """Every scaling figure on a database and Redis of its own (made and dropped here).

    ``throughput=False`` runs the kill run alone (``make bench`` takes that row; the 1/2/4-process
    table is this module's own run).
    """
    global REDIS_PID
    reminders = reminders or (400 if quick else 6000)
    own_redis = None
    if not base.REDIS_URL:
        from devtools.processes import OwnRedis

        own_redis = OwnRedis().start()
        base.REDIS_URL = own_redis.url
        REDIS_PID = own_redis.proc.pid if own_redis.proc else None
    base.recreate_database(base.DB_URL)
    base.setup_django()
    try:
        population = Population(reminders)
        runs = []
        if throughput:
            runs += [
                throughput_run(
                    population, [(f"w{i}", "%h") for i in range(1, n + 1)], f"{n} process{'es' if n > 1 else ''}"
                )
                for n in (1, 2, 4)
            ]
            runs.append(throughput_run(population, [("w1", "hostA"), ("w2", "hostB")], "2 processes, hosts A and B"))
        if kill:
            runs.append(kill_run(population))
        return runs
    finally:
        from django.db import connections

        connections.close_all()
        base.drop_database(base.DB_URL)
        if own_redis is not None:
            own_redis.stop()


def table(runs: list[Run]) -> list[str]:
    """Markdown rows of the figures."""
    one = runs[0].per_second if runs else 0.0
    lines = [
        f"Worker: `--pool {WORKER_POOL} --concurrency {WORKER_CONCURRENCY}` per process; lease {LEASE_SECONDS} s, "
        f"dispatcher every {DISPATCH_INTERVAL} s (kill run); {os.cpu_count()} CPUs.",
        "",
        "| run | reminders | seconds | reminders/s | × 1 process | load avg before / after | duplicates "
        "| send tasks per host | lag after the kill |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        hosts = ", ".join(f"{h} {n}" for h, n in sorted(r.per_host.items())) or ""
        lag = f"{r.lag_seconds:.1f} s ({r.reclaimed} claimed again)" if r.lag_seconds is not None else ""
        lines.append(
            f"| {r.label} | {r.reminders:,} | {r.seconds:.1f} | {r.per_second:.0f} | "
            f"{r.per_second / one:.2f}× | {r.load_before:.2f} / {r.load_after:.2f} | "
            f"{r.duplicates}{f' ({r.resends} counted resends)' if r.resends else ''} | {hosts} | {lag} |"
        )
    lines.append("")
    lines += [f"- {r.label}: {r.cpu}" for r in runs if r.cpu]
    return lines


def main() -> int:
    global LEASE_SECONDS, DISPATCH_INTERVAL, SEND_TIMEOUT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: proves every step works")
    parser.add_argument("--reminders", type=int, help="per run (default 6000, 400 quick)")
    parser.add_argument("--no-kill", action="store_true", help="skip the kill run")
    parser.add_argument("--kill-only", action="store_true", help="only the kill run (make bench's row)")
    parser.add_argument(
        "--lease",
        type=int,
        default=LEASE_SECONDS,
        help="seconds (default the README's 30); --quick runs use 8, with a 2 s dispatcher and send timeout 3 s",
    )
    args = parser.parse_args()
    if args.lease != LEASE_SECONDS:
        # A shorter lease scales the whole recovery down (the quick run proves the steps, not the figure).
        LEASE_SECONDS, DISPATCH_INTERVAL, SEND_TIMEOUT = (
            args.lease,
            max(1, args.lease // 4),
            max(1, args.lease // 2 - 1),
        )
    runs = rows(quick=args.quick, reminders=args.reminders, kill=not args.no_kill, throughput=not args.kill_only)
    print("\n".join(table(runs)))
    for run in runs:
        if run.lag_seconds is not None:
            # One line for bench/suite.py to read.
            print(
                f"kill run: lag {run.lag_seconds:.1f} s, lease {LEASE_SECONDS} s, duplicates {run.duplicates}, "
                f"counted resends {run.resends}, claimed again {run.reclaimed}"
            )
    problems = [p for r in runs for p in r.problems]
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
