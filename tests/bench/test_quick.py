"""`python -m bench --quick` fails the run when a step fails or produces nonsense, without running it."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from bench import suite as bench_suite
from bench.compare.harness import WayResult
from bench.suite import Suite, compare_problems, reminders_output_problem, sizes_for


def _way(key: str, **fields) -> WayResult:
    values = {"scheduled": 200, "cancelled": 20, "delivered": 180, **fields}
    return WayResult(key=key, label=f"({key})", **values)


def test_the_product_must_deliver_everything_once_in_the_quick_run():
    ok = [_way("a"), _way("b", lost=30, queued=30, duplicates=2), _way("c", lost=100)]
    assert compare_problems(ok, quick=True) == []  # (b) and (c) losing is the comparison's finding
    assert compare_problems([_way("a", delivered=170, lost=10, queued=10)], quick=False) == []  # waiting, not lost
    [late] = compare_problems([_way("a", delivered=170, lost=10, queued=10)], quick=True)
    assert "10 of 180 wanted reminders not delivered" in late
    assert any("neither delivered nor waiting" in p for p in compare_problems([_way("a", lost=5)], quick=False))
    # One email per pool process killed inside the SMTP window is sent again (README): 2 processes.
    assert compare_problems([_way("a", duplicates=2)], quick=True) == []
    assert compare_problems([_way("a", duplicates=3)], quick=False)
    assert compare_problems([_way("a", cancelled_fired=1)], quick=False)


def test_a_way_that_broke_or_delivered_nothing_fails():
    [broken] = compare_problems([_way("a", error="beat exited during the run: Configuration error")], quick=True)
    assert "beat exited" in broken
    assert compare_problems([_way("b", delivered=0)], quick=True) == ["(b): nothing delivered"]
    # django-celery-beat's known crash on SQLite (README) is a finding there, not a fault of the run.
    assert (
        compare_problems([_way("c", delivered=0, error="beat exited during the run")], quick=False, sqlite=True) == []
    )


def test_reminders_module_output_is_checked():
    good = (
        "throughput: 200 reminders in 1.0 s = 200 reminders/s with 2 worker processes (prefork pool, concurrency 1) "
        "(claimed and enqueued in 0.1 s; received: 100 emails, 100 texts; 2 CPUs)\n"
        "claim query: 500 due rows among 20,700 pending: median 3.0 ms"
    )
    assert reminders_output_problem(good) == ""
    assert "99 texts" in reminders_output_problem(good.replace("100 texts", "99 texts"))
    assert reminders_output_problem(good.split("\n")[0]) == "no claim query line in its output"
    assert reminders_output_problem("") == "no throughput line in its output"


def test_a_step_that_raises_fails_the_run_and_the_others_still_run(tmp_path, capsys):
    suite = Suite(quick=True, logdir=tmp_path)

    def broken() -> None:
        raise RuntimeError("/ answered 500")

    assert suite.step("pages", broken) is None
    assert suite.step("seed", lambda: 3) == 3
    assert suite.failures == ["pages: RuntimeError: / answered 500"]
    assert [name for name, _ in suite.timings] == ["pages", "seed"]

    class Settings:
        CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"

    class Connection:
        vendor = "postgresql"

    # No --output: the quick run prints its table and writes no file, and exits non-zero.
    assert bench_suite._finish(suite, None, Settings, Connection) == 1
    out, err = capsys.readouterr()
    assert "## Failed steps" in out and "pages: RuntimeError" in err
    output = tmp_path / "quick.md"
    assert bench_suite._finish(Suite(quick=True, logdir=tmp_path), str(output), Settings, Connection) == 0
    assert output.exists()


@pytest.mark.parametrize("quick", [True, False])
def test_the_comparison_settings_pass_the_products_own_check(quick):
    # config/settings.py exits when the lease is not more than twice the send timeout; way (a)'s
    # worker then never starts (the harness's former 20 s lease with the 10 s default did exactly that).
    timeline = sizes_for(quick=quick).timeline
    lease = timeline.lease or 30
    send_timeout = timeline.send_timeout or 10
    assert lease > 2 * send_timeout
    assert timeline.deadline > timeline.kill_at + lease  # a killed worker's claims come back within the run


def test_a_way_ends_once_nothing_is_waiting_anywhere():
    # After the kill and the due window, a way whose every reminder is either delivered or lost for
    # good (nothing pending, held or queued) has no figure left to change: it ends before the deadline.
    from bench.compare.harness import Timeline, _wait_and_kill

    class Procs:
        def kill(self, proc) -> None:
            proc.killed = True

    worker = [SimpleNamespace(pid=1, killed=False)]
    waiting = iter([3, 1, 0])
    ended, killed_at = _wait_and_kill(
        t0=time.time(),
        timeline=Timeline(due_from=0, due_to=-5, kill_at=0, deadline=30),
        procs=Procs(),
        worker=worker,
        restart=lambda: SimpleNamespace(pid=2),
        sampler=SimpleNamespace(watch={}),
        done=lambda: False,
        log=lambda _msg: None,
        waiting=lambda: next(waiting),
    )
    assert ended < 10 and killed_at >= 0 and worker[0].pid == 2
