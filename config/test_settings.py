"""Test settings: the real settings with a test key and fast hashing."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")

from config.settings import *  # noqa: F403

# Argon2 is deliberately slow; tests log users in hundreds of times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405

# Tests speak plain HTTP to the test client and to the live server on 127.0.0.1.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_HSTS_SECONDS = 0

# Parallel test runs (pytest-xdist) share one Redis cache: each worker keeps its own keys, so that
# one test's throttle counts or lockouts never reach another's.
if os.environ.get("PYTEST_XDIST_WORKER") and REDIS_URL:  # noqa: F405
    CACHES["default"]["KEY_PREFIX"] = os.environ["PYTEST_XDIST_WORKER"]  # noqa: F405
