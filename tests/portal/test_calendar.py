"""The .ics file: parsed back with icalendar, local times right on both sides of a DST change."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from icalendar import Calendar

from actions.decisions import hold_decide
from prep.models import ChecklistItem
from tests.factories import aware

pytestmark = pytest.mark.django_db

SURGERY = aware("2026-03-09T08:00")  # Monday after the change to PDT (Sunday 8 March 2026, 02:00)


@pytest.fixture
def surgery(book):
    with time_machine.travel(aware("2026-02-20T09:00"), tick=False):
        return book(
            "trigeminal-rf",
            SURGERY,
            medications=["clopidogrel", "aspirin:primary"],
            first_name="Dora",
            last_name="Daylight",
            mrn="MRN-DORA",
            email="dora@example.org",
        )


def events_of(body: bytes) -> dict[str, object]:
    cal = Calendar.from_ical(body)
    return {str(e.get("summary")): e for e in cal.walk("VEVENT")}


def test_calendar_events_keep_local_times_across_dst(client, surgery, surgeon, sign_in):
    approval = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold_approval:clopidogrel")
    hold_decide(item=approval, by=surgeon, approve=True)
    with time_machine.travel(aware("2026-02-25T10:00"), tick=False):
        sign_in(client, surgery.patient)
        response = client.get("/p/me/calendar.ics")
        again = client.get("/p/me/calendar.ics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    assert "attachment" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    raw = response.content.decode()
    assert "BEGIN:VTIMEZONE" in raw and "TZID:America/Los_Angeles" in raw
    assert "DTSTART;TZID=America/Los_Angeles:20260302T080000" in raw

    cal = Calendar.from_ical(response.content)
    assert [str(tz.get("tzid")) for tz in cal.walk("VTIMEZONE")] == ["America/Los_Angeles"]
    events = events_of(response.content)
    expected = {
        "Last dose of Clopidogrel before your procedure": (dt.datetime(2026, 3, 2, 8, 0), -8),
        "Stop eating (no solid food from now)": (dt.datetime(2026, 3, 9, 2, 0), -7),
        "Stop drinking (nothing from now)": (dt.datetime(2026, 3, 9, 6, 0), -7),
        "Arrive at Westside Spine Center": (dt.datetime(2026, 3, 9, 6, 0), -7),
        "Your procedure at Westside Spine Center": (dt.datetime(2026, 3, 9, 8, 0), -7),
        "Follow-up after your procedure": (dt.datetime(2026, 3, 23, 10, 0), -7),
    }
    assert set(events) == set(expected)
    for summary, (local, offset_hours) in expected.items():
        start = events[summary].decoded("dtstart")
        assert start.tzinfo is not None
        assert start.replace(tzinfo=None) == local, summary
        assert start.utcoffset() == dt.timedelta(hours=offset_hours), summary
        assert str(events[summary]["dtstart"].params["TZID"]) == "America/Los_Angeles"
    # The surgery in UTC: 15:00 (PDT), not 16:00 as a fixed PST offset would give.
    surgery_start = events["Your procedure at Westside Spine Center"].decoded("dtstart")
    assert surgery_start.astimezone(dt.UTC) == dt.datetime(2026, 3, 9, 15, 0, tzinfo=dt.UTC)
    # Aspirin is not approved: no event, no date for it.
    assert "aspirin" not in raw.lower()
    # UIDs are stable, so importing the file again updates rather than duplicates.
    assert sorted(str(e["uid"]) for e in Calendar.from_ical(again.content).walk("VEVENT")) == sorted(
        str(e["uid"]) for e in events.values()
    )


def test_calendar_uses_the_patients_own_zone_and_language(client, surgery, sign_in):
    from actions.patients import patient_update

    patient_update(patient=surgery.patient, by=None, time_zone="America/New_York", language="es")
    with time_machine.travel(aware("2026-02-25T10:00"), tick=False):
        sign_in(client, surgery.patient)
        response = client.get("/p/me/calendar.ics")
    events = events_of(response.content)
    start = events["Su procedimiento en Westside Spine Center"].decoded("dtstart")
    assert start.replace(tzinfo=None) == dt.datetime(2026, 3, 9, 11, 0)  # 08:00 in Los Angeles
    assert "TZID:America/New_York" in response.content.decode()


def test_calendar_needs_a_signed_in_patient(client, surgery):
    response = client.get("/p/me/calendar.ics")
    assert response.status_code == 302 and response["Location"] == "/p/"
