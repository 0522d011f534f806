"""Side by side: three ways to deliver 10,000 reminders, same run, same Redis, same machine.

(a) this product: Reminder rows (the outbox), one beat entry claiming due rows, one short send task
    per claimed row (R's ``reminders`` app, unchanged, through ``celery -A config``);
(b) one Celery task per reminder with ``apply_async(eta=...)``;
(c) one django-celery-beat ``ClockedSchedule`` + ``PeriodicTask(one_off=True)`` per reminder, run by
    ``celery beat -S django_celery_beat.schedulers:DatabaseScheduler``.

Each way gets the same 10,000 reminders for the same 1,000 booked surgeries (10 each), due
uniformly over a short window, then: 1,000 of them (those of 100 surgeries) are cancelled, the
worker is killed with SIGKILL in the middle of the window and started again, and every delivery
is recorded in Redis by the email backend (``bench.compare.mail``). Nothing is simulated: real
worker and beat processes, a real Redis server started here on a free port (never the machine's
Redis on 6379), and the benchmark's throwaway database.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import redis
from django.db import transaction

from devtools.processes import database_url_for_subprocess as database_url
from devtools.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
CELERY = shutil.which("celery", path=str(Path(sys.executable).parent)) or "celery"
SETTINGS = "bench.compare.settings"
WORKER_CONCURRENCY = 2  # prefork processes of every way's worker


@dataclasses.dataclass
class Timeline:
    """Seconds from the start of scheduling (t0)."""

    due_from: float = 20.0
    due_to: float = 60.0
    kill_at: float = 40.0  # or just after scheduling ends, if that is later
    deadline: float = 180.0  # the run ends here, or earlier once every wanted reminder arrived
    startup: float = 6.0  # workers and beat connect before t0: start-up is not part of any figure
    # Ways (b) and (c): the broker's visibility timeout is the longest ETA plus this margin.
    visibility_margin: float = 15.0
    # Ways (b) and (c): seconds between kombu's sweeps that give back messages unacknowledged for longer
    # than the visibility timeout (kombu's advice for a low timeout); None keeps kombu's default (~100 s).
    restore_every: int | None = None
    # Way (a)'s settings: None keeps the product's default (dispatch every 30 s, lease 30 s, send timeout
    # 10 s). The quick run shortens them so that a kill is recovered within its few seconds.
    dispatch_every: int | None = None
    lease: int | None = None
    send_timeout: int | None = None


@dataclasses.dataclass
class WayResult:
    key: str
    label: str
    scheduled: int = 0
    schedule_seconds: float = 0.0
    cancel_seconds: float = 0.0
    cancelled: int = 0
    worker_rss_mb: float = 0.0
    beat_rss_mb: float | None = None
    lag_median: float | None = None
    lag_p95: float | None = None
    lag_max: float | None = None
    delivered: int = 0
    duplicates: int = 0
    lost: int = 0
    queued: int = 0
    cancelled_fired: int = 0
    killed_at: float = 0.0
    ended_at: float = 0.0
    settings: str = ""
    error: str = ""


# --- processes ------------------------------------------------------------------------------


class Processes:
    """Every process the harness starts, each in its own session; all stopped by ``stop_all``."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logdir / f"{name}.log", "a")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc._bench_log = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(proc)
        else:
            # The leader is gone; its pool children may not be.
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        log = getattr(proc, "_bench_log", None)
        if log:
            log.close()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()


@contextmanager
def redis_server(logdir: Path) -> Iterator[str]:
    """A Redis server of our own on a free port, no persistence; stopped on exit."""
    port = free_port()
    log = open(logdir / "redis-server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}"
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


class RssSampler(threading.Thread):
    """The peak resident memory of each watched process tree (leader + children), sampled twice a second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.watch: dict[str, int] = {}
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()

    def run(self) -> None:
        import psutil

        while not self._stop.is_set():
            for role, pid in list(self.watch.items()):
                try:
                    root = psutil.Process(pid)
                    total = root.memory_info().rss + sum(
                        c.memory_info().rss for c in root.children(recursive=True) if c.is_running()
                    )
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
                self.peak[role] = max(self.peak.get(role, 0.0), total / 1024 / 1024)
            self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()


# --- the data set ---------------------------------------------------------------------------


@dataclasses.dataclass
class Plan:
    """The 10,000 reminders: for each, its patient, surgery and due offset (s after t0)."""

    patient_ids: list[int]
    surgery_ids: list[int]
    item_ids: list[int]
    offsets: list[float]
    cancel: set[int]
    per_surgery: int


def plan_make(*, surgeries: list, count: int, cancel_surgeries: int, timeline: Timeline) -> Plan:
    """``surgeries``: booked surgeries, each with an open item that wants a patient reminder."""
    from reminders.planner import item_wants_patient_reminder

    per = max(count // len(surgeries), 1)
    patient_ids, surgery_ids, item_ids, offsets = [], [], [], []
    span = timeline.due_to - timeline.due_from
    for index in range(count):
        surgery = surgeries[(index // per) % len(surgeries)]
        item = next(i for i in surgery.checklist.items.all() if item_wants_patient_reminder(i))
        patient_ids.append(surgery.patient_id)
        surgery_ids.append(surgery.pk)
        item_ids.append(item.pk)
        # Spread over the window, each surgery's reminders across all of it (golden-ratio order).
        offsets.append(timeline.due_from + span * ((index * 0.6180339887) % 1.0))
    cancel = {i for i in range(count) if (i // per) < cancel_surgeries}
    return Plan(patient_ids, surgery_ids, item_ids, offsets, cancel, per)


# --- one run of one way ---------------------------------------------------------------------


def _env(base: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CELERY_"))}
    env.update(base)
    env.update(extra)
    return env


def _worker_argv(app: str, name: str, statedb: str | None) -> list[str]:
    argv = [
        CELERY,
        "-A",
        app,
        "worker",
        "--loglevel=INFO",
        f"--concurrency={WORKER_CONCURRENCY}",
        "--pool=prefork",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--hostname={name}@%h",
    ]
    if statedb:
        argv.append(f"--statedb={statedb}")
    return argv


def _collect(
    client: redis.Redis,
    key: str,
    index_of: Callable[[str], int | None],
    due_at: list[float],
    plan: Plan,
    result: WayResult,
    cancelled_at: float = 0.0,
) -> None:
    first: dict[int, float] = {}
    count = 0
    for raw in client.lrange(key, 0, -1):
        ref, at = raw.decode().split("|")
        index = index_of(ref)
        if index is None:
            continue  # not one of ours (a seeded reminder, a digest)
        count += 1
        first[index] = min(first.get(index, float("inf")), float(at))
    result.delivered = len(first)
    result.duplicates = count - len(first)
    expected = [i for i in range(len(due_at)) if i not in plan.cancel]
    result.lost = sum(1 for i in expected if i not in first)
    # Sent before the cancel finished is not a failure of the cancel; sent after it is.
    result.cancelled_fired = sum(1 for i in plan.cancel if i in first and first[i] > cancelled_at)
    lags = sorted(first[i] - due_at[i] for i in expected if i in first)
    if lags:
        result.lag_median = statistics.median(lags)
        result.lag_p95 = lags[min(len(lags) - 1, int(len(lags) * 0.95))]
        result.lag_max = lags[-1]


def _wait_and_kill(
    *,
    t0: float,
    timeline: Timeline,
    procs: Processes,
    worker: list[subprocess.Popen],
    restart: Callable[[], subprocess.Popen],
    sampler: RssSampler,
    done: Callable[[], bool],
    log: Callable[[str], None],
    waiting: Callable[[], int] | None = None,
) -> tuple[float, float]:
    """Kill the worker at ``kill_at``; return once every wanted reminder arrived, or nothing is waiting
    anywhere that could still send one (``waiting``: the end-of-run "still waiting" count), or at the
    deadline. Ending when nothing waits changes no figure: no delivery can come after it."""
    killed = False
    kill_at = max(timeline.kill_at, time.time() - t0 + 2)
    # A kill delayed by slow scheduling (way (c) on a loaded machine) keeps the time the run gives after
    # the kill: otherwise the deadline could pass at the kill, and nothing after it would be seen.
    deadline = timeline.deadline + (kill_at - timeline.kill_at)
    while True:
        elapsed = time.time() - t0
        if not killed and elapsed >= kill_at:
            log(f"    SIGKILL the worker at t+{elapsed:.0f} s, start it again")
            procs.kill(worker[0])
            time.sleep(1.0)
            worker[0] = restart()
            sampler.watch["worker"] = worker[0].pid
            killed = True
        settled = killed and elapsed > timeline.due_to + 5
        if elapsed >= deadline or (settled and (done() or (waiting is not None and waiting() == 0))):
            return elapsed, kill_at
        time.sleep(0.5)


def run_way(
    key: str,
    *,
    plan: Plan,
    redis_url: str,
    db: int,
    timeline: Timeline,
    logdir: Path,
    log: Callable[[str], None],
) -> WayResult:
    labels = {
        "a": "(a) outbox + dispatcher (this product)",
        "b": "(b) one Celery ETA task per reminder",
        "c": "(c) one django-celery-beat clocked task per reminder",
    }
    result = WayResult(key=key, label=labels[key])
    client = redis.Redis.from_url(f"{redis_url}/0")
    record_key = f"deliveries:{key}"
    client.delete(record_key)
    broker = f"{redis_url}/{db}"
    redis.Redis.from_url(broker).flushdb()
    workdir = Path(tempfile.mkdtemp(prefix=f"compare-{key}-", dir=logdir))
    # The longest ETA of the run plus a margin: what Celery's Redis caveats ask for.
    visibility = int(timeline.due_to + timeline.visibility_margin)
    base = {
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker,
        "REDIS_URL": broker,
        "BENCH_RECORD_URL": f"{redis_url}/0",
        "BENCH_RECORD_KEY": record_key,
        "VAR_DIR": str(workdir),
        "PYTHONUNBUFFERED": "1",
    }
    procs = Processes(logdir)
    sampler = RssSampler()
    sampler.start()
    try:
        if key == "a":
            scaled = {
                "REMINDERS_DISPATCH_INTERVAL": timeline.dispatch_every,
                "REMINDERS_LEASE_SECONDS": timeline.lease,
                "REMINDERS_SEND_TIMEOUT": timeline.send_timeout,
            }
            scaled = {name: str(value) for name, value in scaled.items() if value is not None}
            env = _env(base, REMINDERS_BATCH_SIZE="10000", REMINDERS_DISPATCH_MAX="10000", **scaled)
            result.settings = (
                "product defaults (beat every 10 s, lease 30 s, acks_late, prefetch 1, visibility 600 s) except "
                "batch 10,000" + "".join(f", {name} {value}" for name, value in scaled.items())
            )
            worker = [procs.start("a-worker", _worker_argv("config", "a-worker", None), env)]
            beat = procs.start(
                "a-beat",
                [CELERY, "-A", "config", "beat", "--loglevel=INFO", f"--schedule={workdir / 'beat-schedule'}"],
                env,
            )
            restart = lambda: procs.start("a-worker", _worker_argv("config", "a-worker", None), env)  # noqa: E731
        else:
            restore = {"COMPARE_RESTORE_INTERVAL": str(timeline.restore_every)} if timeline.restore_every else {}
            env = _env(base, COMPARE_VISIBILITY_TIMEOUT=str(visibility), **restore)
            statedb = str(workdir / "worker.state")
            result.settings = (
                f"visibility_timeout {visibility} s (> longest ETA), "
                + (f"unacked messages restored every {timeline.restore_every} s, " if restore else "")
                + "acks_late, prefetch multiplier 1, reject on worker lost, --statedb (persistent revokes)"
                + ("; DatabaseScheduler defaults (max interval 5 s)" if key == "c" else "")
            )
            argv = _worker_argv("bench.compare.celery_app", f"{key}-worker", statedb)
            worker = [procs.start(f"{key}-worker", argv, env)]
            beat = (
                procs.start(
                    "c-beat",
                    [
                        CELERY,
                        "-A",
                        "bench.compare.celery_app",
                        "beat",
                        "--loglevel=INFO",
                        "-S",
                        "django_celery_beat.schedulers:DatabaseScheduler",
                    ],
                    env,
                )
                if key == "c"
                else None
            )
            restart = lambda: procs.start(f"{key}-worker", argv, env)  # noqa: E731
        sampler.watch["worker"] = worker[0].pid
        if beat is not None:
            sampler.watch["beat"] = beat.pid
        time.sleep(timeline.startup)  # let them connect: start-up is not part of any figure

        t0 = time.time()
        due_at = [t0 + off for off in plan.offsets]
        refs: dict[str, int] = {}
        if key == "a":
            refs, result.schedule_seconds = _schedule_a(plan, due_at)
            result.cancel_seconds = _cancel_a(plan)
        elif key == "b":
            result.schedule_seconds, result.cancel_seconds = _schedule_and_cancel_b(plan, due_at, broker)
        else:
            result.schedule_seconds, result.cancel_seconds = _schedule_and_cancel_c(plan, due_at)
        cancelled_at = time.time()
        result.scheduled = len(plan.offsets)
        result.cancelled = len(plan.cancel)
        log(
            f"    scheduled in {result.schedule_seconds:.1f} s, "
            f"cancelled {len(plan.cancel):,} in {result.cancel_seconds:.2f} s"
        )

        def index_of(ref: str) -> int | None:
            return refs.get(ref) if key == "a" else (int(ref) if ref.isdigit() else None)

        expected = len(plan.offsets) - len(plan.cancel)

        def done() -> bool:
            return client.llen(record_key) >= expected

        def recorded() -> set[str]:
            return {raw.decode().split("|")[0] for raw in client.lrange(record_key, 0, -1)}

        result.ended_at, result.killed_at = _wait_and_kill(
            t0=t0,
            timeline=timeline,
            procs=procs,
            worker=worker,
            restart=restart,
            sampler=sampler,
            done=done,
            log=log,
            waiting=lambda: _still_queued(key, broker, recorded),
        )
        _collect(client, record_key, index_of, due_at, plan, result, cancelled_at=cancelled_at)
        result.queued = _still_queued(key, broker, recorded)
        if beat is not None and beat.poll() is not None:
            result.error = f"beat exited during the run: {_last_error(logdir / f'{key}-beat.log')}"
        result.worker_rss_mb = sampler.peak.get("worker", 0.0)
        result.beat_rss_mb = sampler.peak.get("beat")
    except Exception as exc:  # one way failing must not hide the others' figures
        result.error = f"{type(exc).__name__}: {exc}"
        log(f"    failed: {result.error}")
    finally:
        sampler.stop()
        procs.stop_all()
    return result


def _still_queued(key: str, broker: str, delivered: Callable[[], set[str]] = set) -> int:
    """What is still waiting at the end: outbox rows not yet sent (a), or messages the broker holds (b, c).

    ``delivered``: the references recorded as delivered (for (c), whose beat marks a one-off entry as
    run in the database only when it next syncs its schedule, minutes later).
    """
    if key == "a":
        from reminders.models import LIVE_STATUSES, Reminder

        return Reminder.objects.filter(key__startswith="compare:", status__in=LIVE_STATUSES).count()
    client = redis.Redis.from_url(broker)
    # Unacknowledged messages (held for the killed worker until the visibility timeout) and the queue.
    held = int(client.hlen("unacked") or 0) + int(client.llen("celery") or 0)
    if key == "c":
        from django_celery_beat.models import PeriodicTask

        # One-off tasks beat has not sent yet. Beat disables each one after sending it, but writes that
        # to the database only at its next sync: an enabled entry already delivered is not waiting.
        sent = delivered()
        names = PeriodicTask.objects.filter(name__startswith="reminder-", enabled=True).values_list("name", flat=True)
        held += sum(1 for name in names if name.removeprefix("reminder-") not in sent)
    return held


def _last_error(path: Path) -> str:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if "Error" in ln or "exception" in ln]
    return lines[-1].split("] ", 1)[-1][:200] if lines else "see its log"


def _schedule_a(plan: Plan, due_at: list[float]) -> tuple[dict[str, int], float]:
    from reminders.models import Channel, Kind, Reminder, Status

    rows, refs = [], {}
    started = time.perf_counter()
    for index, due in enumerate(due_at):
        when = dt.datetime.fromtimestamp(due, tz=dt.UTC)
        ref = uuid.uuid4()
        refs[str(ref)] = index
        rows.append(
            Reminder(
                uuid=ref,
                clinic_id=plan._clinic_id,
                patient_id=plan.patient_ids[index],  # type: ignore[attr-defined]
                surgery_id=plan.surgery_ids[index],
                surgery_version=1,
                item_id=plan.item_ids[index],
                covers=[plan.item_ids[index]],
                kind=Kind.TESTS,
                channel=Channel.EMAIL,
                key=f"compare:{ref}",
                planned_at=when,
                due_at=when,
                next_attempt_at=when,
                not_after=when + dt.timedelta(days=1),
                status=Status.PENDING,
            )
        )
    # As the planner writes them: bulk inserts inside the booking's transaction.
    with transaction.atomic():
        Reminder.objects.bulk_create(rows, batch_size=500)
    return refs, time.perf_counter() - started


def _cancel_a(plan: Plan) -> float:
    """The product's cancel: cancelling the surgeries, whose planner cancels their reminders in the same transaction."""
    from actions.booking import surgery_cancel
    from patients.models import Surgery

    ids = sorted({plan.surgery_ids[i] for i in plan.cancel})
    surgeries = list(Surgery.objects.filter(pk__in=ids))
    started = time.perf_counter()
    for surgery in surgeries:
        surgery_cancel(surgery=surgery, by=None, reason="Benchmark: cancelled")
    return time.perf_counter() - started


def _schedule_and_cancel_b(plan: Plan, due_at: list[float], broker: str) -> tuple[float, float]:
    from bench.compare.celery_app import app, deliver

    app.conf.broker_url = broker
    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for index, due in enumerate(due_at):
            deliver.apply_async(
                args=[index, plan.patient_ids[index]],
                eta=dt.datetime.fromtimestamp(due, tz=dt.UTC),
                task_id=f"reminder-{index}",
                producer=producer,
            )
    schedule = time.perf_counter() - started
    started = time.perf_counter()
    app.control.revoke([f"reminder-{i}" for i in sorted(plan.cancel)])
    return schedule, time.perf_counter() - started


def _schedule_and_cancel_c(plan: Plan, due_at: list[float]) -> tuple[float, float]:
    from django_celery_beat.models import ClockedSchedule, PeriodicTask

    started = time.perf_counter()
    # As an application would: one clocked schedule and one one-off task per reminder, saved normally
    # (the save signals tell the DatabaseScheduler that the schedule changed).
    for index, due in enumerate(due_at):
        with transaction.atomic():
            clocked = ClockedSchedule.objects.create(clocked_time=dt.datetime.fromtimestamp(due, tz=dt.UTC))
            PeriodicTask.objects.create(
                name=f"reminder-{index}",
                task="bench.compare.deliver",
                clocked=clocked,
                one_off=True,
                args=json.dumps([index, plan.patient_ids[index]]),
            )
    schedule = time.perf_counter() - started
    started = time.perf_counter()
    PeriodicTask.objects.filter(name__in=[f"reminder-{i}" for i in sorted(plan.cancel)]).delete()
    return schedule, time.perf_counter() - started


def compare_run(
    *,
    surgeries: list,
    clinic_id: int,
    logdir: Path,
    log: Callable[[str], None],
    count: int = 10_000,
    timeline: Timeline | None = None,
    ways: tuple[str, ...] = ("a", "b", "c"),
) -> list[WayResult]:
    """Run the ways one after the other on one Redis server started here; every process is stopped at the end."""
    timeline = timeline or Timeline()
    plan = plan_make(surgeries=surgeries, count=count, cancel_surgeries=max(len(surgeries) // 10, 1), timeline=timeline)
    plan._clinic_id = clinic_id  # type: ignore[attr-defined]
    results = []
    with redis_server(logdir) as url:
        for db, key in enumerate(ways, start=1):
            log(f"  comparison {key}: {count} reminders due t+{timeline.due_from:.0f}..{timeline.due_to:.0f} s")
            results.append(run_way(key, plan=plan, redis_url=url, db=db, timeline=timeline, logdir=logdir, log=log))
    return results
