"""The REST API's operations: writes through the services, errors naming the field, pages, query counts."""

from __future__ import annotations

import datetime as dt

import pytest

from patients.models import Patient, Surgery
from tests.api.helpers import book_through_api, checklist_items
from tests.factories import in_days

pytestmark = pytest.mark.django_db

PATIENT = {"mrn": "B-1", "first_name": "Bea", "last_name": "Kim", "birth_date": "1970-06-01"}


def test_patient_create_read_update_search(api, clinic):
    r = api.post("/api/v1/patients/", {**PATIENT, "mobile": "(310) 555-0100", "cardiac_history": True}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["mobile"] == "+13105550100" and body["cardiac_history"] is True
    assert "pk" not in body and "clinic" not in body
    patient = Patient.objects.get(uuid=body["id"])
    assert patient.clinic == clinic and patient.created_by.role == "system"

    r = api.patch(f"/api/v1/patients/{body['id']}/", {"last_name": "Kim-Lee"}, format="json")
    assert r.status_code == 200 and r.json()["last_name"] == "Kim-Lee" and r.json()["mrn"] == "B-1"
    assert api.get(f"/api/v1/patients/{body['id']}/").json()["last_name"] == "Kim-Lee"

    api.post("/api/v1/patients/", {**PATIENT, "mrn": "B-2"}, format="json")
    # The record number travels in the body, never in the URL (and so never in a request log).
    r = api.post("/api/v1/patients/search/", {"mrn": "B-1"}, format="json")
    assert r.json()["count"] == 1 and r.json()["results"][0]["id"] == body["id"]
    assert api.get("/api/v1/patients/").json()["count"] == 2
    assert api.post("/api/v1/patients/search/", {"mrn": "nope"}, format="json").json()["count"] == 0
    refused = api.get("/api/v1/patients/?mrn=B-1")
    assert refused.status_code == 400 and "POST /api/v1/patients/search/" in refused.json()["mrn"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**PATIENT, "birth_date": "2999-01-01"}, "birth_date"),
        ({**PATIENT, "birth_date": "yesterday"}, "birth_date"),
        ({**PATIENT, "mobile": "12"}, "mobile"),
        ({**PATIENT, "time_zone": "Mars/Olympus"}, "time_zone"),
        ({**PATIENT, "sex": "x"}, "sex"),
        ({k: v for k, v in PATIENT.items() if k != "mrn"}, "mrn"),
        ({**PATIENT, "email": "not-an-email"}, "email"),
    ],
)
def test_patient_validation_errors_name_the_field(api, body, field):
    r = api.post("/api/v1/patients/", body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json(), r.json()
    assert not Patient.objects.exists()


def test_duplicate_mrn_names_the_field(api):
    assert api.post("/api/v1/patients/", PATIENT, format="json").status_code == 201
    r = api.post("/api/v1/patients/", PATIENT, format="json")
    assert r.status_code == 400 and "mrn" in r.json()


def test_malformed_json_is_a_400(api):
    r = api.post("/api/v1/patients/", "{not json", content_type="application/json")
    assert r.status_code == 400 and "detail" in r.json()


def test_medications_list_add_stop(api, catalogue):
    patient_id, surgery_id = book_through_api(api, medications=())
    before = set(checklist_items(api, surgery_id))
    r = api.post(f"/api/v1/patients/{patient_id}/medications/", {"drug": "apixaban"}, format="json")
    assert r.status_code == 201, r.content
    med = r.json()
    assert med["drug"] == "apixaban" and med["is_blood_thinner"] is True
    added = set(checklist_items(api, surgery_id)) - before
    assert any(code.startswith("hold") for code in added)

    assert api.get(f"/api/v1/patients/{patient_id}/medications/").json()["count"] == 1
    r = api.post(f"/api/v1/patients/{patient_id}/medications/{med['id']}/stop/")
    assert r.status_code == 200 and r.json()["stopped_at"]
    r = api.post(f"/api/v1/patients/{patient_id}/medications/{med['id']}/stop/")
    assert r.status_code == 400 and "stopped_at" in r.json()
    items = checklist_items(api, surgery_id)
    assert all(items[c]["status"] == "not_applicable" for c in added)

    assert api.post(f"/api/v1/patients/{patient_id}/medications/", {"name": " "}, format="json").json() == {
        "name": ["Name the medication."]
    }
    r = api.post(f"/api/v1/patients/{patient_id}/medications/", {"drug": "no-such-drug"}, format="json")
    assert r.status_code == 400 and "drug" in r.json()
    assert api.post(f"/api/v1/patients/{patient_id}/medications/{patient_id}/stop/").status_code == 404


def test_surgery_book_reschedule_cancel(api, catalogue, surgeon):
    patient_id, surgery_id = book_through_api(api, surgeon_email=surgeon.email)
    surgery = api.get(f"/api/v1/surgeries/{surgery_id}/").json()
    assert surgery["surgeon"] == surgeon.email and surgery["status"] == "booked" and surgery["version"] == 1
    hb_due = checklist_items(api, surgery_id)["hemoglobin"]["due_at"]

    new_start = in_days(20)
    r = api.patch(
        f"/api/v1/surgeries/{surgery_id}/", {"start_at": new_start.isoformat(), "reason": "OR moved"}, format="json"
    )
    assert r.status_code == 200, r.content
    assert r.json()["version"] == 2
    assert dt.datetime.fromisoformat(r.json()["start_at"]) == new_start
    assert checklist_items(api, surgery_id)["hemoglobin"]["due_at"] != hb_due
    assert Surgery.objects.get(uuid=surgery_id).history.first().history_change_reason == "OR moved"

    r = api.get(f"/api/v1/surgeries/?patient={patient_id}")
    assert r.json()["count"] == 1

    r = api.post(f"/api/v1/surgeries/{surgery_id}/cancel/", {}, format="json")
    assert r.status_code == 400 and "reason" in r.json()
    r = api.post(f"/api/v1/surgeries/{surgery_id}/cancel/", {"reason_code": "bored", "reason": "x"}, format="json")
    assert r.status_code == 400 and "reason_code" in r.json()
    r = api.post(
        f"/api/v1/surgeries/{surgery_id}/cancel/",
        {"reason_code": "patient_request", "reason": "Patient declined"},
        format="json",
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["cancel_reason"] == "patient_request" and r.json()["cancelled_at"]
    cancelled = Surgery.objects.get(uuid=surgery_id)
    assert (cancelled.cancel_reason, cancelled.cancel_note) == ("patient_request", "Patient declined")
    r = api.post(f"/api/v1/surgeries/{surgery_id}/cancel/", {"reason": "again"}, format="json")
    assert r.status_code == 400 and "status" in r.json()
    r = api.patch(f"/api/v1/surgeries/{surgery_id}/", {"place": "OR 2"}, format="json")
    assert r.status_code == 400 and "status" in r.json()
    assert api.get(f"/api/v1/surgeries/{surgery_id}/checklist/").json()["status"] == "closed"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_at": "2030-01-01T08:00:00"}, "start_at"),  # no UTC offset
        ({"start_at": "2001-01-01T08:00:00Z"}, "start_at"),  # in the past
        ({"procedure": "heart-transplant"}, "procedure"),
        ({"anaesthesia": "hypnosis"}, "anaesthesia"),
        ({"surgeon": "nobody@westside.test"}, "surgeon"),
        ({"patient": "00000000-0000-0000-0000-000000000000"}, "patient"),
        ({"patient": "not-a-uuid"}, "patient"),
    ],
)
def test_booking_validation_errors_name_the_field(api, catalogue, change, field):
    patient_id = api.post("/api/v1/patients/", PATIENT, format="json").json()["id"]
    body = {"patient": patient_id, "procedure": "lumbar-facet-rf", "start_at": in_days(9).isoformat(), **change}
    r = api.post("/api/v1/surgeries/", body, format="json")
    assert r.status_code == 400, r.content
    assert field in r.json(), r.json()
    assert not Surgery.objects.exists()


def test_booking_a_patient_of_another_clinic_is_refused(api, other_api, catalogue):
    other_patient = other_api.post("/api/v1/patients/", PATIENT, format="json").json()["id"]
    r = api.post(
        "/api/v1/surgeries/",
        {"patient": other_patient, "procedure": "lumbar-facet-rf", "start_at": in_days(9).isoformat()},
        format="json",
    )
    assert r.status_code == 400 and r.json() == {"patient": ["No such patient in your clinic."]}


def test_item_rules_errors_and_conflicts(api, catalogue):
    _, surgery_id = book_through_api(api)
    items = checklist_items(api, surgery_id)
    hb = items["hemoglobin"]

    r = api.post(f"/api/v1/items/{hb['id']}/complete/", {}, format="json")
    assert r.status_code == 400 and "result" in r.json()
    r = api.post(f"/api/v1/items/{hb['id']}/complete/", {"result": "99"}, format="json")
    assert r.status_code == 400 and "plausible range" in r.json()["result"][0]
    r = api.post(f"/api/v1/items/{hb['id']}/complete/", {"result": "13", "result_date": "2999-01-01"}, format="json")
    assert r.status_code == 400 and "result_date" in r.json()
    r = api.post(f"/api/v1/items/{items['blood_group']['id']}/complete/", {"result": "Z+"}, format="json")
    assert r.status_code == 400 and "result" in r.json()

    # Optimistic concurrency: a stale version is a 409 that says what the item is now.
    r = api.post(
        f"/api/v1/items/{hb['id']}/complete/", {"result": "13", "expected_version": hb["version"] + 5}, format="json"
    )
    assert r.status_code == 409 and r.json()["current_version"] == hb["version"]
    r = api.post(
        f"/api/v1/items/{hb['id']}/complete/", {"result": "13", "expected_version": hb["version"]}, format="json"
    )
    assert r.status_code == 200
    r = api.post(f"/api/v1/items/{hb['id']}/complete/", {"result": "13"}, format="json")
    assert r.status_code == 409 and r.json()["status"] == "done"

    # A hold waiting for the prescriber cannot be completed.
    r = api.post(f"/api/v1/items/{items['hold:clopidogrel']['id']}/complete/", {"result": "2030-01-01"}, format="json")
    assert r.status_code == 409

    r = api.post(f"/api/v1/items/{items['ecg']['id']}/not-applicable/", {"reason": "  "}, format="json")
    assert r.status_code == 400 and "reason" in r.json()
    r = api.post(f"/api/v1/items/{items['ecg']['id']}/not-applicable/", {"reason": "Done last week"}, format="json")
    assert r.status_code == 200 and r.json()["na_reason"] == "Done last week"
    r = api.get(f"/api/v1/items/{items['ecg']['id']}/")
    assert r.json()["status"] == "not_applicable" and r.json()["version"] == items["ecg"]["version"] + 1


def test_readiness_range_and_pagination(api, book, django_assert_max_num_queries):
    for days in (3, 4, 5):
        book(start_at=in_days(days))
    book(start_at=in_days(30))
    first, last = in_days(3).date(), in_days(5).date()
    with django_assert_max_num_queries(8):
        r = api.get(f"/api/v1/readiness/?from={first}&to={last}&page_size=2")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    row = body["results"][0]
    assert set(row) >= {"surgery", "patient", "mrn", "readiness", "done", "required", "overdue", "next_due_at"}
    assert api.get(body["next"]).json()["results"]

    assert api.get(f"/api/v1/readiness/?from={last}&to={first}").json() == {"to": ["'to' must be on or after 'from'."]}
    assert "from" in api.get("/api/v1/readiness/?from=soon").json()
    assert api.get("/api/v1/readiness/?page=99").status_code == 404


def test_lists_use_a_bounded_number_of_queries(api, book, django_assert_max_num_queries):
    for _ in range(6):
        book(medications=["clopidogrel"])
    with django_assert_max_num_queries(6):
        assert api.get(f"/api/v1/surgeries/?from={in_days(0).date()}&to={in_days(20).date()}").json()["count"] == 6
    with django_assert_max_num_queries(6):
        assert api.get("/api/v1/patients/").json()["count"] == 6
    surgery = Surgery.objects.first()
    with django_assert_max_num_queries(8):
        assert len(api.get(f"/api/v1/surgeries/{surgery.uuid}/checklist/").json()["items"]) >= 10


def test_reminders_of_a_surgery(api, book):
    from reminders.models import Reminder

    surgery = book(email="pat@example.org")
    r = api.get(f"/api/v1/surgeries/{surgery.uuid}/reminders/")
    assert r.status_code == 200
    assert r.json()["count"] == Reminder.objects.filter(surgery=surgery).count()
    for row in r.json()["results"]:
        assert "recipient" not in row and "body" not in row


def test_procedures(api, catalogue):
    rows = api.get("/api/v1/procedures/").json()["results"]
    assert {"lumbar-facet-rf", "trigeminal-rf"} <= {p["slug"] for p in rows}


def test_docs_page_lists_operations_offline(client, nurse):
    client.force_login(nurse)
    r = client.get("/api/v1/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "/api/v1/surgeries/{uuid}/cancel/" in html and "Book a surgery" in html
    assert "<script>" not in html and "cdn" not in html.lower()
    schema = client.get("/api/v1/schema/?format=json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")


def test_cancel_without_a_code_is_other_and_needs_words(api, catalogue):
    _patient_id, surgery_id = book_through_api(api)
    r = api.post(f"/api/v1/surgeries/{surgery_id}/cancel/", {"reason": "Moved away"}, format="json")
    assert r.status_code == 200, r.content
    assert Surgery.objects.get(uuid=surgery_id).cancel_reason == "other"
