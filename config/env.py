"""Reading configuration from the environment.

Each parser raises ``ConfigError`` with one sentence naming the variable, so that start-up can
fail with a single clear line instead of a traceback (see ``config.settings``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ


class ConfigError(Exception):
    """A configuration value is missing or malformed."""


_DB_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "psql"}
_BROKER_SCHEMES = {"redis", "rediss", "filesystem", "memory"}


def secret(name: str, default: str | None = None) -> str | None:
    """Read ``NAME`` or, failing that, the file named by ``NAME_FILE`` (Docker/K8s secrets)."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE points at {path!r}, which cannot be read ({exc.strerror}).") from None
    return default


def boolean(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false, yes/no), got {raw!r}.")


def integer(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}.")
    return value


def database(url: str) -> dict[str, Any]:
    """Parse ``DATABASE_URL`` into Django's DATABASES entry."""
    scheme = urlsplit(url).scheme
    if scheme not in _DB_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL has an unsupported scheme {scheme!r}: use sqlite:///path or "
            "postgres://user:password@host:port/name."
        )
    if scheme != "sqlite":
        try:
            urlsplit(url).port  # noqa: B018 - raises ValueError on a non-numeric port
        except ValueError:
            raise ConfigError("DATABASE_URL has a port that is not a number.") from None
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises several types for malformed URLs
        raise ConfigError(f"DATABASE_URL is malformed: {exc}.") from None
    if scheme != "sqlite" and not config.get("NAME"):
        raise ConfigError("DATABASE_URL names no database (postgres://host:5432/NAME).")
    return config


def broker(url: str, name: str = "REDIS_URL") -> str:
    """Validate a Celery broker URL (Redis in production, filesystem:// embedded)."""
    parts = urlsplit(url)
    if parts.scheme not in _BROKER_SCHEMES:
        raise ConfigError(f"{name} has an unsupported scheme {parts.scheme!r}: use redis://host:6379/0.")
    if parts.scheme.startswith("redis"):
        if not parts.hostname:
            raise ConfigError(f"{name} names no host (redis://host:6379/0).")
        try:
            parts.port  # noqa: B018
        except ValueError:
            raise ConfigError(f"{name} has a port that is not a number.") from None
        db = parts.path.lstrip("/")
        if db and not db.isdigit():
            raise ConfigError(f"{name} must end with a database number such as /0, got /{db}.")
    return url
