"""The comparison harness's counting and the results table, without processes."""

from __future__ import annotations

import redis

from bench.compare.harness import Plan, Timeline, WayResult, _collect
from bench.suite import Row, Suite, compare_table, render


class FakeRedis:
    def __init__(self, records: list[str]) -> None:
        self.records = [r.encode() for r in records]

    def lrange(self, key: str, start: int, end: int) -> list[bytes]:
        return self.records


def test_collect_counts_duplicates_losses_and_cancelled_sends():
    plan = Plan(
        patient_ids=[1] * 4, surgery_ids=[1] * 4, item_ids=[1] * 4, offsets=[0, 0, 0, 0], cancel={3}, per_surgery=4
    )
    due = [100.0, 100.0, 100.0, 100.0]
    # 0 twice (a duplicate), 1 late by 5 s, 2 never, 3 cancelled but sent, plus a stranger's record.
    client = FakeRedis(["0|101", "0|130", "1|105", "3|100", "x|100"])
    result = WayResult(key="b", label="(b)")
    _collect(client, "k", lambda ref: int(ref) if ref.isdigit() else None, due, plan, result)  # type: ignore[arg-type]
    assert (result.delivered, result.duplicates, result.lost, result.cancelled_fired) == (3, 1, 1, 1)
    assert result.lag_median == 3.0 and result.lag_max == 5.0


def test_table_shows_ratios_to_the_product():
    a = WayResult(key="a", label="(a)", schedule_seconds=1.0, lag_median=10.0, cancelled=1000, settings="x")
    b = WayResult(key="b", label="(b)", schedule_seconds=4.0, lag_median=1.0, cancelled=1000, settings="y")
    lines = compare_table([a, b], Timeline(), 10_000)
    schedule = next(line for line in lines if line.startswith("| time to schedule"))
    assert "4.0×" in schedule
    suite = Suite(quick=True)
    suite.rows.append(Row("board", "50.0 ms", "60.0 ms", target="median < 100 ms", met=True))
    text = render(suite, engine="SQLite", broker="Redis", total=60)
    assert "| board | 50.0 ms | 60.0 ms |" in text and "cores" in text


def test_redis_is_a_real_dependency():
    # The harness records through redis-py; the fake above mirrors the one call it makes.
    assert hasattr(redis.Redis, "lrange")
