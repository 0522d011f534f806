"""The surgeon's worklist, go / no-go as a safety check, and the clinic's 12-hour clock."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from actions import decisions as decision_actions
from actions import items as item_actions
from actions.decisions import surgery_record_go_decision
from actions.patients import medication_add
from patients.services import withdraw_go_if_needed
from tests.factories import UserFactory, in_days
from tests.workspace.conftest import item_of

RESULTS = {
    "blood_group": "A+",
    "ecg": "Sinus rhythm",
    "chest_xray": "Clear",
    "urinalysis": "Normal",
    "hemoglobin": "13.0",
    "pregnancy_check": "not pregnant",
    "contrast_allergy": "None known",
}


def text_of(response) -> str:
    """What a person reads: the page without its tags (attributes keep machine-readable times)."""
    return re.sub(r"<[^>]+>", " ", response.content.decode())


@pytest.fixture
def sign_in_patient(client):
    """The patient's portal page after the real link and date-of-birth flow."""
    from portal.services import signin_link_create

    def _sign_in(patient):
        _link, token = signin_link_create(patient=patient, channel="email", by=None)
        client.get(f"/p/in/{token}")
        day = patient.birth_date
        client.post("/p/in/verify", {"day": day.day, "month": day.month, "year": day.year})
        return client.get("/p/me/")

    return _sign_in


def make_ready(surgery, nurse, surgeon) -> None:
    for item in surgery.checklist.items.filter(required=True, status="open").order_by("sort_order"):
        if item.code.startswith("hold_approval:"):
            decision_actions.hold_decide(item=item, by=surgeon, approve=True, hold_days=5)
    for item in surgery.checklist.items.filter(required=True, status="open", locked=False):
        if item.code.startswith("hold_approval:"):
            continue
        result = RESULTS.get(item.code, "")
        if item.code == "mri":
            result = timezone.localdate(timezone=item.tz).isoformat()
        # Consent is the surgeon's (the permission table); the nurse ticks the rest.
        item_actions.item_complete(item=item, by=surgeon if item.assignee == "surgeon" else nurse, result=result)


def test_surgeon_lands_on_the_worklist_oldest_decision_first(
    client_for, book, surgeon, nurse, clinic, django_assert_max_num_queries
):
    later = book(start_at=in_days(9), medications=["apixaban"], first_name="Later")
    sooner = book(start_at=in_days(4), medications=["clopidogrel"], first_name="Sooner")
    book(start_at=in_days(2), first_name="Nobody")  # no surgeon yet
    for s in (later, sooner):
        s.surgeon = surgeon
        s.save(update_fields=["surgeon"])
    colleague = UserFactory(clinic=clinic, role="surgeon", email="colleague@westside.test")
    theirs = book(start_at=in_days(2), medications=["warfarin"], first_name="Theirs")
    theirs.surgeon = colleague
    theirs.save(update_fields=["surgeon"])

    client = client_for(surgeon)
    landing = client.get("/")
    assert landing.status_code == 302 and landing["Location"] == "/worklist/"
    with django_assert_max_num_queries(12):
        page = client.get("/worklist/").content.decode()
    decisions = page.split('id="decisions-heading"')[1].split('id="go-heading"')[0]
    assert decisions.index("Sooner") < decisions.index("Later")  # oldest due first
    assert "Theirs" not in decisions  # a colleague's patient
    go = page.split('id="go-heading"')[1]
    assert "Nobody" in go and "Theirs" not in go  # unassigned: any surgeon may decide
    assert "Later" not in go  # beyond the next three days
    # The board stays one link away, with its go / no-go column and filter.
    board = client.get("/?decision=needed").content.decode()
    assert "Go / no go" in board and 'data-testid="go-cell"' in board
    assert "Sooner" in board and "Nobody" in board


def test_needs_a_decision_filter_leaves_out_decided_surgeries(client_for, book, surgeon, nurse):
    decided = book(start_at=in_days(3), first_name="Decided")
    waiting = book(start_at=in_days(3), first_name="Waiting")
    make_ready(decided, nurse, surgeon)
    surgery_record_go_decision(surgery=decided, by=surgeon, decision="go")
    board = client_for(nurse).get("/?decision=needed").content.decode()
    assert waiting.patient.last_name in board
    assert f"{decided.patient.last_name}, Decided" not in board


def test_go_on_a_patient_who_is_not_ready_needs_an_override_reason(client_for, surgery, surgeon, nurse):
    client = client_for(surgeon)
    page = client.get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "Reason to go ahead although the patient is not ready" in page
    refused = client.post(f"/surgeries/{surgery.uuid}/go/", {"decision": "go"})
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "The patient is not ready" in body and "give the reason for overriding the checklist" in body
    assert 'href="#id_override"' in body  # in the error summary
    surgery.refresh_from_db()
    assert surgery.go_decision == ""

    client.post(f"/surgeries/{surgery.uuid}/go/", {"decision": "go", "override": "Urgent: pain crisis"})
    surgery.refresh_from_db()
    assert surgery.go_decision == "go" and surgery.go_override_reason == "Urgent: pain crisis"
    board = client_for(nurse).get("/").content.decode()
    assert "Over the checklist: Urgent: pain crisis" in board
    sheet = client_for(nurse).get(f"/surgeries/{surgery.uuid}/print/").content.decode()
    assert "Go although not ready." in sheet and "Urgent: pain crisis" in sheet


def test_go_on_a_ready_patient_needs_no_override(book, surgeon, nurse):
    surgery = book(start_at=in_days(5))
    make_ready(surgery, nurse, surgeon)
    decided = surgery_record_go_decision(surgery=surgery, by=surgeon, decision="go", override="not needed")
    assert decided.go_decision == "go" and decided.go_override_reason == ""


def test_a_new_required_item_withdraws_the_go_and_tells_the_surgeon(client_for, book, surgeon, nurse):
    surgery = book(start_at=in_days(6))
    surgery.surgeon = surgeon
    surgery.save(update_fields=["surgeon"])
    make_ready(surgery, nurse, surgeon)
    surgery_record_go_decision(surgery=surgery, by=surgeon, decision="go")
    # A blood thinner started after the Go: a hold decision and a hold are new required work.
    medication_add(patient=surgery.patient, by=nurse, name="clopidogrel", is_blood_thinner=True)
    surgery.refresh_from_db()
    assert surgery.go_decision == "" and surgery.go_withdrawn_at is not None
    assert "New required item after the Go" in surgery.go_withdrawn_reason
    worklist = client_for(surgeon).get("/worklist/").content.decode()
    assert 'data-testid="go-withdrawn"' in worklist and "Your Go was withdrawn" in worklist
    page = client_for(surgeon).get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "The Go given earlier was withdrawn" in page
    # A new Go clears the notice.
    surgery_record_go_decision(surgery=surgery, by=surgeon, decision="go", override="Hold handled by phone")
    surgery.refresh_from_db()
    assert surgery.go_withdrawn_at is None and surgery.go_decision == "go"


def test_reopening_a_required_item_withdraws_the_go(book, surgeon, nurse):
    surgery = book(start_at=in_days(6))
    make_ready(surgery, nurse, surgeon)
    surgery_record_go_decision(surgery=surgery, by=surgeon, decision="go")
    item_actions.item_undo(item=item_of(surgery, "ecg"), by=nurse, reason="wrong patient's ECG")
    surgery.refresh_from_db()
    assert surgery.go_decision == "" and "reopened" in surgery.go_withdrawn_reason


def test_withdraw_go_if_needed_leaves_no_go_and_undecided_alone(book, surgeon):
    surgery = book(start_at=in_days(6))
    assert withdraw_go_if_needed(surgery=surgery, reason="alert") is False
    surgery_record_go_decision(surgery=surgery, by=surgeon, decision="no_go", note="INR")
    assert withdraw_go_if_needed(surgery=surgery, reason="alert") is False
    surgery.refresh_from_db()
    assert surgery.go_decision == "no_go" and surgery.go_withdrawn_at is None


def test_us_clinic_shows_the_12_hour_clock_everywhere(client_for, book, nurse, clinic, sign_in_patient):
    start = in_days(5, hour=14)
    surgery = book(start_at=start, email="pat@example.org")
    local = timezone.localtime(surgery.start_at, clinic.tz)
    clinic.clock_12h = True
    clinic.save(update_fields=["clock_12h"])
    staff = text_of(client_for(nurse).get(f"/surgeries/{surgery.uuid}/"))
    twelve = local.strftime("%I:%M %p").lstrip("0")
    assert twelve in staff and local.strftime("%H:%M") not in staff
    portal = sign_in_patient(surgery.patient).content.decode()
    assert twelve in portal
    clinic.clock_12h = False
    clinic.save(update_fields=["clock_12h"])
    staff = text_of(client_for(nurse).get(f"/surgeries/{surgery.uuid}/"))
    assert local.strftime("%H:%M") in staff and " PM" not in staff


def test_reminder_text_follows_the_clinic_clock(book, clinic):
    from reminders.messages import when_text

    moment = dt.datetime(2026, 3, 3, 22, 30, tzinfo=dt.UTC)
    assert when_text(moment, clinic.tz, "en", twelve_hour=True).endswith("2:30 PM")
    assert when_text(moment, clinic.tz, "en", twelve_hour=False).endswith("14:30")


def test_worklist_queries_do_not_grow_with_the_surgeries(client_for, book, surgeon):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(surgeon)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/worklist/").status_code == 200
        return len(queries)

    book(start_at=in_days(1), medications=["clopidogrel"], first_name="One")
    count()  # the first request of a session also reads what it caches
    small = count()
    for day in (1, 2, 2, 3):
        book(start_at=in_days(day), medications=["apixaban"], first_name=f"More{day}")
    assert count() == small


def test_worklist_decisions_come_a_page_at_a_time_with_their_count(client_for, book, surgeon, monkeypatch):
    """A busy clinic has thousands of open decisions: the page shows one screen of them and the total."""
    from workspace import selectors

    monkeypatch.setattr(selectors, "WORKLIST_PAGE_SIZE", 2)
    for day, drug in ((4, "clopidogrel"), (5, "apixaban"), (6, "warfarin")):
        booked = book(start_at=in_days(day), medications=[drug], first_name=f"Day{day}")
        booked.surgeon = surgeon
        booked.save(update_fields=["surgeon"])
    client = client_for(surgeon)
    total = len(selectors.open_decision_items().filter(checklist__surgery__surgeon=surgeon))
    assert total >= 3

    def rows(html: str) -> list[str]:
        return re.findall(r'<tr data-testid="decision-row"[^>]*>.*?</tr>', html, flags=re.S)

    first = client.get("/worklist/").content.decode()
    assert f'data-testid="decision-count">{total}</span>' in first  # all of them, not the page's
    assert len(rows(first)) == 2
    assert f"Page 1 of {(total + 1) // 2}" in first and 'href="?page=2">Next</a>' in first
    assert ">Previous</a>" not in first
    second = client.get("/worklist/?page=2").content.decode()
    assert 'href="?page=1">Previous</a>' in second
    assert not set(rows(first)) & set(rows(second))  # the next ones, oldest due first
    # Other parameters stay in the page links; a page past the end shows the last one.
    kept = client.get("/worklist/?view=x&page=1").content.decode()
    assert 'href="?view=x&amp;page=2">Next</a>' in kept
    assert rows(client.get("/worklist/?page=99").content.decode()) == rows(
        client.get(f"/worklist/?page={(total + 1) // 2}").content.decode()
    )


def test_worklist_queries_do_not_grow_with_the_decisions_or_the_page(client_for, book, surgeon, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from workspace import selectors

    monkeypatch.setattr(selectors, "WORKLIST_PAGE_SIZE", 1)
    client = client_for(surgeon)

    def count(url: str = "/worklist/") -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    first = book(start_at=in_days(4), medications=["clopidogrel"], first_name="One")
    first.surgeon = surgeon
    first.save(update_fields=["surgeon"])
    count()  # the first request of a session also reads what it caches
    small = count()
    for day, drug in ((5, "apixaban"), (6, "warfarin")):
        more = book(start_at=in_days(day), medications=[drug], first_name=f"More{day}")
        more.surgeon = surgeon
        more.save(update_fields=["surgeon"])
    assert count() == small
    assert count("/worklist/?page=2") == small
