"""The nurse's reconciliation page, the board's questionnaire state, and the access log (issue 20)."""

from __future__ import annotations

import pytest
from django.test import Client

from audit.models import AccessLog
from prep.models import ChecklistItem
from questionnaires import services
from questionnaires.models import ResponseStatus
from tests.questionnaires.test_services import MINIMAL, fill, submit_minimal

pytestmark = pytest.mark.django_db


@pytest.fixture
def submitted(book):
    from actions.questionnaires import questionnaire_submit

    surgery = book("trigeminal-rf", last_name="Questionwright")
    questionnaire_submit(response=fill(services.response_draft(patient=surgery.patient, surgery=surgery)))
    return surgery


def log_rows() -> list[AccessLog]:
    return list(AccessLog.objects.exclude(action__startswith="auth").order_by("id"))


def test_the_nurse_sees_each_line_against_the_record_and_decides(client: Client, login, nurse, submitted):
    login(client, nurse)
    url = f"/surgeries/{submitted.uuid}/questionnaire/"
    before = len(log_rows())
    page = client.get(url)
    body = page.content.decode()
    assert page.status_code == 200
    assert "Ozempic" in body and "Semaglutide" in body and "drug-coated stent" in body
    assert 'name="decision-stent"' in body and "not listed" not in body
    row = log_rows()[before:][0]
    assert row.allowed and row.patient == submitted.patient and row.action == "GET workspace:questionnaire"

    # Not every line decided: 400, nothing changed, the decisions made are kept on the page.
    refused = client.post(url, {"decision-stent": "accept"})
    assert refused.status_code == 400 and "Accept or reject every line" in refused.content.decode()
    assert 'value="accept" id="decision-stent-a" checked' in refused.content.decode()
    submitted.patient.refresh_from_db()
    assert not submitted.patient.stent

    # The board says a questionnaire waits, with a link to this page.
    board = client.get("/?view=board").content.decode()
    assert "Health questions: <a" in board and url in board

    keys = {chunk.split('"')[0] for chunk in body.split('name="decision-')[1:]}
    decisions = {f"decision-{key}": "accept" for key in keys}
    done = client.post(url, decisions)
    assert done.status_code == 302 and done["Location"] == f"/surgeries/{submitted.uuid}/"
    submitted.checklist.refresh_from_db()
    assert any(a["code"] == "recent_stent" for a in submitted.checklist.alerts)
    assert ChecklistItem.objects.filter(checklist__surgery=submitted, code__startswith="hold_approval:semaglutide")
    patient_page = client.get(f"/surgeries/{submitted.uuid}/").content.decode()
    assert "Health questionnaire: reconciled" in patient_page
    assert "Health questions: reconciled" in client.get("/?view=board").content.decode()
    versions = client.get(url).content.decode()
    assert "No submitted questionnaire is waiting" in versions and "Reconciled by a nurse" in versions


def test_another_clinic_gets_a_404_noted_as_denied(client: Client, login, outsider_nurse, submitted):
    login(client, outsider_nurse)
    before = len(log_rows())
    url = f"/surgeries/{submitted.uuid}/questionnaire/"
    assert client.get(url).status_code == 404
    assert client.post(url, {"decision-stent": "accept"}).status_code == 404
    new = log_rows()[before:]
    assert len(new) == 2 and not any(r.allowed for r in new) and all(r.patient is None for r in new)
    submitted.refresh_from_db()
    assert submitted.questionnaire_responses.get().status == ResponseStatus.SUBMITTED


def test_portal_questionnaire_requests_are_logged_as_the_patients_own(client: Client, book):
    from tests.security.conftest import portal_sign_in

    surgery = book()
    portal_sign_in(client, surgery.patient)
    before = len(log_rows())
    assert client.get("/p/me/health/").status_code == 200
    assert client.post("/p/me/health/allergies/", MINIMAL["allergies"]).status_code == 302
    new = log_rows()[before:]
    assert [r.action for r in new] == ["GET portal:questionnaire", "POST portal:questionnaire_section"]
    assert [(r.role, r.patient_id, r.allowed) for r in new] == [("patient", surgery.patient.pk, True)] * 2


def test_a_minimal_questionnaire_needs_only_acknowledgements(client: Client, login, nurse, book):
    from tests.questionnaires.test_services import MINIMAL_DECISIONS

    surgery = book(medications=["clopidogrel"])
    submit_minimal(surgery)
    login(client, nurse)
    url = f"/surgeries/{surgery.uuid}/questionnaire/"
    assert "not listed" in client.get(url).content.decode()  # clopidogrel: on record, not in the answers
    assert client.post(url, MINIMAL_DECISIONS).status_code == 302
    assert surgery.patient.medications.filter(stopped_at__isnull=True).count() == 1
