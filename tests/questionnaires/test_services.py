"""The questionnaire as data, drafts and versions, and the nurse's reconciliation (issue 20)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone

from actions.questionnaires import questionnaire_reconcile, questionnaire_submit
from prep.models import ChecklistItem, ItemStatus
from questionnaires import definition as qdef
from questionnaires import services
from questionnaires.models import QuestionnaireResponse, ReconciliationLine, ResponseStatus
from questionnaires.selectors import questionnaire_states, reconciliation_lines

pytestmark = pytest.mark.django_db

ANSWERS = {
    "medicines": {
        "medicines-count": "3",
        "medicines-0-name": "Ozempic",
        "medicines-0-dose": "0.5 mg weekly",
        "medicines-1-name": "fish oil",
        "medicines-1-supplement": "on",
        "medicines-2-unknown": "on",
        "medicines-2-description": "small white pill for blood pressure",
    },
    "allergies": {
        "allergy_medicines": "penicillin",
        "allergy_latex": "no",
        "allergy_contrast": "yes",
        "anaesthesia_problems": "no",
    },
    "conditions": {
        "stent": "drug_eluting",
        "stent_month": "",  # filled in per test (two months before today)
        "heart_valve": "no",
        "atrial_fibrillation": "no",
        "clot": "no",
        "stroke": "no",
        "diabetes": "yes",
        "kidney_disease": "no",
        "sleep_apnoea": "yes",
        "pregnancy": "not_applicable",
        "stairs": "yes",
    },
    "practical": {"escort": "yes", "overnight_adult": "yes", "interpreter": "yes", "interpreter_language": "Spanish"},
}


def months_ago(n: int) -> str:
    today = timezone.localdate()
    month = today.month - n
    year = today.year + (month - 1) // 12
    return f"{year}-{(month - 1) % 12 + 1:02d}"


def fill(response, answers=ANSWERS):
    for code, data in answers.items():
        if code == "conditions":
            data = {**data, "stent_month": months_ago(2)}
        response, errors = services.section_save(response=response, section_code=code, data=data)
        assert errors == {}, (code, errors)
    return response


@pytest.fixture
def general(book):
    """A trigeminal RF booking (general anaesthesia): GLP-1 and escort questions apply."""
    return book("trigeminal-rf")


def test_the_shipped_questionnaire_loads_with_a_version_in_both_languages():
    definition = qdef.read_definition()
    assert definition.version and definition.code == "preop-health"
    questions = definition.questions
    for code in (
        "medicines",
        "allergy_latex",
        "allergy_contrast",
        "anaesthesia_problems",
        "stent",
        "stent_month",
        "heart_valve",
        "atrial_fibrillation",
        "clot",
        "stroke",
        "diabetes",
        "kidney_disease",
        "sleep_apnoea",
        "pregnancy",
        "stairs",
        "escort",
        "overnight_adult",
        "interpreter",
    ):
        assert code in questions, code
        assert questions[code].text_en and questions[code].text_es
    assert questions["overnight_adult"].anaesthesia_in == ("general",)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"type": "slider"}, "type: 'slider' is not one of"),
        ({"record": "shoe_size"}, "record: 'shoe_size' is not one of"),
        ({"show_if": {"question": "later", "in": ["yes"]}}, "is not a question asked before it"),
        ({"colour": "red"}, "unknown keys ['colour']"),
    ],
)
def test_the_loader_names_what_is_wrong(broken, message):
    raw = dict(qdef.read_definition().raw)
    sections = [dict(s) for s in raw["sections"]]
    first = dict(sections[1]["questions"][1])
    first.update(broken)
    sections[1] = {**sections[1], "questions": [sections[1]["questions"][0], first, *sections[1]["questions"][2:]]}
    with pytest.raises(qdef.DefinitionError, match=message.replace("[", r"\[").replace("(", r"\(")):
        qdef.parse({**raw, "sections": sections})


def test_bad_input_keeps_the_draft_and_names_the_fields(general):
    patient = general.patient
    draft = services.response_draft(patient=patient, surgery=general)
    draft, errors = services.section_save(
        response=draft,
        section_code="conditions",
        data={**ANSWERS["conditions"], "stent_month": "2099-01", "clot": "yes", "clot_date": "yesterday"},
    )
    assert set(errors) == {"stent_month", "clot_date"}
    assert "future" in errors["stent_month"]
    draft.refresh_from_db()
    assert draft.answers == {}  # nothing of the bad section saved; the page keeps what was typed
    with pytest.raises(ValidationError, match="not answered yet"):
        questionnaire_submit(response=draft)


def test_saved_as_it_goes_and_a_second_submission_is_a_new_version(general):
    patient = general.patient
    draft = services.response_draft(patient=patient, surgery=general)
    draft, _ = services.section_save(response=draft, section_code="allergies", data=ANSWERS["allergies"])
    # Stop and come back: the same draft, with its answers.
    again = services.response_draft(patient=patient, surgery=general)
    assert again.pk == draft.pk and again.answers["allergy_contrast"] == "yes"
    first = questionnaire_submit(response=fill(again))
    assert first.status == ResponseStatus.SUBMITTED and first.submitted_at and first.number == 1
    item = ChecklistItem.objects.get(checklist__surgery=general, code="health_questionnaire")
    assert item.status == ItemStatus.PATIENT_CONFIRMED and item.evidence["response"] == str(first.uuid)

    second = services.response_draft(patient=patient, surgery=general)
    assert second.pk != first.pk and second.number == 2 and second.answers == first.answers
    second, _ = services.section_save(
        response=second, section_code="allergies", data={**ANSWERS["allergies"], "allergy_latex": "yes"}
    )
    questionnaire_submit(response=second)
    first.refresh_from_db()
    # The first is kept as it was; the nurse reconciles the newer one, which started from its answers.
    assert first.answers["allergy_latex"] == "no" and first.status == ResponseStatus.SUPERSEDED
    assert QuestionnaireResponse.objects.filter(surgery=general).count() == 2
    assert questionnaire_states(surgery_ids=[general.pk]) == {general.pk: ResponseStatus.SUBMITTED}


def test_reconciliation_brings_the_glp1_decision_and_the_stent_alert(general, nurse):
    patient = general.patient
    response = questionnaire_submit(response=fill(services.response_draft(patient=patient, surgery=general)))
    lines = reconciliation_lines(response=response, definition=services.definition_of(response), patient=patient)
    by_key = {line.key: line for line in lines}
    assert by_key["med:0"].kind == "new" and "Semaglutide" in by_key["med:0"].note
    assert by_key["stent"].kind == "new" and by_key["diabetes"].kind == "new"
    assert by_key["info:stairs"].kind == "info"
    codes_before = set(general.checklist.items.values_list("code", flat=True))
    assert not any(c.startswith("hold_approval:semaglutide") for c in codes_before)

    decisions = {line.key: "accept" for line in lines if line.needs_decision}
    decisions["allergies:allergy_medicines"] = "reject"
    questionnaire_reconcile(response=response, by=nurse, decisions=decisions)

    patient.refresh_from_db()
    assert patient.stent == "drug_eluting" and patient.stent_date and patient.diabetes
    assert "contrast dye" in patient.allergies and "penicillin" not in patient.allergies
    assert patient.medications.filter(drug__substance="semaglutide").exists()
    general.checklist.refresh_from_db()
    codes = set(general.checklist.items.values_list("code", flat=True))
    assert any(c.startswith("hold_approval:semaglutide") for c in codes), codes
    assert "med_review" in codes  # the medicine with no name: a nurse's review, never silence
    assert any(a["code"] == "recent_stent" for a in general.checklist.alerts)
    # The history names the questionnaire.
    assert patient.history.first().history_change_reason.startswith("From the health questionnaire no. 1")
    decision = ChecklistItem.objects.get(checklist__surgery=general, code__startswith="hold_approval:semaglutide")
    assert "health questionnaire no. 1" in decision.history.earliest().history_change_reason
    item = ChecklistItem.objects.get(checklist__surgery=general, code="health_questionnaire")
    assert item.status == ItemStatus.ACCEPTED
    response.refresh_from_db()
    assert response.status == ResponseStatus.RECONCILED and response.reconciled_by == nurse
    assert ReconciliationLine.objects.filter(response=response, decision="reject").count() == 1


def test_nothing_changes_without_a_decision_on_every_line(general, nurse):
    patient = general.patient
    response = questionnaire_submit(response=fill(services.response_draft(patient=patient, surgery=general)))
    with pytest.raises(ValidationError, match="Accept or reject every line"):
        questionnaire_reconcile(response=response, by=nurse, decisions={"stent": "accept"})
    patient.refresh_from_db()
    assert not patient.stent and not patient.medications.filter(drug__substance="semaglutide").exists()


def test_only_the_clinics_staff_reconcile(general, outsider_nurse):
    from api.services import api_token_create

    patient = general.patient
    response = questionnaire_submit(response=fill(services.response_draft(patient=patient, surgery=general)))
    with pytest.raises(Http404):
        questionnaire_reconcile(response=response, by=outsider_nurse, decisions={})
    token, _raw = api_token_create(clinic=patient.clinic, name="EHR", by=None)
    with pytest.raises(PermissionDenied):
        questionnaire_reconcile(response=response, by=token.user, decisions={})
    response.refresh_from_db()
    assert response.status == ResponseStatus.SUBMITTED


# Every required answer "no" (or "does not apply"): a questionnaire whose lines are all the same as the
# record or for information, used by the authorization matrix's world.
MINIMAL = {
    "allergies": {"allergy_latex": "no", "allergy_contrast": "no", "anaesthesia_problems": "no"},
    "conditions": {
        "stent": "no",
        "heart_valve": "no",
        "atrial_fibrillation": "no",
        "clot": "no",
        "stroke": "no",
        "diabetes": "no",
        "kidney_disease": "no",
        "sleep_apnoea": "no",
        "pregnancy": "not_applicable",
        "stairs": "yes",
    },
    "practical": {"escort": "yes", "overnight_adult": "yes", "interpreter": "no"},
}
MINIMAL_DECISIONS = {
    f"decision-info:{code}": "accept"
    for code in ("anaesthesia_problems", "sleep_apnoea", "pregnancy", "stairs", "interpreter")
}


def submit_minimal(surgery):
    response = services.response_draft(patient=surgery.patient, surgery=surgery)
    for code, data in MINIMAL.items():
        response, errors = services.section_save(response=response, section_code=code, data=data)
        assert errors == {}, errors
    return questionnaire_submit(response=response)
