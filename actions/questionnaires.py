"""The health questionnaire: the patient sends it; a nurse reconciles it line by line.

Sending changes nothing in the record or the plan: it completes the checklist's questionnaire item
as the patient's confirmation (evidence for the nurse, as every patient confirmation is). Only the
reconciliation, by a member of the clinic's staff, writes what she accepted into the patient's
record, medicines and conditions, through the same services as the patient page, so that the
checklist, its holds and alerts and the reminders follow in the same transaction, with the history
naming the questionnaire.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from accounts import permissions as perms
from accounts.models import User
from patients import services as patient_services
from patients.models import Patient, Surgery
from prep import services as prep_services
from prep.models import ChecklistItem, ConfirmAs, ItemStatus
from prep.services import HISTORY_REASON_MAX
from questionnaires import selectors, services
from questionnaires.models import LineDecision, QuestionnaireResponse, ResponseStatus
from reminders import planner


def _questionnaire_items(response: QuestionnaireResponse, status: str) -> list[ChecklistItem]:
    return list(
        ChecklistItem.objects.filter(
            checklist__surgery_id=response.surgery_id, template_item__confirm_as=ConfirmAs.FORM, status=status
        )
    )


@transaction.atomic
def questionnaire_submit(*, response: QuestionnaireResponse) -> QuestionnaireResponse:
    """Send the answers; the checklist's questionnaire item becomes the patient's confirmation."""
    response = services.response_submit(response=response)
    items = _questionnaire_items(response, ItemStatus.OPEN)
    for item in items:
        evidence = {"kind": "questionnaire", "response": str(response.uuid), "number": response.number, "via": "portal"}
        prep_services.item_patient_confirm(item=item, evidence=evidence)
    if items:
        planner.checklist_changed(checklist=items[0].checklist)
    return response


@transaction.atomic
def questionnaire_reconcile(
    *, response: QuestionnaireResponse, by: User, decisions: Mapping[str, str]
) -> QuestionnaireResponse:
    """Apply the lines the nurse accepted; every line that could change something needs a decision.

    The lines are computed again here, under a lock on the patient, from the record as it is now: a
    change made since the page was loaded is compared, not overwritten blindly.
    """
    perms.require(by, perms.RECONCILE, perms.KIND_QUESTIONNAIRE)
    response = (
        QuestionnaireResponse.objects.select_for_update(of=("self",))
        .select_related("definition", "surgery")
        .get(pk=response.pk)
    )
    if by.clinic_id is None or response.surgery.clinic_id != by.clinic_id:
        raise Http404("No such questionnaire.")  # the scoped fetch already refused it; said again where it changes
    if response.status != ResponseStatus.SUBMITTED:
        raise ValidationError({"__all__": "This questionnaire is not waiting to be reconciled."})
    patient = Patient.objects.select_for_update().select_related("clinic").get(pk=response.patient_id)
    lines = selectors.reconciliation_lines(
        response=response, definition=services.definition_of(response), patient=patient
    )
    decided = [line for line in lines if line.needs_decision]
    open_lines = [line.label for line in decided if decisions.get(line.key) not in LineDecision.values]
    if open_lines:
        raise ValidationError({"__all__": f"Accept or reject every line: {len(open_lines)} left ({open_lines[0]}…)."})
    accepted = [line for line in decided if decisions[line.key] == LineDecision.ACCEPT]
    reason = f"From the {response.label}"[:HISTORY_REASON_MAX]

    values: dict[str, object] = {}
    for line in accepted:
        values.update(line.patient_values)
    additions = [line.allergies_add for line in accepted if line.allergies_add]
    if additions:
        values["allergies"] = "; ".join(part for part in [patient.allergies.strip(), *additions] if part)
    changed = False
    if values:
        patient = patient_services.patient_update(patient=patient, by=by, reason=reason, **values)
        changed = True
    for line in accepted:
        if line.medication is not None:
            patient_services.medication_add(patient=patient, by=by, reason=reason, **line.medication)
            changed = True
    services.lines_record(response=response, by=by, decisions=decisions, lines=decided)
    for item in _questionnaire_items(response, ItemStatus.PATIENT_CONFIRMED):
        prep_services.item_accept(item=item, by=by)
        changed = True
    if changed:
        planner.patient_changed(patient=patient)
    return response


@transaction.atomic
def questionnaire_section_save(
    *, patient: Patient, surgery: Surgery, section_code: str, data: Mapping[str, str], language: str
) -> tuple[QuestionnaireResponse, dict[str, str]]:
    """Save one section as the patient goes (into the open draft, or a new one after a submission).

    No re-planning: a draft changes nothing in the record or the plan. With errors nothing of the
    section is saved, and the page shows what was typed with what to fix."""
    response = services.response_draft(patient=patient, surgery=surgery, language=language)
    return services.section_save(response=response, section_code=section_code, data=data)
