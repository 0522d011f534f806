"""Settings, read from the environment (see the README's table of variables).

A bad or missing value stops start-up with one line naming the variable (``sys.exit``), never a
traceback: the operator needs the name of the variable, not our stack.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from config import env
from config.env import ConfigError

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


def _load() -> dict:
    """Everything that can fail, in one place, so that one ``except`` turns it into one line."""
    debug = env.boolean("DEBUG", False)
    secret_key = env.secret("SECRET_KEY")
    if not secret_key:
        if not debug:
            raise ConfigError("SECRET_KEY is not set; it is required when DEBUG is off.")
        secret_key = "insecure-development-key-only-used-with-DEBUG-on"  # noqa: S105
    database_url = env.string("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
    redis_url = env.string("REDIS_URL", "")
    broker_name = "CELERY_BROKER_URL" if env.string("CELERY_BROKER_URL") else "REDIS_URL"
    broker_url = env.string("CELERY_BROKER_URL") or redis_url or "filesystem://"
    return {
        "debug": debug,
        "secret_key": secret_key,
        "database": env.database(database_url),
        "redis_url": env.broker(redis_url) if redis_url else "",
        "broker_url": env.broker(broker_url, broker_name),
        "allowed_hosts": [h.strip() for h in env.string("ALLOWED_HOSTS", "").split(",") if h.strip()],
        "email_port": env.integer("EMAIL_PORT", 25, minimum=1),
        "email_use_tls": env.boolean("EMAIL_USE_TLS", False),
        "email_use_ssl": env.boolean("EMAIL_USE_SSL", False),
        "email_timeout": env.integer("EMAIL_TIMEOUT", 10, minimum=1),
        "heartbeat_max_age": env.integer("HEARTBEAT_MAX_AGE", 120, minimum=10),
    }


try:
    _cfg = _load()
except ConfigError as exc:
    sys.exit(f"Configuration error: {exc}")

DEBUG = _cfg["debug"]
SECRET_KEY = _cfg["secret_key"]
ALLOWED_HOSTS = _cfg["allowed_hosts"] or (["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_email",  # the one-time code emailed before a first authenticator is enrolled
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "simple_history",
    "rest_framework",
    "drf_spectacular",
    "core",
    "audit",
    "accounts",
    "patients",
    "prep",
    "questionnaires",
    "documents",
    "reminders",
    "inbox",
    # The clinic dashboard's history and figures (issue 21): reads every layer below it.
    "insights",
    "workspace",
    "portal",
    "api",
    # Development and benchmark commands (load_demo, seed_scale); no production app imports it.
    "devtools",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before sessions, auth and every view: NUL bytes and far dates get a 400 with the reason.
    "core.middleware.InputGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "core.middleware.SessionTimeoutMiddleware",
    "core.middleware.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "audit.middleware.AccessLogMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lock-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
    {
        # Plain text (email subjects and bodies, SMS): never HTML-escaped, so "Spine & Pain" stays
        # as typed instead of "Spine &amp; Pain". Used through core.text.render_text only.
        "NAME": "text",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {"autoescape": False, "context_processors": []},
    },
]
# Django's renderer with plain <input> widgets written in Python (the same markup, faster).
FORM_RENDERER = "core.forms_renderer.InputRenderer"

DATABASES = {"default": _cfg["database"]}
DATABASES["default"].setdefault("CONN_MAX_AGE", 60 if not DEBUG else 0)
# A persistent connection that broke (database restarted) is dropped at the next request or task.
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file-backed test database lets a Celery worker subprocess share it with the tests.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out user and IP before the password check
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
# The time zone given to new clinics; every clinical time is computed in the clinic's own zone.
DEFAULT_CLINIC_TIME_ZONE = env.string("DEFAULT_CLINIC_TIME_ZONE") or env.string("TIME_ZONE", "America/Los_Angeles")

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "core.storage.StaticFilesStorage"
    },
}

# --- Documents attached to checklist items (documents/) ---------------------------------------
# A private store with no URL: files are served only by the access-checked, logged download view.
# The filesystem under VAR_DIR by default; an S3-compatible bucket when DOCUMENTS_S3_BUCKET is set.
try:
    DOCUMENTS_MAX_BYTES = env.integer("DOCUMENTS_MAX_MB", 10, minimum=1) * 1024 * 1024
    DOCUMENTS_DIR = Path(env.string("DOCUMENTS_DIR") or VAR_DIR / "documents").resolve()
    DOCUMENTS_S3_BUCKET = env.string("DOCUMENTS_S3_BUCKET")
    if DOCUMENTS_S3_BUCKET:
        try:
            import boto3  # noqa: F401
        except ImportError:
            raise ConfigError("DOCUMENTS_S3_BUCKET is set but boto3 is not installed (django-storages[s3]).") from None
        STORAGES["documents"] = {
            "BACKEND": "documents.storage_s3.PrivateS3Storage",
            "OPTIONS": {
                "bucket_name": DOCUMENTS_S3_BUCKET,
                "location": env.string("DOCUMENTS_S3_PREFIX", "documents"),
                "endpoint_url": env.string("DOCUMENTS_S3_ENDPOINT_URL") or None,
                "region_name": env.string("DOCUMENTS_S3_REGION") or None,
                # Unset: boto3's own chain (instance role, AWS_* variables, ~/.aws).
                "access_key": env.secret("DOCUMENTS_S3_ACCESS_KEY_ID"),
                "secret_key": env.secret("DOCUMENTS_S3_SECRET_ACCESS_KEY"),
            },
        }
    else:
        served = [STATIC_ROOT.resolve(), *(Path(d).resolve() for d in STATICFILES_DIRS)]
        if any(d == DOCUMENTS_DIR or d in DOCUMENTS_DIR.parents or DOCUMENTS_DIR in d.parents for d in served):
            raise ConfigError(f"DOCUMENTS_DIR ({DOCUMENTS_DIR}) overlaps the static files, which are public.")
        STORAGES["documents"] = {
            "BACKEND": "documents.storage.PrivateFileSystemStorage",
            "OPTIONS": {"location": str(DOCUMENTS_DIR)},
        }
except ConfigError as exc:
    sys.exit(f"Configuration error: {exc}")
# First: an upload over DOCUMENTS_MAX_BYTES is dropped while it arrives, never written to a temporary file.
FILE_UPLOAD_HANDLERS = [
    "workspace.uploads.DocumentSizeLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = _cfg["broker_url"]
REDIS_URL = _cfg["redis_url"]
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # The exchange table (kombu >= 5.3); its default, "control", is relative to the current folder.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Tasks are short; an unacknowledged task is redelivered after this long (acks_late).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600, "socket_timeout": 5, "socket_connect_timeout": 5}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
# Celery's Django fix-up closes every database connection before and after each task unless this
# is set: a new PostgreSQL backend per reminder cost more CPU than the send itself. Connections
# are recycled by CONN_MAX_AGE and health checks instead (config/celery.py).
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The one static beat schedule. Reminders are rows in the database, claimed by the dispatcher;
# never one beat entry or ETA task per reminder.
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "core.tasks.heartbeat", "schedule": 30.0},
}
HEARTBEAT_MAX_AGE = _cfg["heartbeat_max_age"]

# Shared by every web worker (rate limits of the portal); per-process memory when there is no Redis.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# --- Patient portal ------------------------------------------------------------------------
try:
    PORTAL_LINK_TTL_HOURS = env.integer("PORTAL_LINK_TTL_HOURS", 72, minimum=1)
    PORTAL_IDLE_MINUTES = env.integer("PORTAL_IDLE_MINUTES", 30, minimum=1)
except ConfigError as exc:
    sys.exit(f"Configuration error: {exc}")

# --- Email and SMS ------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", "Pre-op Tracker <no-reply@localhost>")
# The set-up code a staff member receives before binding an authenticator app (accounts.two_factor).
OTP_EMAIL_SENDER = DEFAULT_FROM_EMAIL
OTP_EMAIL_SUBJECT = "Your Pre-op Tracker set-up code"
OTP_EMAIL_BODY_TEMPLATE = (
    "Your code to set up two-step sign-in is {{ token }}.\n\nIt works once, for 10 minutes. If you did not "
    "ask for it, someone has your password: tell your clinic admin."
)
OTP_EMAIL_TOKEN_VALIDITY = 600
if env.string("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    # Development: mail is written to files under var/mail, never printed with patient data.
    EMAIL_BACKEND = env.string("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
EMAIL_HOST = env.string("EMAIL_HOST", "localhost")
EMAIL_PORT = _cfg["email_port"]
EMAIL_HOST_USER = env.string("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.secret("EMAIL_HOST_PASSWORD", "") or ""
EMAIL_USE_TLS = _cfg["email_use_tls"]
EMAIL_USE_SSL = _cfg["email_use_ssl"]
EMAIL_TIMEOUT = _cfg["email_timeout"]

SMS_BACKEND = env.string("SMS_BACKEND", "console")
if SMS_BACKEND not in ("console", "twilio"):
    sys.exit(f"Configuration error: SMS_BACKEND must be 'console' or 'twilio', got {SMS_BACKEND!r}.")
TWILIO_ACCOUNT_SID = env.secret("TWILIO_ACCOUNT_SID", "") or ""
TWILIO_AUTH_TOKEN = env.secret("TWILIO_AUTH_TOKEN", "") or ""
TWILIO_FROM_NUMBER = env.string("TWILIO_FROM_NUMBER", "")
TWILIO_API_BASE = env.string("TWILIO_API_BASE", "https://api.twilio.com")
PUBLIC_BASE_URL = env.string("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# Bearer token for GET /reminders/metrics/ (Prometheus text format); unset: the page is a 404.
METRICS_TOKEN = env.secret("METRICS_TOKEN", "") or ""

# --- Security ---------------------------------------------------------------------------
# Behind a TLS-terminating proxy: trust its X-Forwarded-Proto only when told to.
if env.boolean("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.boolean("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.boolean("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "core.views.csrf_failure"
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env.string("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
# Sessions: the cookie lives at most the absolute lifetime; idle timeouts are enforced per kind of
# user (staff, patient) by core.middleware.SessionTimeoutMiddleware.
STAFF_IDLE_MINUTES = env.integer("STAFF_IDLE_MINUTES", 15, minimum=1)
SESSION_ABSOLUTE_HOURS = env.integer("SESSION_ABSOLUTE_HOURS", 12, minimum=1)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_HOURS * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# No inline scripts or styles anywhere: every script and stylesheet is a file under static/.
# Lock-out after repeated failures counts the user AND the address together, so an attacker
# guessing from one address cannot lock a nurse out of her own ward PC.
AXES_FAILURE_LIMIT = env.integer("AXES_FAILURE_LIMIT", 5, minimum=2)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.integer("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
AXES_DISABLE_ACCESS_LOG = True  # our own access log records sign-ins (audit.signals)
AXES_VERBOSE = False
# Two-factor (TOTP) for staff: always for clinic admins; "all" requires it of every staff member.
STAFF_2FA_REQUIRED = env.string("STAFF_2FA_REQUIRED", "admins")
if STAFF_2FA_REQUIRED not in ("admins", "all"):
    sys.exit("Configuration error: STAFF_2FA_REQUIRED must be 'admins' or 'all'.")
OTP_TOTP_ISSUER = "Pre-op Tracker"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Every line passes the redaction filter: no portal sign-in token reaches a log (core.logredact).
    "filters": {"redact": {"()": "core.logredact.RedactSecretsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}},
    "root": {"handlers": ["console"], "level": env.string("LOG_LEVEL", "INFO")},
    # django-axes logs every attempt at INFO; our access log already records them.
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- Reminders ----------------------------------------------------------------------------
# The dispatcher is one beat entry; reminders are rows claimed from the database (never ETA tasks).
try:
    REMINDERS_DISPATCH_INTERVAL = env.integer("REMINDERS_DISPATCH_INTERVAL", 10, minimum=1)
    REMINDERS_BATCH_SIZE = env.integer("REMINDERS_BATCH_SIZE", 500, minimum=1)
    # Every 10 s: a killed worker's claims are claimed again at most one interval after their 30 s
    # lease runs out (bench/scaling.py measured 38-49 s, within 2 x the lease). Claimed per run at
    # most (in batches): about what 2 workers send in one interval (~300/s), well within a lease.
    REMINDERS_DISPATCH_MAX = env.integer("REMINDERS_DISPATCH_MAX", 3000, minimum=1)
    # Reminder ids per send task: fewer broker round trips; each is still locked and committed alone.
    REMINDERS_SEND_CHUNK = env.integer("REMINDERS_SEND_CHUNK", 10, minimum=1)
    # Short, and renewed by the send task while it works: a claim whose worker died or whose task the
    # broker lost is claimed again within seconds, and reconciled with the provider if it was handed over.
    REMINDERS_LEASE_SECONDS = env.integer("REMINDERS_LEASE_SECONDS", 30, minimum=2)
    REMINDERS_SEND_TIMEOUT = env.integer("REMINDERS_SEND_TIMEOUT", 10, minimum=1)
    if REMINDERS_LEASE_SECONDS <= 2 * REMINDERS_SEND_TIMEOUT:
        # One reminder may take a provider look-up and a send before the task renews its lease.
        raise ConfigError(
            f"REMINDERS_LEASE_SECONDS ({REMINDERS_LEASE_SECONDS}) must be more than twice "
            f"REMINDERS_SEND_TIMEOUT ({REMINDERS_SEND_TIMEOUT})"
        )
    REMINDERS_MAX_ATTEMPTS = env.integer("REMINDERS_MAX_ATTEMPTS", 5, minimum=1)
    REMINDERS_RETRY_BASE_SECONDS = env.integer("REMINDERS_RETRY_BASE_SECONDS", 60, minimum=1)
    REMINDERS_RETRY_MAX_SECONDS = env.integer("REMINDERS_RETRY_MAX_SECONDS", 3600, minimum=1)
    REMINDERS_DIGEST_INTERVAL = env.integer("REMINDERS_DIGEST_INTERVAL", 600, minimum=10)
except ConfigError as exc:
    sys.exit(f"Configuration error: {exc}")
# A send task hands back what it has not started once this has passed, well before Celery's soft
# time limit (one reminder can take two provider timeouts: a reconciliation and a send).
REMINDERS_TASK_BUDGET_SECONDS = max(CELERY_TASK_SOFT_TIME_LIMIT - 3 * REMINDERS_SEND_TIMEOUT, 1)
# Twilio signs webhooks for the public URL it called, so the URLs are built from PUBLIC_BASE_URL.
REMINDERS_TWILIO_STATUS_CALLBACK = env.string(
    "REMINDERS_TWILIO_STATUS_CALLBACK", PUBLIC_BASE_URL.rstrip("/") + "/reminders/twilio/status/"
)
CELERY_BEAT_SCHEDULE["dispatch-reminders"] = {
    "task": "reminders.tasks.dispatch_reminders",
    "schedule": float(REMINDERS_DISPATCH_INTERVAL),
    "options": {"expires": float(REMINDERS_DISPATCH_INTERVAL)},
}
# Each clinic's digest goes out from its own local ``digest_hour``; a row per nurse and day stops repeats.
CELERY_BEAT_SCHEDULE["nurse-digest"] = {
    "task": "reminders.tasks.send_nurse_digests",
    "schedule": float(REMINDERS_DIGEST_INTERVAL),
    "options": {"expires": 300.0},
}

# The results inbox's sweep: messages stored but never processed (a listener or worker killed in
# between, the broker down) are processed here; the usual path is the task queued at storing.
INBOX_SWEEP_INTERVAL = 60.0
CELERY_BEAT_SCHEDULE["inbox-sweep"] = {
    "task": "inbox.tasks.process_pending",
    "schedule": INBOX_SWEEP_INTERVAL,
    "options": {"expires": INBOX_SWEEP_INTERVAL},
}

# --- Clinic dashboard (issue 21) -----------------------------------------------------------------
# Readiness snapshots 72/48/24 h before each surgery: every few minutes, idempotent; a moment missed
# by up to INSIGHTS_SNAPSHOT_CATCH_UP_HOURS (downtime) is recorded late, and marked so past
# INSIGHTS_SNAPSHOT_LATE_MINUTES (two runs).
try:
    INSIGHTS_SNAPSHOT_INTERVAL = env.integer("INSIGHTS_SNAPSHOT_INTERVAL", 300, minimum=30)
    INSIGHTS_SNAPSHOT_CATCH_UP_HOURS = env.integer("INSIGHTS_SNAPSHOT_CATCH_UP_HOURS", 7 * 24, minimum=1)
    INSIGHTS_SNAPSHOT_LATE_MINUTES = env.integer("INSIGHTS_SNAPSHOT_LATE_MINUTES", 15, minimum=1)
    INSIGHTS_SNAPSHOT_BATCH = env.integer("INSIGHTS_SNAPSHOT_BATCH", 5000, minimum=1)
except ConfigError as exc:
    sys.exit(f"Configuration error: {exc}")
CELERY_BEAT_SCHEDULE["readiness-snapshots"] = {
    "task": "insights.tasks.record_readiness_snapshots",
    "schedule": float(INSIGHTS_SNAPSHOT_INTERVAL),
    "options": {"expires": float(INSIGHTS_SNAPSHOT_INTERVAL)},
}
# The weekly summary to clinic admins: from Monday at the clinic's digest_hour, once per admin and week.
CELERY_BEAT_SCHEDULE["weekly-summary"] = {
    "task": "insights.tasks.send_weekly_summaries",
    "schedule": float(REMINDERS_DIGEST_INTERVAL),
    "options": {"expires": 300.0},
}

# --- API (REST framework, OpenAPI schema) ----------------------------------------------------
REST_FRAMEWORK = {
    # Systems send "Authorization: Bearer <token>"; the pages' own scripts use the session (CSRF enforced).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.IsClinicMember"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Pre-op Tracker API",
    "DESCRIPTION": "Patients, bookings, checklists and readiness of one clinic. Ids are UUIDs.",
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs page describe the API and hold no data: public, like any API's reference.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ReadinessEnum": ["ready", "on_track", "at_risk", "not_ready"],
        "CancelReasonEnum": "patients.models.CancelReason",
    },
}
