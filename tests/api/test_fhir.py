"""FHIR R4 export: every resource parses with fhir.resources' R4B models, every reference resolves."""

from __future__ import annotations

import pytest

from actions.items import item_complete, item_mark_not_applicable, item_patient_confirm
from prep.models import ChecklistTemplate
from tests.api.helpers import assert_bundle_valid, of_type

pytestmark = pytest.mark.django_db

LOINC_RESULTS = {
    "hemoglobin": "13.4",
    "blood_group": "A+",
    "ecg": "Sinus rhythm, normal",
    "chest_xray": "Clear",
    "urinalysis": "No leukocytes",
}


def preop(api, patient_uuid):
    r = api.get(f"/fhir/Patient/{patient_uuid}/$preop")
    assert r.status_code == 200, r.content
    assert r["Content-Type"] == "application/fhir+json"
    return r.json()


@pytest.fixture
def surgery(book, surgeon):
    from actions.booking import surgery_update

    s = book(
        "cervical-facet-rf",
        medications=["clopidogrel", "warfarin"],
        anaesthesia="sedation",
        birth_date=__import__("datetime").date(1950, 1, 1),
        claustrophobic=True,
    )
    return surgery_update(surgery=s, by=surgeon, surgeon=surgeon, reason="surgeon assigned")


def test_bundle_validates_and_maps_every_item_state(api, surgery, nurse):
    items = {i.code: i for i in surgery.checklist.items.select_related("template_item")}
    for code, result in LOINC_RESULTS.items():
        item_complete(item=items[code], by=nurse, result=result)
    item_mark_not_applicable(
        item=items["admission"] if "admission" in items else items["mri"], by=nurse, reason="Already scanned elsewhere"
    )
    item_patient_confirm(item=items["arrival"], evidence={"ride": "daughter"})

    bundle = preop(api, surgery.patient.uuid)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    by_url = assert_bundle_valid(bundle)

    kinds = {r["resourceType"] for r in by_url.values()}
    assert {
        "Patient",
        "Organization",
        "Practitioner",
        "ServiceRequest",
        "Appointment",
        "CarePlan",
        "Task",
        "MedicationStatement",
        "Observation",
        "PlanDefinition",
    } <= kinds
    (patient,) = of_type(by_url, "Patient")
    assert patient["identifier"][0]["value"] == surgery.patient.mrn
    (careplan,) = of_type(by_url, "CarePlan")
    tasks = {t["code"]["coding"][0]["code"]: t for t in of_type(by_url, "Task")}
    assert len(tasks) == surgery.checklist.items.count()
    assert len(careplan["activity"]) == len(tasks)
    for task in tasks.values():
        assert task["for"]["reference"] == f"urn:uuid:{patient['id']}"
        assert task["basedOn"] == [{"reference": f"urn:uuid:{careplan['id']}", "type": "CarePlan"}]
        assert task["restriction"]["period"]["end"]

    fresh = {i.code: i for i in surgery.checklist.items.all()}
    assert tasks["hemoglobin"]["status"] == "completed"
    assert tasks["mri"]["status"] == "cancelled" or tasks["admission"]["status"] == "cancelled"
    assert tasks["arrival"]["status"] == "in-progress"
    assert tasks["arrival"]["businessStatus"]["coding"][0]["code"] == "patient-confirmed"
    assert tasks["consent"]["status"] == "ready"
    # The hold waits for the prescriber: requested, not ready; its owner is the patient.
    assert tasks["hold:clopidogrel"]["status"] == "requested"
    assert tasks["hold:clopidogrel"]["owner"]["type"] == "Patient"
    assert tasks["hold_approval:clopidogrel"]["owner"]["type"] == "Practitioner"
    assert tasks["hemoglobin"]["owner"]["type"] == "Organization"
    assert tasks["hemoglobin"]["restriction"]["period"]["end"].startswith(
        fresh["hemoglobin"].due_at.astimezone(__import__("datetime").UTC).isoformat()[:16]
    )

    observations = {o["code"]["coding"][0]["code"]: o for o in of_type(by_url, "Observation")}
    assert set(observations) == {"718-7", "883-9", "11524-6", "36643-5", "24356-8"}
    assert observations["718-7"]["valueQuantity"] == {
        "value": 13.4,
        "unit": "g/dL",
        "system": "http://unitsofmeasure.org",
        "code": "g/dL",
    }
    assert observations["883-9"]["valueCodeableConcept"]["text"] == "A+"
    assert observations["11524-6"]["valueString"] == "Sinus rhythm, normal"
    hb_output = tasks["hemoglobin"]["output"][0]
    assert by_url[hb_output["valueReference"]["reference"]]["code"]["coding"][0]["code"] == "718-7"

    statements = {m["medicationCodeableConcept"]["text"] for m in of_type(by_url, "MedicationStatement")}
    assert statements == {"clopidogrel", "warfarin"}


def test_inr_observation(api, book, nurse):
    import datetime as dt

    from tests.factories import in_days

    surgery = book("cervical-facet-rf", start_at=in_days(1, hour=16), medications=["warfarin"])
    inr = surgery.checklist.items.get(code="inr")
    inr.locked = False
    item_complete(item=inr, by=nurse, result="1.1")
    by_url = assert_bundle_valid(preop(api, surgery.patient.uuid))
    (obs,) = [o for o in of_type(by_url, "Observation") if o["code"]["coding"][0]["code"] == "6301-6"]
    assert obs["valueQuantity"]["value"] == 1.1 and obs["valueQuantity"]["code"] == "{INR}"
    assert dt.datetime.fromisoformat(obs["effectiveDateTime"])


def test_cancelled_and_closed_states(api, book, nurse):
    from actions.booking import surgery_cancel

    surgery = book()
    surgery_cancel(surgery=surgery, by=nurse, reason="patient unwell")
    bundle = preop(api, surgery.patient.uuid)
    by_url = assert_bundle_valid(bundle)
    # Only active surgeries are exported; the patient and their blood thinners remain.
    assert not of_type(by_url, "ServiceRequest")
    assert of_type(by_url, "Patient")


def test_plandefinition(api, catalogue):
    from fhir.resources.R4B.plandefinition import PlanDefinition

    template = ChecklistTemplate.objects.get(slug="cervical-facet-rf")
    r = api.get(f"/fhir/PlanDefinition/{template.uuid}")
    assert r.status_code == 200 and r["Content-Type"] == "application/fhir+json"
    body = r.json()
    PlanDefinition.model_validate(body)
    actions = {a["code"][0]["coding"][0]["code"]: a for a in body["action"] if "code" in a}
    assert len(actions) == template.items.count()
    ids = {a["id"] for a in body["action"]}
    for action in body["action"]:
        for related in action.get("relatedAction", []):
            assert related["actionId"] in ids
    assert actions["hemoglobin"]["relatedAction"][0] == {
        "actionId": "procedure",
        "relationship": "before-start",
        "offsetDuration": {"value": 7, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"},
    }
    assert actions["hemoglobin"]["code"][0]["coding"][1] == {
        "system": "http://loinc.org",
        "code": "718-7",
        "display": "Hemoglobin [Mass/volume] in Blood",
    }
    assert actions["consent"]["timingTiming"]["repeat"]["timeOfDay"] == ["17:00:00"]
    assert actions["follow_up"]["relatedAction"][0]["relationship"] == "after-start"
    assert actions["fasting_solids"]["relatedAction"][0]["offsetDuration"]["value"] == 6
    condition = actions["cardiac_evaluation"]["condition"][0]
    assert condition["kind"] == "applicability"
    assert condition["expression"]["language"] == "text/plain"
    assert "cardiac history" in condition["expression"]["description"]
    assert "expression" not in condition["expression"]  # text only, nothing executable


def test_scoping_and_errors(api, other_api, book, client, nurse, outsider_nurse):
    surgery = book()
    url = f"/fhir/Patient/{surgery.patient.uuid}/$preop"
    r = other_api.get(url)
    assert r.status_code == 404 and r.json()["resourceType"] == "OperationOutcome"
    assert r["Content-Type"] == "application/fhir+json"
    assert api.get("/fhir/Patient/not-a-uuid/$preop").status_code == 404
    assert api.get("/fhir/PlanDefinition/00000000-0000-0000-0000-000000000000").status_code == 404
    anonymous = client.get(url)
    assert anonymous.status_code == 401 and anonymous.json()["issue"][0]["code"] == "login"
    client.force_login(outsider_nurse)
    assert client.get(url).status_code == 404
    client.force_login(nurse)
    assert client.get(url).status_code == 200


def test_export_query_count(api, book, django_assert_max_num_queries):
    surgery = book(medications=["clopidogrel", "apixaban", "aspirin:secondary"])
    with django_assert_max_num_queries(12):
        r = api.get(f"/fhir/Patient/{surgery.patient.uuid}/$preop")
    assert r.status_code == 200


def test_metadata_is_a_public_capability_statement_of_what_is_served(client, settings):
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    settings.PUBLIC_BASE_URL = "https://preop.example.org"
    response = client.get("/fhir/metadata")
    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    statement = CapabilityStatement.model_validate(response.json())
    # It advertises the scheme the server takes (api.authentication: Bearer), never "Token".
    security = response.json()["rest"][0]["security"]
    assert "Authorization: Bearer" in security["description"] and "Token ..." not in security["description"]
    assert "Bearer" in security["service"][0]["text"]
    [rest] = statement.rest
    served = {r.type: r for r in rest.resource}
    assert [i.code for i in served["PlanDefinition"].interaction] == ["read"]
    assert [o.name for o in served["Patient"].operation] == ["preop"]
    assert [i.code for i in served["Questionnaire"].interaction] == ["read"]
    assert statement.fhirVersion == "4.0.1" and statement.implementation.url == "https://preop.example.org/fhir"
