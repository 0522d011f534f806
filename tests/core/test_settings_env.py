"""Settings parsing: good values are read, bad ones stop start-up with one line naming the variable."""

from __future__ import annotations

import subprocess
import sys

import pytest

from config import env
from config.env import ConfigError
from tests.services import ROOT


@pytest.mark.parametrize(
    ("url", "engine", "name"),
    [
        ("sqlite:////tmp/x.sqlite3", "django.db.backends.sqlite3", "/tmp/x.sqlite3"),
        ("postgres://u:p@db.example:5433/preop", "django.db.backends.postgresql", "preop"),
        ("postgresql://127.0.0.1/test", "django.db.backends.postgresql", "test"),
    ],
)
def test_database_url_parsed(url: str, engine: str, name: str) -> None:
    config = env.database(url)
    assert config["ENGINE"] == engine
    assert config["NAME"] == name


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/x", "unsupported scheme 'mysql'"),
        ("not a url", "unsupported scheme ''"),
        ("postgres://host:abc/db", "port that is not a number"),
        ("postgres://host:5432/", "names no database"),
    ],
)
def test_database_url_rejected(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        env.database(url)
    assert "DATABASE_URL" in str(info.value)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache:6380/2", "filesystem://"])
def test_broker_url_accepted(url: str) -> None:
    assert env.broker(url) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://localhost:6379", "unsupported scheme 'http'"),
        ("redis://:6379/0", "names no host"),
        ("redis://localhost:port/0", "not a number"),
        ("redis://localhost:6379/zero", "database number"),
    ],
)
def test_broker_url_rejected(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        env.broker(url)


def test_boolean_and_integer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_FLAG", "yes")
    monkeypatch.setenv("X_NUM", "42")
    assert env.boolean("X_FLAG", False) is True
    assert env.integer("X_NUM", 1) == 42
    monkeypatch.setenv("X_FLAG", "maybe")
    monkeypatch.setenv("X_NUM", "forty")
    with pytest.raises(ConfigError, match="X_FLAG must be a boolean"):
        env.boolean("X_FLAG", False)
    with pytest.raises(ConfigError, match="X_NUM must be a whole number"):
        env.integer("X_NUM", 1)


def test_secret_from_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "key"
    secret_file.write_text("from-a-file\n")
    monkeypatch.delenv("MY_SECRET", raising=False)
    monkeypatch.setenv("MY_SECRET_FILE", str(secret_file))
    assert env.secret("MY_SECRET") == "from-a-file"
    monkeypatch.setenv("MY_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="MY_SECRET_FILE"):
        env.secret("MY_SECRET")


def _start(env_vars: dict[str, str]) -> subprocess.CompletedProcess:
    base = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "DJANGO_SETTINGS_MODULE": "config.settings"}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=base | env_vars,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env_vars", "variable"),
    [
        ({"DEBUG": "0"}, "SECRET_KEY"),
        ({"DEBUG": "1", "DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"DEBUG": "1", "REDIS_URL": "redis://localhost:notaport/0"}, "REDIS_URL"),
        ({"DEBUG": "1", "CELERY_BROKER_URL": "amqp://guest@localhost//"}, "CELERY_BROKER_URL"),
        ({"DEBUG": "perhaps"}, "DEBUG"),
        ({"DEBUG": "1", "SMS_BACKEND": "carrier-pigeon"}, "SMS_BACKEND"),
        ({"DEBUG": "1", "REMINDERS_SEND_CHUNK": "0"}, "REMINDERS_SEND_CHUNK"),
        # Read outside any try/except of the settings: ConfigError is itself the one-line exit.
        ({"DEBUG": "1", "STAFF_IDLE_MINUTES": "fifteen"}, "STAFF_IDLE_MINUTES"),
        ({"DEBUG": "1", "SESSION_ABSOLUTE_HOURS": "0"}, "SESSION_ABSOLUTE_HOURS"),
        ({"DEBUG": "1", "SECURE_HSTS_SECONDS": "1y"}, "SECURE_HSTS_SECONDS"),
        ({"DEBUG": "0", "SECRET_KEY_FILE": "/nonexistent/secret"}, "SECRET_KEY_FILE"),
        ({"DEBUG": "1", "AXES_FAILURE_LIMIT_FILE": "/nonexistent/limit"}, "AXES_FAILURE_LIMIT_FILE"),
        ({"DEBUG": "1", "DOCUMENTS_MAX_MB": "0"}, "DOCUMENTS_MAX_MB"),
        # Documents in a folder served as static files would be public: refused.
        ({"DEBUG": "1", "DOCUMENTS_DIR": str(ROOT / "static" / "documents")}, "DOCUMENTS_DIR"),
    ],
)
def test_bad_configuration_fails_with_one_line(env_vars: dict[str, str], variable: str) -> None:
    result = _start(env_vars)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error:")
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


def test_every_variable_can_come_from_a_file(tmp_path) -> None:
    """django-environ's file-aware reader: NAME_FILE for any variable, not only the secrets."""
    (tmp_path / "key").write_text("k" * 50 + "\n")
    (tmp_path / "hosts").write_text("example.org")
    (tmp_path / "idle").write_text("oops")
    good = {"DEBUG": "0", "SECRET_KEY_FILE": str(tmp_path / "key"), "ALLOWED_HOSTS_FILE": str(tmp_path / "hosts")}
    assert _start(good).returncode == 0, _start(good).stderr
    bad = _start({**good, "STAFF_IDLE_MINUTES_FILE": str(tmp_path / "idle")})
    assert bad.returncode == 1 and bad.stderr.strip().startswith("Configuration error: STAFF_IDLE_MINUTES")


def test_good_configuration_starts() -> None:
    result = _start({"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "example.org"})
    assert result.returncode == 0, result.stderr


def test_documents_storage_from_the_environment() -> None:
    """A private folder by default; an S3-compatible bucket with DOCUMENTS_S3_*, which needs boto3."""
    show = "from django.conf import settings; print(settings.STORAGES['documents'])"
    base = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1"}

    def storages(extra: dict[str, str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", show],
            cwd=ROOT,
            env=base | extra,
            capture_output=True,
            text=True,
            timeout=60,
        )

    default = storages({})
    assert "documents.storage.PrivateFileSystemStorage" in default.stdout, default.stderr
    s3 = {
        "DOCUMENTS_S3_BUCKET": "preop-documents",
        "DOCUMENTS_S3_ENDPOINT_URL": "https://objects.example.org",
        "DOCUMENTS_S3_REGION": "eu-west-1",
        "DOCUMENTS_S3_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "DOCUMENTS_S3_SECRET_ACCESS_KEY": "not-a-real-secret",
    }
    bucket = storages(s3)
    try:
        import boto3  # noqa: F401
    except ImportError:
        assert bucket.returncode == 1
        assert bucket.stderr.strip() == (
            "Configuration error: DOCUMENTS_S3_BUCKET is set but boto3 is not installed (django-storages[s3])."
        )
    else:
        assert "documents.storage_s3.PrivateS3Storage" in bucket.stdout, bucket.stderr
        for value in ("preop-documents", "https://objects.example.org", "eu-west-1", "AKIDEXAMPLE"):
            assert value in bucket.stdout
