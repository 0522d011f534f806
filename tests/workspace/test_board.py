"""The board: readiness order, filters, search, pagination, and a fixed number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from actions import items as item_actions
from tests.factories import in_days
from tests.workspace.conftest import item_of
from workspace.models import NoteKind
from workspace.services import note_add


def _rows(response):
    return [row.surgery for row in response.context["board"].rows]


def test_sorted_by_readiness_then_time(client_for, book, nurse, surgeon):
    later_not_ready = book(start_at=timezone.now() + dt.timedelta(hours=10), last_name="Soon")
    on_track = book(start_at=in_days(12), last_name="Later")
    ready = book(start_at=in_days(11), last_name="Done")
    for item in ready.checklist.items.filter(required=True):
        by = surgeon if item.assignee == "surgeon" else nurse  # consent is the surgeon's
        item_actions.item_complete(
            item=item,
            by=by,
            result={"blood_group": "O+", "hemoglobin": "13"}.get(
                item.code, "normal" if item.template_item.result_kind == "text" else ""
            ),
        )
    at_risk = book(start_at=in_days(3), last_name="Risky")
    rows = _rows(client_for(nurse).get("/"))
    assert [s.pk for s in rows] == [later_not_ready.pk, at_risk.pk, on_track.pk, ready.pk]
    html = client_for(nurse).get("/").content.decode()
    for label in ("Not ready", "At risk", "On track", "Ready"):
        assert label in html  # text with the icon, not colour alone


def test_row_content(client_for, book, nurse, surgeon):
    surgery = book(
        start_at=in_days(3), first_name="Ana", last_name="Garcia", mrn="MRN0042", birth_date=dt.date(1950, 1, 1)
    )
    surgery.surgeon = surgeon
    surgery.save(update_fields=["surgeon"])
    item_actions.item_complete(item=item_of(surgery, "hemoglobin"), by=nurse, result="12.5")
    note_add(patient=surgery.patient, by=nurse, kind=NoteKind.CALL, outcome="reached", text="Called")
    html = client_for(nurse).get("/").content.decode()
    assert "Garcia, Ana" in html and "MRN0042" in html
    assert f"{surgery.patient.age_on(timezone.localdate())} y" in html
    assert "Lumbar facet radiofrequency rhizotomy" in html
    assert "Sam Surgeon" in html
    row = client_for(nurse).get("/").context["board"].rows[0]
    assert row.report.done == 1 and row.report.required >= 5
    assert row.report.overdue >= 1  # tests were due 7 days before a surgery 3 days away
    assert row.last_contact is not None and row.last_contact.outcome == "reached"
    assert "Reached the patient" in html
    # Times in the clinic's zone (Los Angeles): 08:00 local as booked.
    assert "08:00" in html


def test_filters_and_search(client_for, book, nurse, surgeon):
    a = book(start_at=in_days(2), last_name="Alvarez", mrn="MRN-A1")
    # 10 days away: its tests fall due in 3 days, outside the 48 h escalation window whatever the hour.
    b = book(start_at=in_days(10), last_name="Brown", mrn="MRN-B2")
    b.surgeon = surgeon
    b.save(update_fields=["surgeon"])
    far = book(start_at=in_days(30), last_name="Faraway")
    client = client_for(nurse)
    assert {s.pk for s in _rows(client.get("/"))} == {a.pk, b.pk}  # default: the coming 14 days
    assert _rows(client.post("/", {"q": "alv"}, follow=True)) == [a]
    assert _rows(client.post("/", {"q": "MRN-B"}, follow=True)) == [b]
    assert _rows(client.get("/", {"surgeon": surgeon.email})) == [b]
    assert _rows(client.get("/", {"readiness": "at_risk"})) == [a]
    assert _rows(client.get("/", {"readiness": "on_track"})) == [b]
    today = timezone.localdate(timezone.now(), a.patient.clinic.tz)
    window = {
        "date_from": (today + dt.timedelta(days=25)).isoformat(),
        "date_to": (today + dt.timedelta(days=35)).isoformat(),
    }
    assert _rows(client.get("/", window)) == [far]
    bad = client.get("/", {"date_from": today.isoformat(), "date_to": (today - dt.timedelta(days=1)).isoformat()})
    assert "The end date is before the start date." in bad.content.decode()


def test_cancelled_surgeries_leave_the_board(client_for, book, nurse):
    from actions.booking import surgery_cancel

    surgery = book(start_at=in_days(4), last_name="Gone")
    surgery_cancel(surgery=surgery, by=nurse, reason="patient unwell")
    assert _rows(client_for(nurse).get("/")) == []


def test_pagination(client_for, book, nurse):
    for day in range(27):
        book(start_at=in_days(1 + day % 13, hour=7 + day % 9))
    client = client_for(nurse)
    first = client.get("/")
    assert len(first.context["board"].rows) == 25
    second = client.get("/", {"page": 2})
    assert len(second.context["board"].rows) == 2
    assert "Next" in first.content.decode()


def _board_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/")
    assert response.status_code == 200
    assert len(response.context["board"].rows) > 0
    return len(ctx.captured_queries)


@pytest.mark.slow
def test_board_queries_do_not_grow_with_data(client_for, book, nurse):
    client = client_for(nurse)
    surgeries = [book(start_at=in_days(1 + i % 13), medications=["clopidogrel"] if i % 2 else []) for i in range(5)]
    for s in surgeries:
        note_add(patient=s.patient, by=nurse, kind=NoteKind.CALL, outcome="reached", text="ok")
    _board_queries(client)  # the first request of a session also saves the session
    small = _board_queries(client)
    for i in range(25):
        s = book(start_at=in_days(1 + i % 13, hour=9), medications=["warfarin"] if i % 3 else [])
        note_add(patient=s.patient, by=nurse, kind=NoteKind.CALL, outcome="voicemail", text="ok")
        item_actions.item_complete(item=item_of(s, "hemoglobin"), by=nurse, result="13")
    large = _board_queries(client)
    assert small == large
    # session, user, OTP device, clinic, surgeons, count (with the summaries due), rows, items, last calls (2),
    # the health questionnaires' states (issue 20), the access-log row
    assert large <= 12


def test_patient_search_never_puts_the_name_in_the_url(client_for, book, nurse, outsider_nurse):
    """The board's search is posted and kept behind an opaque key: the URL, the browser history and the
    request log never hold a name or a record number; a name typed into the URL filters nothing."""
    a = book(start_at=in_days(3), last_name="Alvarez-Keyed", mrn="MRN-AK1")
    b = book(start_at=in_days(4), last_name="Brown-Keyed", mrn="MRN-BK2")
    client = client_for(nurse)
    posted = client.post("/", {"q": "alvarez"})
    assert posted.status_code == 302
    location = posted["Location"]
    assert location.startswith("/?s=") and "alvarez" not in location.lower() and "MRN" not in location
    assert _rows(client.get(location)) == [a]
    assert _rows(client.get(location + "&page=1")) == [a]  # pages keep the key, not the terms
    # In the URL the search term is ignored (nothing a link or a log could carry filters the board).
    assert {s.pk for s in _rows(client.get("/", {"q": "alvarez"}))} == {a.pk, b.pk}
    # The key means nothing in another session.
    other = client_for(outsider_nurse)
    assert _rows(other.get(location)) == []
