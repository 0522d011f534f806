"""Shared fixtures and the service-marker rules.

Tests marked ``redis``, ``postgres`` or ``browser`` run whenever the service is reachable, are
skipped with a one-line reason when it is not, and fail instead when ``REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os

import pytest

from tests import services

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
_cache: dict[str, str | None] = {}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name, check in services.CHECKS.items():
        if item.get_closest_marker(name) is None:
            continue
        if name not in _cache:
            _cache[name] = check()
        reason = _cache[name]
        if reason:
            if REQUIRE_SERVICES:
                pytest.fail(f"REQUIRE_SERVICES=1 but the test {reason}", pytrace=False)
            pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    import redis

    url = services.test_redis_url()
    redis.Redis.from_url(url).flushdb()
    return url
