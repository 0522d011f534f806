"""The patient's calendar file (iCalendar, RFC 5545) built with the ``icalendar`` package.

Times are written as local times with the patient's TZID and the calendar carries the matching
VTIMEZONE, so a calendar app shows 08:00 on the day even when a daylight-saving change falls
between the holds and the surgery.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import timezone
from icalendar import Alarm, Calendar, Event

from portal.selectors import CalendarEvent


def calendar_build(*, events: list[CalendarEvent], tz: zoneinfo.ZoneInfo, name: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Pre-op Tracker//Patient portal//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", str(tz))
    stamp = timezone.now().astimezone(dt.UTC)
    for item in events:
        event = Event()
        # A stable UID: importing the file again updates the events instead of duplicating them.
        event.add("uid", f"{item.uid}@preop-tracker")
        event.add("dtstamp", stamp)
        start = item.start.astimezone(tz)
        event.add("dtstart", start)
        event.add("dtend", start + dt.timedelta(minutes=item.minutes))
        event.add("summary", item.summary)
        event.add("description", item.description)
        event.add("transp", "TRANSPARENT" if item.minutes <= 15 else "OPAQUE")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", item.summary)
        alarm.add("trigger", dt.timedelta(minutes=-60))
        event.add_component(alarm)
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
