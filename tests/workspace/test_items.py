"""Ticking items in place (htmx) and without JavaScript, bad input, conflicts, history, query counts."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from actions import items as item_actions
from tests.workspace.conftest import item_of

HX = {"HTTP_HX_REQUEST": "true"}


def test_htmx_tick_returns_row_and_out_of_band_summary(client_for, surgery, nurse):
    hb = item_of(surgery, "hemoglobin")
    client = client_for(nurse)
    before = client.get(f"/surgeries/{surgery.uuid}/").context["report"]
    response = client.post(f"/items/{hb.uuid}/complete/", {"result": "13,4", "version": hb.version}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="item-{hb.uuid}"' in html
    assert "13.4 g/dL" in html and "Done" in html
    assert 'id="readiness-summary"' in html and 'hx-swap-oob="true"' in html
    assert f"{before.done + 1} / {before.required}" in html
    assert "<html" not in html  # a fragment, not a page
    hb.refresh_from_db()
    assert (hb.status, hb.result_value, hb.completed_by) == ("done", "13.4", nurse)


def test_plain_post_tick_redirects_back(client_for, surgery, nurse):
    hb = item_of(surgery, "hemoglobin")
    response = client_for(nurse).post(
        f"/items/{hb.uuid}/complete/", {"result": "12", "version": hb.version}, follow=True
    )
    assert response.redirect_chain[-1][0].endswith(f"/surgeries/{surgery.uuid}/#item-{hb.uuid}")
    assert "Hemoglobin: done." in response.content.decode()
    hb.refresh_from_db()
    assert hb.status == "done"


def test_invalid_hemoglobin_shows_error_next_to_field_htmx(client_for, surgery, nurse):
    hb = item_of(surgery, "hemoglobin")
    response = client_for(nurse).post(f"/items/{hb.uuid}/complete/", {"result": "130", "version": hb.version}, **HX)
    assert response.status_code == 200  # htmx swaps 200s: the row comes back with the error in it
    html = response.content.decode()
    assert "outside the plausible range" in html
    assert "invalid-feedback" in html and 'value="130"' in html
    hb.refresh_from_db()
    assert hb.status == "open" and hb.version == item_of(surgery, "hemoglobin").version


def test_invalid_results_without_javascript(client_for, surgery, nurse):
    client = client_for(nurse)
    hb = item_of(surgery, "hemoglobin")
    for value, message in (("abc", "is not a number"), ("", "Enter the result")):
        response = client.post(f"/items/{hb.uuid}/complete/", {"result": value, "version": hb.version})
        assert response.status_code == 400
        assert message in response.content.decode()
    group = item_of(surgery, "blood_group")
    response = client.post(f"/items/{group.uuid}/complete/", {"result": "Z+", "version": group.version})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert item_of(surgery, "hemoglobin").status == "open"


def test_stale_form_is_refused_with_current_state(client_for, surgery, nurse, surgeon):
    hb = item_of(surgery, "hemoglobin")
    stale_version = hb.version
    item_actions.item_complete(item=hb, by=surgeon, result="11")
    response = client_for(nurse).post(f"/items/{hb.uuid}/complete/", {"result": "15", "version": stale_version}, **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "nothing was saved" in html
    assert "11 g/dL" in html  # the current state, not the nurse's value
    hb.refresh_from_db()
    assert hb.result_value == "11" and hb.completed_by == surgeon


def test_second_nurse_sees_done_and_no_second_history_row(client_for, surgery, nurse, clinic):
    from tests.factories import UserFactory

    other = UserFactory(clinic=clinic, email="second@westside.test")
    hb = item_of(surgery, "hemoglobin")
    loaded_version = hb.version
    first = client_for(nurse).post(f"/items/{hb.uuid}/complete/", {"result": "13", "version": loaded_version}, **HX)
    assert first.status_code == 200
    rows_after_first = hb.history.count()
    # Same page loaded before the first tick; and the same tick again with the new version.
    second = client_for(other).post(f"/items/{hb.uuid}/complete/", {"result": "13", "version": loaded_version}, **HX)
    again = client_for(other).post(f"/items/{hb.uuid}/complete/", {"result": "13", "version": loaded_version + 1}, **HX)
    for response in (second, again):
        assert response.status_code == 200
        assert "Done" in response.content.decode()
    assert "already done" in again.content.decode()
    assert hb.history.count() == rows_after_first


def test_not_applicable_undo_and_history(client_for, surgery, nurse):
    client = client_for(nurse)
    ecg = item_of(surgery, "ecg")
    missing = client.post(f"/items/{ecg.uuid}/not-applicable/", {"reason": "", "version": ecg.version}, **HX)
    assert "This field is required" in missing.content.decode()
    client.post(
        f"/items/{ecg.uuid}/not-applicable/", {"reason": "done last week elsewhere", "version": ecg.version}, **HX
    )
    ecg.refresh_from_db()
    assert ecg.status == "not_applicable" and ecg.na_reason == "done last week elsewhere"
    client.post(f"/items/{ecg.uuid}/undo/", {"reason": "report not received", "version": ecg.version}, **HX)
    ecg.refresh_from_db()
    assert ecg.status == "open"
    fragment = client.get(f"/items/{ecg.uuid}/history/", **HX).content.decode()
    assert "Reopened: report not received" in fragment and "Not applicable: done last week elsewhere" in fragment
    assert "<html" not in fragment
    page = client.get(f"/items/{ecg.uuid}/history/")
    assert page.status_code == 200 and b"<html" in page.content


def test_accept_patient_confirmation_shows_evidence(client_for, surgery, nurse):
    arrival = item_of(surgery, "arrival")
    item_actions.item_patient_confirm(item=arrival, evidence={"ride home": "my daughter drives me"})
    client = client_for(nurse)
    page = client.get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "Patient confirmed" in page and "my daughter drives me" in page
    assert "Accept the patient" in page
    arrival.refresh_from_db()
    response = client.post(f"/items/{arrival.uuid}/accept/", {"version": arrival.version}, **HX)
    assert response.status_code == 200
    arrival.refresh_from_db()
    assert arrival.status == "accepted" and arrival.completed_by == nurse


def test_hold_decision_without_dates_needs_days(client_for, surgery, surgeon):
    approval = item_of(surgery, "hold_approval:clopidogrel")
    client = client_for(surgeon)
    response = client.post(f"/items/{approval.uuid}/hold/", {"decision": "approve", "version": approval.version})
    assert response.status_code == 400
    assert "Give the hold in days" in response.content.decode()
    response = client.post(
        f"/items/{approval.uuid}/hold/", {"decision": "decline", "note": "stent", "version": approval.version}
    )
    assert response.status_code == 302
    approval.refresh_from_db()
    assert approval.result_value == "decline"


def test_go_decision_requires_a_reason_from_the_list_for_no_go(client_for, surgery, surgeon):
    client = client_for(surgeon)
    page = client.get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert 'name="no_go_reason"' in page and '<optgroup label="Preparation">' in page
    response = client.post(f"/surgeries/{surgery.uuid}/go/", {"decision": "no_go", "note": "Hb too low"})
    assert response.status_code == 400
    assert "Choose why the surgery will not go ahead." in response.content.decode()
    response = client.post(f"/surgeries/{surgery.uuid}/go/", {"decision": "no_go", "no_go_reason": "other", "note": ""})
    assert response.status_code == 400
    assert "Say why the surgery will not go ahead." in response.content.decode()
    client.post(
        f"/surgeries/{surgery.uuid}/go/", {"decision": "no_go", "no_go_reason": "prep_tests", "note": "Hb too low"}
    )
    surgery.refresh_from_db()
    assert surgery.go_decision == "no_go" and surgery.go_decision_note == "Hb too low"
    assert surgery.no_go_reason == "prep_tests"
    assert "Tests or results missing or out of date" in client.get(f"/surgeries/{surgery.uuid}/").content.decode()
    # A Go afterwards clears the No go's reason.
    client.post(f"/surgeries/{surgery.uuid}/go/", {"decision": "go", "override": "Hb repeated: 12.8"})
    surgery.refresh_from_db()
    assert surgery.go_decision == "go" and surgery.no_go_reason == ""


def test_notes_and_calls(client_for, surgery, nurse):
    client = client_for(nurse)
    bad = client.post(f"/surgeries/{surgery.uuid}/notes/", {"kind": "call", "outcome": "", "text": "tried"})
    assert bad.status_code == 400 and "Choose the outcome of the call." in bad.content.decode()
    client.post(f"/surgeries/{surgery.uuid}/notes/", {"kind": "call", "outcome": "voicemail", "text": "left msg"})
    client.post(f"/surgeries/{surgery.uuid}/notes/", {"kind": "note", "text": "prefers mornings"})
    page = client.get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "left msg" in page and "prefers mornings" in page and "Left a voicemail" in page
    assert "Messages" in page  # the panel the reminders will fill


def _page_queries(client, surgery) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"/surgeries/{surgery.uuid}/")
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_patient_page_queries_do_not_grow_with_history(client_for, surgery, nurse, book):
    client = client_for(nurse)
    _page_queries(client, surgery)
    small = _page_queries(client, surgery)
    for code in ("hemoglobin", "ecg", "urinalysis"):
        for _ in range(3):
            item = item_actions.item_complete(
                item=item_of(surgery, code), by=nurse, result="13" if code == "hemoglobin" else "fine"
            )
            item_actions.item_undo(item=item, by=nurse, reason="again")
    from workspace.services import note_add

    for _ in range(10):
        note_add(patient=surgery.patient, by=nurse, kind="note", text="note")
    book(patient=surgery.patient, start_at=surgery.start_at.replace(year=surgery.start_at.year + 1))
    large = _page_queries(client, surgery)
    assert small == large
    assert large <= 13  # 12, and the health questionnaire's state for its button (issue 20)
