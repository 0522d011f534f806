"""Dates and times as a patient reads them: their own time zone, their own language.

Babel gives the localised day and month names ("Monday 9 March, 02:00", "lunes 9 de marzo, 02:00")
without depending on the server's locale settings.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from babel.dates import format_datetime

from core.clock import babel_pattern

PATTERNS = {
    "en": {
        "datetime": "EEEE d MMMM, HH:mm",
        "date": "EEEE d MMMM",
        "long_date": "EEEE d MMMM y",
        "time": "HH:mm",
    },
    "es": {
        "datetime": "EEEE d 'de' MMMM, HH:mm",
        "date": "EEEE d 'de' MMMM",
        "long_date": "EEEE d 'de' MMMM 'de' y",
        "time": "HH:mm",
    },
}


def local_when(value: dt.datetime, *, tz: zoneinfo.ZoneInfo, language: str, style: str = "datetime") -> str:
    """``value`` (aware) as wall-clock text in ``tz``."""
    language = language if language in PATTERNS else "en"
    pattern = babel_pattern(PATTERNS[language][style])  # 2:30 PM for a clinic on the 12-hour clock
    return format_datetime(value.astimezone(tz), pattern, tzinfo=tz, locale=language)
