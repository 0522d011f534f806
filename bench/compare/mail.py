"""An email backend that records each message's ``Reminder-Id`` and the time it left, in Redis.

Way (a) sends through the product's real email path (rendering, headers, the transport wrapper);
only the last hop, the SMTP conversation, is replaced by a Redis RPUSH so that the harness can
count duplicates and losses across processes and a worker kill.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis
from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

_client: redis.Redis | None = None


def _redis() -> redis.Redis | None:
    global _client
    if _client is None and settings.BENCH_RECORD_URL:
        _client = redis.Redis.from_url(settings.BENCH_RECORD_URL)
    return _client


class RecordingEmailBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        client = _redis()
        for message in email_messages:
            ref = message.extra_headers.get("Reminder-Id", "")
            if client is not None and ref:
                client.rpush(settings.BENCH_RECORD_KEY, f"{ref}|{time.time():.3f}")
        return len(email_messages)
