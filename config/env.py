"""Reading configuration from the environment, through django-environ's file-aware reader.

Every variable ``NAME`` can also come from the file named by ``NAME_FILE`` (Docker and Kubernetes
secrets), as ``environ.FileAwareEnv`` reads it. Each parser raises ``ConfigError`` with one
sentence naming the variable. ``ConfigError`` is a ``SystemExit``: wherever settings read a variable,
a bad value stops start-up with that one line ("Configuration error: ...") and no traceback, even
where the settings do not catch it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import environ
from environ.fileaware_mapping import FileAwareMapping


class ConfigError(SystemExit):
    """A configuration value is missing or malformed (exits with one line when not caught)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Configuration error: {message}")
        self.message = message

    def __str__(self) -> str:
        return self.message


_DB_SCHEMES = {"sqlite", "postgres", "postgresql", "pgsql", "psql"}
_BROKER_SCHEMES = {"redis", "rediss", "filesystem", "memory"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env() -> environ.FileAwareEnv:
    reader = environ.FileAwareEnv()
    # Uncached: a secret file rotated (or a variable changed by a test) is read again.
    reader.ENVIRON = FileAwareMapping(cache=False)
    return reader


def _raw(name: str) -> str | None:
    """``NAME_FILE``'s contents (stripped), else ``NAME``, else None; an unreadable file is a ConfigError."""
    reader = _env()
    try:
        value = reader.str(name, default=None)
    except OSError as exc:
        path = reader.ENVIRON.env.get(f"{name}_FILE")
        raise ConfigError(f"{name}_FILE points at {path!r}, which cannot be read ({exc.strerror}).") from None
    return value.strip() if isinstance(value, str) and reader.ENVIRON.env.get(f"{name}_FILE") else value


def string(name: str, default: str = "") -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def secret(name: str, default: str | None = None) -> str | None:
    """Read ``NAME`` or the file named by ``NAME_FILE``; ``default`` when neither is set."""
    value = _raw(name)
    return value if value else default


def boolean(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE | _FALSE:
        return _env().bool(name) if lowered in _TRUE else False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false, yes/no), got {raw!r}.")


def integer(name: str, default: int, *, minimum: int = 0) -> int:
    raw = _raw(name)
    if raw is None or raw == "":
        return default
    try:
        value = _env().int(name)
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
