"""Settings for `make bench`: the test settings plus django-celery-beat (only the comparison uses it).

django_celery_beat is not part of the product; adding it here gives the throwaway benchmark
database its tables so that way (c) of the comparison can run. Emails go to a recording backend
(``bench.compare.mail``) that notes each delivery in Redis, so duplicates and losses can be counted.
"""

import os

from config.test_settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django_celery_beat"]  # noqa: F405
EMAIL_BACKEND = "bench.compare.mail.RecordingEmailBackend"
# Where deliveries are recorded (set by the harness for its worker processes).
BENCH_RECORD_URL = os.environ.get("BENCH_RECORD_URL", "")
BENCH_RECORD_KEY = os.environ.get("BENCH_RECORD_KEY", "bench:deliveries")

# --- Ways (b) and (c): Celery as its documentation recommends for ETA tasks on Redis ------------
# https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#redis-caveats :
# the visibility timeout must exceed the longest ETA/countdown, or the task is delivered again
# (and again). The harness passes the run's longest ETA plus a margin.
if os.environ.get("COMPARE_VISIBILITY_TIMEOUT"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
        "visibility_timeout": int(os.environ["COMPARE_VISIBILITY_TIMEOUT"]),
    }
# kombu's Redis transport gives back messages unacknowledged for longer than the visibility timeout
# in a sweep every unacked_restore_interval x unacked_restore_throttle seconds (10 x 10 by default);
# with a visibility timeout scaled down to the compressed run, kombu's own advice is to sweep more often.
if os.environ.get("COMPARE_RESTORE_INTERVAL"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "unacked_restore_interval": int(os.environ["COMPARE_RESTORE_INTERVAL"]),
        "unacked_restore_throttle": 1,
    }
DJANGO_CELERY_BEAT_TZ_AWARE = True
