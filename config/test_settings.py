"""Test settings: the real settings with a test key and fast hashing."""

import os
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")

from config.settings import *  # noqa: F403

# Argon2 is deliberately slow; tests log users in hundreds of times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
# Documents written by tests go to a folder of their own, never the development one; beside the test
# database, so a Celery worker started by a test (another process) writes where the test reads.
STORAGES["documents"]["BACKEND"] = "documents.storage.PrivateFileSystemStorage"  # noqa: F405
STORAGES["documents"]["OPTIONS"] = {"location": str(VAR_DIR / "test-documents")}  # noqa: F405

# Tests speak plain HTTP to the test client and to the live server on 127.0.0.1.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0


def _worker_redis_url(url: str) -> str:
    """The Redis database of this pytest-xdist worker: gw0 the given number, gw1 the one below...

    Tests start real Celery workers on it and flush it, and `cache.clear()` is FLUSHDB: no two test
    processes may share one (a flush by one emptied the other's rate-limit counters mid-test).
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0) - int(worker[2:])
    if number < 0:
        raise RuntimeError(f"TEST_REDIS_URL={url} leaves no Redis database for xdist worker {worker}")
    return urlunsplit(parts._replace(path=f"/{number}"))


# A database number of the tests' own, so they never touch what `make run` keeps in Redis.
TEST_REDIS_URL = _worker_redis_url(os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/15")
if os.environ.get("PYTEST_XDIST_WORKER") and REDIS_URL:  # noqa: F405
    CACHES["default"]["LOCATION"] = TEST_REDIS_URL  # noqa: F405
