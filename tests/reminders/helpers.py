"""Helpers for reminder tests: patients who accept texts (due rows in bulk: devtools.outbox)."""

from __future__ import annotations


def sms_fields(n: int = 123, **extra) -> dict:
    return {"channel_sms": True, "sms_consent": True, "mobile": f"+1310555{n:04d}", **extra}
