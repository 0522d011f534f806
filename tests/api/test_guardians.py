"""Guardians through the API (issue 22): read and written on the patient resource as medications are,
required to book a child, exported to FHIR as RelatedPerson (v3 RoleCode) and Patient.contact."""

from __future__ import annotations

import pytest

from patients.models import Guardian
from tests.api.helpers import assert_bundle_valid, of_type
from tests.factories import in_days

pytestmark = pytest.mark.django_db

MOTHER = {
    "first_name": "Ana",
    "last_name": "García",
    "relationship": "mother",
    "birth_year": 1988,
    "language": "es",
    "email": "ana@example.org",
    "mobile": "(310) 555-0177",
    "channel_sms": True,
    "sms_consent": True,
}


def create_child(api) -> str:
    body = {"mrn": "KID-1", "first_name": "Maria", "last_name": "García", "birth_date": "2019-03-04"}
    r = api.post("/api/v1/patients/", body, format="json")
    assert r.status_code == 201, r.content
    return r.json()["id"]


def book(api, patient_id: str):
    booking = {"patient": patient_id, "procedure": "lumbar-facet-rf", "start_at": in_days(12).isoformat()}
    return api.post("/api/v1/surgeries/", booking, format="json")


def test_a_child_needs_a_guardian_to_be_booked_then_guardians_are_read_and_written(api, catalogue):
    patient_id = create_child(api)
    refused = book(api, patient_id)
    assert refused.status_code == 400
    assert "Maria is under 18: add a parent or guardian" in refused.json()["guardian"][0]

    bad = api.post(f"/api/v1/patients/{patient_id}/guardians/", {**MOTHER, "birth_year": 2020}, format="json")
    assert bad.status_code == 400 and "must be before the patient's (2019)" in bad.json()["birth_year"][0]
    r = api.post(f"/api/v1/patients/{patient_id}/guardians/", MOTHER, format="json")
    assert r.status_code == 201, r.content
    mother = r.json()
    assert mother["mobile"] == "+13105550177" and mother["is_primary"] is True and mother["sms_consent_at"]
    listed = api.get(f"/api/v1/patients/{patient_id}/guardians/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == mother["id"]
    url = f"/api/v1/patients/{patient_id}/guardians/{mother['id']}/"
    assert api.get(url).json()["relationship"] == "mother"
    patched = api.patch(url, {"language": "en"}, format="json")
    assert patched.status_code == 200 and patched.json()["language"] == "en"
    assert Guardian.objects.get(uuid=mother["id"]).history.first().history_change_reason == "Changed through the API"
    r = book(api, patient_id)
    assert r.status_code == 201, r.content
    reminders = api.get(f"/api/v1/surgeries/{r.json()['id']}/reminders/").json()["results"]
    assert reminders and {row["guardian"] for row in reminders} == {mother["id"]}


def test_another_clinics_token_cannot_reach_the_guardians(api, other_api, catalogue):
    patient_id = create_child(api)
    mother = api.post(f"/api/v1/patients/{patient_id}/guardians/", MOTHER, format="json").json()
    base = f"/api/v1/patients/{patient_id}/guardians/"
    assert other_api.get(base).status_code == 404
    assert other_api.post(base, MOTHER, format="json").status_code == 404
    assert other_api.get(f"{base}{mother['id']}/").status_code == 404
    assert other_api.patch(f"{base}{mother['id']}/", {"email": "x@evil.test"}, format="json").status_code == 404
    assert Guardian.objects.get(uuid=mother["id"]).email == "ana@example.org"
    assert Guardian.objects.count() == 1


def test_fhir_export_has_the_guardian_as_related_person_and_patient_contact(api, catalogue):
    patient_id = create_child(api)
    mother = api.post(f"/api/v1/patients/{patient_id}/guardians/", MOTHER, format="json").json()
    father = {**MOTHER, "first_name": "Luis", "relationship": "father", "email": "luis@example.org", "mobile": ""}
    father["channel_sms"] = father["sms_consent"] = False
    api.post(f"/api/v1/patients/{patient_id}/guardians/", father, format="json")
    other = {**father, "first_name": "Rosa", "relationship": "other", "email": "rosa@example.org"}
    api.post(f"/api/v1/patients/{patient_id}/guardians/", other, format="json")
    assert book(api, patient_id).status_code == 201
    r = api.get(f"/fhir/Patient/{patient_id}/$preop")
    assert r.status_code == 200
    by_url = assert_bundle_valid(r.json())
    (patient,) = of_type(by_url, "Patient")
    related = {p["name"][0]["given"][0]: p for p in of_type(by_url, "RelatedPerson")}
    assert set(related) == {"Ana", "Luis", "Rosa"}
    ana = related["Ana"]
    assert ana["id"] == mother["id"] and ana["patient"]["reference"] == f"urn:uuid:{patient['id']}"
    coding = ana["relationship"][0]["coding"][0]
    assert coding == {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH", "display": "mother"}
    assert related["Luis"]["relationship"][0]["coding"][0]["code"] == "FTH"
    assert "coding" not in related["Rosa"]["relationship"][0], "no code is invented for 'other'"
    assert {"system": "sms", "value": "+13105550177", "use": "mobile"} in ana["telecom"]
    assert ana["communication"][0]["language"]["coding"][0]["code"] == "es"
    contacts = patient["contact"]
    assert [c["name"]["given"][0] for c in contacts] == ["Ana", "Luis", "Rosa"]
    assert contacts[0]["relationship"][0]["coding"][0]["code"] == "MTH"


def test_export_query_count_with_guardians(api, book_child, django_assert_max_num_queries):
    surgery = book_child()
    with django_assert_max_num_queries(13):
        r = api.get(f"/fhir/Patient/{surgery.patient.uuid}/$preop")
    assert r.status_code == 200
