"""The clinic's clock: 24-hour ("14:30") or, for US clinics, 12-hour ("2:30 PM").

Set once per request (staff pages, portal) or per message (emails, texts) with ``override``, the
way ``django.utils.timezone.override`` sets the zone; every formatter below reads it, so a page
never mixes the two clocks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.template.defaultfilters import date as date_filter
from django.utils import timezone

_TWELVE_HOUR: ContextVar[bool] = ContextVar("clock_twelve_hour", default=False)


@contextmanager
def override(twelve_hour: bool) -> Iterator[None]:
    token = _TWELVE_HOUR.set(bool(twelve_hour))
    try:
        yield
    finally:
        _TWELVE_HOUR.reset(token)


def twelve_hour() -> bool:
    return _TWELVE_HOUR.get()


def django_format(fmt: str) -> str:
    """A Django date format with its 24-hour time ("H:i") turned into "g:i A" on a 12-hour clock."""
    if not twelve_hour():
        return fmt
    return fmt.replace("H:i:s", "g:i:s A") if "H:i:s" in fmt else fmt.replace("H:i", "g:i A")


def babel_pattern(pattern: str) -> str:
    """A Babel/CLDR pattern with "HH:mm" turned into "h:mm a" on a 12-hour clock."""
    return pattern.replace("HH:mm", "h:mm a") if twelve_hour() else pattern


def when_text(value: dt.datetime | None, fmt: str = "D j M Y, H:i") -> str:
    """An aware datetime as wall-clock text in the current time zone, on the current clock."""
    if value is None:
        return ""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return date_filter(value, django_format(fmt))
