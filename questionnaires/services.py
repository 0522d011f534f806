"""Writes on questionnaire responses: the stored definition, drafts saved section by section,
submissions (a second one is a new response; the first is kept), and the nurse's line decisions.

Nothing here changes the patient's record or plan: that is the reconciliation action's work
(``actions.questionnaires``), through the patients services, after a nurse accepts a line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import permissions as perms
from accounts.models import User
from patients.models import Patient, Surgery
from questionnaires import definition as qdef
from questionnaires.definition import Definition, Question, Section
from questionnaires.models import (
    LineDecision,
    QuestionnaireDefinition,
    QuestionnaireResponse,
    ReconciliationLine,
    ResponseStatus,
)


def questionnaire_current() -> tuple[Definition, QuestionnaireDefinition]:
    """The questionnaire file and its stored row (stored the first time this version is used)."""
    definition = qdef.read_definition()
    row, _created = QuestionnaireDefinition.objects.get_or_create(
        code=definition.code,
        version=definition.version,
        defaults={"title": definition.title_en, "content": dict(definition.raw)},
    )
    return definition, row


def definition_of(response: QuestionnaireResponse) -> Definition:
    """The questions a response answered (its own version, not necessarily the current file)."""
    return qdef.parse(response.definition.content)


# --- Cleaning a section's form ------------------------------------------------------------------


def _medicine_rows(data: Mapping[str, str], question: Question) -> tuple[list[dict[str, Any]], dict[str, str]]:
    rows: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    count = min(int(data.get(f"{question.code}-count", "0") or 0), qdef.MEDICINE_ROWS_MAX + 5)
    for i in range(count):
        prefix = f"{question.code}-{i}"
        name = data.get(f"{prefix}-name", "").strip()
        dose = data.get(f"{prefix}-dose", "").strip()
        description = data.get(f"{prefix}-description", "").strip()
        unknown = data.get(f"{prefix}-unknown", "") in ("on", "1", "true")
        supplement = data.get(f"{prefix}-supplement", "") in ("on", "1", "true")
        if data.get(f"{prefix}-remove", "") in ("on", "1", "true"):
            continue
        if not (name or dose or description or unknown):
            continue  # an empty row
        row = {"name": name, "dose": dose, "supplement": supplement, "unknown": unknown, "description": description}
        if unknown and not description:
            errors[f"{prefix}-description"] = _("Tell us what this medicine is for, or what its label says.")
        elif not unknown and not name:
            errors[f"{prefix}-name"] = _("Write the name of the medicine, or tick “I don't know the name”.")
        for key, value in (("name", name), ("dose", dose), ("description", description)):
            if len(value) > (qdef.TEXT_MAX if key == "description" else 120):
                errors[f"{prefix}-{key}"] = _("This is too long: shorten it, please.")
        rows.append(row)
    if len(rows) > qdef.MEDICINE_ROWS_MAX:
        errors[question.code] = _("Please list at most %(n)s medicines here, and bring the rest on a list.") % {
            "n": qdef.MEDICINE_ROWS_MAX
        }
    return rows, errors


def section_clean(
    *, section: Section, data: Mapping[str, str], answers: Mapping[str, Any], anaesthesia: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """The section's answers from a form's values, and what to fix (field name -> message).

    Questions shown only after another answer ("When was the latest clot?") are asked and checked
    only when that answer, in this same form, shows them; a hidden one keeps no answer.
    """
    today = timezone.localdate()
    merged: dict[str, Any] = dict(answers)
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for question in section.questions:
        if not qdef.visible(question, merged, anaesthesia):
            merged.pop(question.code, None)
            cleaned[question.code] = None
            continue
        if question.type == "medicines":
            rows, row_errors = _medicine_rows(data, question)
            cleaned[question.code] = rows
            errors.update(row_errors)
            continue
        value = (data.get(question.code) or "").strip()
        if not value:
            cleaned[question.code] = None
            if question.required:
                errors[question.code] = (
                    _("Choose an answer.")
                    if question.type in ("yes_no", "choice")
                    else _("Please answer this question.")
                )
            merged[question.code] = ""
            continue
        if question.type == "yes_no" and value not in qdef.YES_NO:
            errors[question.code] = _("Choose yes or no.")
        elif question.type == "choice" and value not in {o.value for o in question.options}:
            errors[question.code] = _("Choose one of the answers.")
        elif question.type == "text" and len(value) > qdef.TEXT_MAX:
            errors[question.code] = _("This is too long: please keep it under %(n)s characters.") % {"n": qdef.TEXT_MAX}
        elif question.type == "date":
            day = qdef.parse_date(value)
            if day is None:
                errors[question.code] = _("Write a date, for example 2025-03-15 (year, month, day).")
            elif day > today:
                errors[question.code] = _("This date is in the future: check it.")
        elif question.type == "month":
            month = qdef.parse_month(value)
            if month is None:
                errors[question.code] = _("Write the month and year, for example 2025-03.")
            elif month > today:
                errors[question.code] = _("This month is in the future: check it.")
        cleaned[question.code] = value
        merged[question.code] = value
    return cleaned, errors


def missing_answers(*, definition: Definition, answers: Mapping[str, Any], anaesthesia: str) -> list[Section]:
    """The sections with a required question left unanswered (what blocks a submission)."""
    incomplete = []
    for section in definition.sections:
        for question in qdef.section_visible_questions(section, answers, anaesthesia):
            if question.required and question.type != "medicines" and not answers.get(question.code):
                incomplete.append(section)
                break
    return incomplete


# --- Drafts and submissions -----------------------------------------------------------------------


def _latest(surgery: Surgery) -> QuestionnaireResponse | None:
    return QuestionnaireResponse.objects.filter(surgery=surgery).order_by("-number").first()


@transaction.atomic
def response_draft(*, patient: Patient, surgery: Surgery, language: str = "en") -> QuestionnaireResponse:
    """The draft the patient writes into: the open one, or a new one that starts from the answers of
    the last submission (a second submission is a new response; the first stays as it was)."""
    if surgery.patient_id != patient.pk:
        raise ValidationError("This booking is not the patient's.")
    Surgery.objects.select_for_update().filter(pk=surgery.pk).first()  # one draft at a time per booking
    latest = _latest(surgery)
    if latest is not None and latest.status == ResponseStatus.DRAFT:
        return latest
    _definition, row = questionnaire_current()
    return QuestionnaireResponse.objects.create(
        patient=patient,
        surgery=surgery,
        definition=row,
        number=(latest.number + 1) if latest else 1,
        answers=dict(latest.answers) if latest else {},
        sections_saved=list(latest.sections_saved) if latest else [],
        language=language,
    )


@transaction.atomic
def section_save(
    *, response: QuestionnaireResponse, section_code: str, data: Mapping[str, str]
) -> tuple[QuestionnaireResponse, dict[str, str]]:
    """Save one section of a draft; returns the errors (nothing is saved for the section when there are any)."""
    response = (
        QuestionnaireResponse.objects.select_for_update().select_related("surgery", "definition").get(pk=response.pk)
    )
    if response.status != ResponseStatus.DRAFT:
        raise ValidationError(_("These answers were already sent."))
    definition = definition_of(response)
    section = definition.section(section_code)
    if section is None:
        raise ValidationError(_("There is no such part of the questionnaire."))
    cleaned, errors = section_clean(
        section=section, data=data, answers=response.answers, anaesthesia=response.surgery.anaesthesia
    )
    if errors:
        return response, errors
    answers = dict(response.answers)
    for code, value in cleaned.items():
        if value is None:
            answers.pop(code, None)
        else:
            answers[code] = value
    response.answers = answers
    if section_code not in response.sections_saved:
        response.sections_saved = [*response.sections_saved, section_code]
    response.save(update_fields=["answers", "sections_saved", "updated_at"])
    return response, {}


@transaction.atomic
def response_submit(*, response: QuestionnaireResponse) -> QuestionnaireResponse:
    """Send the answers to the clinic. Every required question must be answered first."""
    perms.require(None, perms.SUBMIT, perms.KIND_QUESTIONNAIRE)
    response = (
        QuestionnaireResponse.objects.select_for_update().select_related("surgery", "definition").get(pk=response.pk)
    )
    if response.status != ResponseStatus.DRAFT:
        raise ValidationError(_("These answers were already sent."))
    definition = definition_of(response)
    incomplete = missing_answers(
        definition=definition, answers=response.answers, anaesthesia=response.surgery.anaesthesia
    )
    if incomplete:
        lang = response.language
        raise ValidationError(
            _("Some questions are not answered yet: %(parts)s.")
            % {"parts": ", ".join(s.title(lang) for s in incomplete)}
        )
    response.status = ResponseStatus.SUBMITTED
    response.submitted_at = timezone.now()
    response.save(update_fields=["status", "submitted_at", "updated_at"])
    QuestionnaireResponse.objects.filter(
        surgery_id=response.surgery_id, status=ResponseStatus.SUBMITTED, number__lt=response.number
    ).update(status=ResponseStatus.SUPERSEDED, updated_at=timezone.now())
    return response


@transaction.atomic
def lines_record(
    *,
    response: QuestionnaireResponse,
    by: User,
    decisions: Mapping[str, str],
    lines: list[Any],
) -> list[ReconciliationLine]:
    """Store the nurse's decision on each line and close the response as reconciled."""
    perms.require(by, perms.RECONCILE, perms.KIND_QUESTIONNAIRE)
    now = timezone.now()
    rows = [
        ReconciliationLine(
            response=response,
            key=line.key,
            label=line.label[:300],
            answer_text=line.answer_text,
            record_text=line.record_text,
            kind=line.kind,
            decision=decisions.get(line.key, LineDecision.ACCEPT),
            decided_at=now,
            decided_by=by,
        )
        for line in lines
    ]
    ReconciliationLine.objects.bulk_create(rows)
    response.status = ResponseStatus.RECONCILED
    response.reconciled_at, response.reconciled_by = now, by
    response.updated_by = by
    response.save(update_fields=["status", "reconciled_at", "reconciled_by", "updated_by", "updated_at"])
    return rows
