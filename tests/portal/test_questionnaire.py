"""The health questionnaire in the portal: section by section, saved as the patient goes (issue 20)."""

from __future__ import annotations

import pytest

from prep.models import ChecklistItem, ItemStatus
from questionnaires.models import QuestionnaireResponse, ResponseStatus
from tests.questionnaires.test_services import ANSWERS, months_ago

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(book):
    return book("trigeminal-rf", language="es")


def test_spanish_sections_bad_input_kept_stop_and_come_back_then_send(client, booked, sign_in):
    patient = booked.patient
    me = sign_in(client, patient)
    assert "Contestar las preguntas de salud" in me.content.decode()  # the checklist item links here
    overview = client.get("/p/me/health/")
    assert overview.status_code == 200 and "Preguntas de salud antes de su procedimiento" in overview.content.decode()

    # Medicines: the dictionary reads the brand name.
    page = client.post("/p/me/health/medicines/", {**ANSWERS["medicines"], "then": "next"})
    assert page.status_code == 302 and page["Location"] == "/p/me/health/allergies/"
    medicines_page = client.get("/p/me/health/medicines/").content.decode()
    assert "Lo entendemos como: Semaglutida" in medicines_page and 'value="Ozempic"' in medicines_page

    # Bad input: 400, what was typed is still there, and the summary says what to fix.
    bad = {**ANSWERS["conditions"], "stent_month": "2099-01", "clot": "yes", "clot_date": ""}
    page = client.post("/p/me/health/conditions/", {**bad, "then": "next"})
    body = page.content.decode()
    assert page.status_code == 400
    assert "Este mes está en el futuro" in body and "Por favor, conteste esta pregunta." in body
    assert 'value="2099-01"' in body and 'value="drug_eluting" checked' in body
    assert 'href="#id_stent_month"' in body

    # Stop halfway; sign in again: the saved part is there.
    client.post("/p/me/health/allergies/", {**ANSWERS["allergies"], "then": "stop"})
    client.post("/p/out/")
    sign_in(client, patient)
    assert 'value="yes" checked' in client.get("/p/me/health/allergies/").content.decode()
    assert "Enviar mis respuestas" not in client.get("/p/me/health/").content.decode()  # not all parts yet

    good = {**ANSWERS["conditions"], "stent_month": months_ago(2)}
    assert client.post("/p/me/health/conditions/", {**good, "then": "next"}).status_code == 302
    assert client.post("/p/me/health/practical/", {**ANSWERS["practical"], "then": "next"}).status_code == 302
    assert "Enviar mis respuestas" in client.get("/p/me/health/").content.decode()
    sent = client.post("/p/me/health/send/")
    assert sent.status_code == 302 and sent["Location"] == "/p/me/"
    response = QuestionnaireResponse.objects.get(surgery=booked)
    assert response.status == ResponseStatus.SUBMITTED and response.language == "es"
    item = ChecklistItem.objects.get(checklist__surgery=booked, code="health_questionnaire")
    assert item.status == ItemStatus.PATIENT_CONFIRMED
    # Nothing the patient said changed the record.
    patient.refresh_from_db()
    assert not patient.stent and not patient.medications.exists()


def test_a_patient_without_a_booking_gets_a_404_and_sections_are_named(client, book, sign_in):
    surgery = book()
    sign_in(client, surgery.patient)
    assert client.get("/p/me/health/nonsense/").status_code == 404
    assert client.get("/p/me/health/send/").status_code == 405
