"""FHIR R4 results in over HTTP: Observation, DiagnosticReport, transaction Bundle, OperationOutcome."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from inbox import tasks
from inbox.models import InboxMessage, MessageStatus
from prep.models import ChecklistItem, ItemStatus
from tests.factories import in_days
from tests.inbox.helpers import FHIR, observation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]


def _item(surgery, code):
    return ChecklistItem.objects.get(checklist__surgery=surgery, code=code)


def test_an_observation_is_stored_queued_and_completes_the_item(book, fhir_post, queued):
    surgery = book()
    response = fhir_post("/fhir/Observation", observation(ident="OBS-1", mrn=surgery.patient.mrn))
    assert response.status_code == 201, response.content
    assert response["Content-Type"].startswith(FHIR)
    assert response.json()["resourceType"] == "OperationOutcome"
    message = InboxMessage.objects.get()
    assert queued == [message.pk] and message.status == MessageStatus.RECEIVED
    assert tasks.process_pending() == 1  # the worker
    item = _item(surgery, "hemoglobin")
    assert item.status == ItemStatus.DONE and item.result_value == "13.2"
    assert "received from Main lab" in item.history.first().history_change_reason

    again = fhir_post("/fhir/Observation", observation(ident="OBS-1", mrn=surgery.patient.mrn))
    assert again.status_code == 200 and InboxMessage.objects.count() == 1 and queued == [message.pk]


def test_invalid_fhir_is_a_400_operation_outcome_and_kept(fhir_post):
    response = fhir_post("/fhir/Observation", {"resourceType": "Observation", "status": "final"})
    assert response.status_code == 400
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and "code" in body["issue"][0]["diagnostics"]
    assert fhir_post("/fhir/Observation", "{not json").status_code == 400
    assert fhir_post("/fhir/Observation", {"resourceType": "Patient"}).status_code == 400
    assert InboxMessage.objects.filter(status=MessageStatus.REJECTED).count() == 3


def test_unknown_patient_is_a_422_and_waits_for_review(fhir_post):
    response = fhir_post("/fhir/Observation", observation(ident="OBS-2", mrn="NOBODY"))
    assert response.status_code == 422 and "unknown patient" in response.json()["issue"][0]["diagnostics"]
    tasks.process_pending()
    assert InboxMessage.objects.get().status == MessageStatus.REVIEW


def test_a_transaction_bundle_with_an_inr_above_the_limit_and_a_report_with_a_document(book, fhir_post):
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    mrn = surgery.patient.mrn
    inr = observation(ident="OBS-3", mrn=mrn, code="6301-6", value=2.6, unit="{INR}")
    report = {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": "urn:oid:1.2.3.4.cardio", "value": "ECG-1"}],
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
        "subject": {"identifier": {"value": mrn}},
        "effectiveDateTime": inr["effectiveDateTime"],
        "conclusion": "Sinus rhythm, 72/min, normal ECG.",
        "presentedForm": [{"contentType": "application/pdf", "data": "JVBERi0xLjQK", "title": "ECG tracing"}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": inr, "request": {"method": "POST", "url": "Observation"}},
            {"resource": report, "request": {"method": "POST", "url": "DiagnosticReport"}},
        ],
    }
    response = fhir_post("/fhir/", bundle)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "transaction-response"
    assert [e["response"]["status"] for e in body["entry"]] == ["201 Created", "201 Created"]
    tasks.process_pending()
    inr_message = InboxMessage.objects.get(control_id__endswith="|OBS-3")
    assert inr_message.status == MessageStatus.REVIEW and "above the clinic's limit" in inr_message.outcome
    assert _item(surgery, "inr").status == ItemStatus.OPEN
    ecg_message = InboxMessage.objects.get(control_id__endswith="|ECG-1")
    assert ecg_message.status == MessageStatus.PROCESSED, ecg_message.outcome
    (document,) = ecg_message.documents
    assert {k: document[k] for k in ("content_type", "title", "size", "url", "status")} == {
        "content_type": "application/pdf",
        "title": "ECG tracing",
        "size": 9,
        "url": False,
        "status": "attached",
    }
    assert _item(surgery, "ecg").result_value == "Sinus rhythm, 72/min, normal ECG."


def test_a_bundle_with_one_bad_entry_stores_none_of_them(book, fhir_post):
    surgery = book()
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": observation(ident="OBS-4", mrn=surgery.patient.mrn),
                "request": {"method": "POST", "url": "Observation"},
            },
            {"resource": {"resourceType": "Observation"}, "request": {"method": "POST", "url": "Observation"}},
        ],
    }
    response = fhir_post("/fhir/", bundle)
    assert response.status_code == 400 and "entry.1.resource.code" in response.json()["issue"][0]["diagnostics"]
    assert not InboxMessage.objects.exclude(status=MessageStatus.REJECTED).exists()


def test_only_a_token_may_post_results(client, login, nurse, other_clinic):
    login(client, nurse)
    response = client.post("/fhir/Observation", json.dumps(observation(ident="X", mrn="Y")), content_type=FHIR)
    assert response.status_code == 403
    assert APIClient().post("/fhir/Observation", "{}", content_type=FHIR).status_code == 401
