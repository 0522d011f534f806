"""The health questionnaire in FHIR (issue 20): a Questionnaire, and each submission as a
QuestionnaireResponse in the $preop bundle, validated with fhir.resources' R4B models."""

from __future__ import annotations

import pytest

from questionnaires import services
from tests.api.helpers import assert_bundle_valid, of_type
from tests.questionnaires.test_services import fill

pytestmark = pytest.mark.django_db


def test_submissions_are_questionnaire_responses_in_the_preop_bundle(api, book):
    from actions.questionnaires import questionnaire_submit

    surgery = book("trigeminal-rf")
    first = questionnaire_submit(response=fill(services.response_draft(patient=surgery.patient, surgery=surgery)))
    second = services.response_draft(patient=surgery.patient, surgery=surgery)  # a draft: not exported
    r = api.get(f"/fhir/Patient/{surgery.patient.uuid}/$preop")
    assert r.status_code == 200, r.content
    by_url = assert_bundle_valid(r.json())
    from audit.models import AccessLog

    assert AccessLog.objects.get(action="GET fhir:patient-preop").patient_id == surgery.patient.pk
    (questionnaire,) = of_type(by_url, "Questionnaire")
    (response,) = of_type(by_url, "QuestionnaireResponse")
    assert response["id"] == str(first.uuid) and str(second.uuid) not in r.content.decode()
    assert response["questionnaire"] == f"{questionnaire['url']}|{questionnaire['version']}"
    assert response["status"] == "completed" and response["subject"]["reference"].startswith("urn:uuid:")
    link_ids = {q["linkId"] for group in questionnaire["item"] for q in group["item"]}
    answered = {i["linkId"]: i for group in response["item"] for i in group["item"]}
    assert set(answered) <= link_ids
    assert answered["stent"]["answer"][0]["valueCoding"]["code"] == "drug_eluting"
    assert answered["allergy_latex"]["answer"] == [{"valueBoolean": False}]
    medicines = [i for group in response["item"] for i in group["item"] if i["linkId"] == "medicines"]
    assert medicines[0]["item"][0] == {
        "linkId": "medicines.name",
        "text": "Name",
        "answer": [{"valueString": "Ozempic"}],
    }
    assert answered["stent_month"]["answer"][0]["valueDate"].count("-") == 1  # a FHIR partial date
    # Spanish rides on the translation extension.
    stent = next(q for group in questionnaire["item"] for q in group["item"] if q["linkId"] == "stent")
    assert stent["_text"]["extension"][0]["extension"][1]["valueString"].startswith("¿Tiene un stent")


def test_the_questionnaire_reads_on_its_canonical_url(api, catalogue):
    from fhir.resources.R4B.questionnaire import Questionnaire

    r = api.get("/fhir/Questionnaire/preop-health")
    assert r.status_code == 200 and r["Content-Type"] == "application/fhir+json"
    body = r.json()
    Questionnaire.model_validate(body)
    assert body["url"].endswith("/fhir/Questionnaire/preop-health") and body["version"]
    clot_date = next(q for g in body["item"] for q in g["item"] if q["linkId"] == "clot_date")
    assert clot_date["enableWhen"] == [{"question": "clot", "operator": "=", "answerBoolean": True}]
    assert api.get("/fhir/Questionnaire/other").status_code == 404
    assert api.get("/fhir/Questionnaire/preop-health?version=1999.1").status_code == 404


def test_the_rest_api_lists_the_sent_questionnaires(api, other_api, book):
    from actions.questionnaires import questionnaire_submit

    surgery = book("trigeminal-rf")
    first = questionnaire_submit(response=fill(services.response_draft(patient=surgery.patient, surgery=surgery)))
    services.response_draft(patient=surgery.patient, surgery=surgery)  # a draft: not listed
    r = api.get(f"/api/v1/surgeries/{surgery.uuid}/questionnaires/")
    assert r.status_code == 200, r.content
    (row,) = r.json()["results"]
    assert row["id"] == str(first.uuid) and row["number"] == 1 and row["status"] == "submitted"
    assert row["answers"]["stent"] == "drug_eluting" and row["answers"]["medicines"][0]["name"] == "Ozempic"
    assert other_api.get(f"/api/v1/surgeries/{surgery.uuid}/questionnaires/").status_code == 404
    # The access log: the clinic's read with its patient, the other clinic's refused.
    from audit.models import AccessLog

    rows = list(AccessLog.objects.filter(action="GET api:surgery-questionnaires").order_by("id"))
    assert [(r.allowed, r.patient_id) for r in rows] == [(True, surgery.patient.pk), (False, None)]
