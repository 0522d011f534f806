"""Reads on questionnaires: a submitted response set against the patient's record, line by line.

Each line says what the patient answered, what the record holds, and whether that is new, changed
or the same; ``info`` lines (sleep apnoea, stairs, a ride home...) have no field in the record and
are acknowledged; ``missing`` lines are medicines on the record the patient did not list (shown,
never stopped from here). A line carries the record change that accepting it makes, so the action
applies exactly what the nurse saw.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from patients.models import Medication, Patient, StentType, Surgery
from prep import medicines
from prep.models import Drug, KnownMedicine
from questionnaires import definition as qdef
from questionnaires.definition import Definition, Question
from questionnaires.models import QuestionnaireResponse, ResponseStatus

NEW, CHANGED, SAME, INFO, MISSING = "new", "changed", "same", "info", "missing"
# Lines on which the nurse decides: the rest change nothing whatever she does.
DECIDED_KINDS = (NEW, CHANGED, INFO)


@dataclass
class Line:
    key: str
    label: str
    answer_text: str
    record_text: str
    kind: str
    note: str = ""
    patient_values: dict[str, Any] = field(default_factory=dict)
    allergies_add: str = ""
    medication: dict[str, Any] | None = None

    @property
    def needs_decision(self) -> bool:
        return self.kind in DECIDED_KINDS

    @property
    def changes_record(self) -> bool:
        return bool(self.patient_values or self.allergies_add or self.medication)


def _yes_no(value: Any) -> bool | None:
    return {"yes": True, "no": False}.get(str(value)) if value else None


def _bool_text(value: bool | None) -> str:
    return "" if value is None else ("Yes" if value else "No")


def _answer_text(question: Question, value: Any) -> str:
    if value in (None, ""):
        return ""
    if question.type == "yes_no":
        return "Yes" if value == "yes" else "No"
    if question.type == "choice":
        return question.option_label(str(value), "en")
    return str(value)


def _by_target(definition: Definition) -> dict[str, list[Question]]:
    targets: dict[str, list[Question]] = {}
    for question in qdef.questions_in_order(definition):
        targets.setdefault(question.record, []).append(question)
    return targets


def _bool_line(key: str, question: Question, answer: Any, current: bool, field_name: str) -> Line | None:
    said = _yes_no(answer)
    if said is None:
        return None
    kind = SAME if said == current else CHANGED if current else NEW
    return Line(
        key=key,
        label=question.text_en,
        answer_text=_bool_text(said),
        record_text=_bool_text(current),
        kind=kind,
        patient_values={} if kind == SAME else {field_name: said},
    )


def _date_line(
    key: str, questions: list[Question], answers: Mapping[str, Any], current: dt.date | None, field_name: str
) -> Line | None:
    flag, when = questions[0], (questions[1] if len(questions) > 1 else None)
    said = _yes_no(answers.get(flag.code))
    if said is None:
        return None
    day = qdef.parse_date(str(answers.get(when.code, ""))) if when and said else None
    answer = "No" if not said else f"Yes, {day.isoformat()}" if day else "Yes, date not known"
    record = current.isoformat() if current else "No"
    if not said:
        kind = SAME if current is None else CHANGED
        values: dict[str, Any] = {field_name: None}
    else:
        kind = SAME if current is not None and (day is None or day == current) else CHANGED if current else NEW
        # A clot or stroke without a date is recorded as of today: the record's rules then treat it as
        # recent, the safe reading, until the nurse puts the real date.
        values = {field_name: day or timezone.localdate()}
    note = "" if day or not said else "No date given: accepting records today's date; correct it on the patient page."
    return Line(
        key=key,
        label=flag.text_en,
        answer_text=answer,
        record_text=record,
        kind=kind,
        note=note,
        patient_values={} if kind == SAME else values,
    )


def _stent_line(questions: list[Question], answers: Mapping[str, Any], patient: Patient) -> Line | None:
    kind_q = questions[0]
    month_q = questions[1] if len(questions) > 1 else None
    said = answers.get(kind_q.code)
    if not said:
        return None
    record = (
        f"{patient.get_stent_display()}, {patient.stent_date:%Y-%m}" if patient.stent and patient.stent_date else ""
    ) or (patient.get_stent_display() if patient.stent else "No")
    if said == "no":
        same = not patient.stent
        return Line(
            key="stent",
            label=kind_q.text_en,
            answer_text="No",
            record_text=record,
            kind=SAME if same else CHANGED,
            patient_values={} if same else {"stent": "", "stent_date": None},
        )
    stent = StentType.DRUG_ELUTING if said in ("drug_eluting", "unknown") else StentType.BARE_METAL
    month = qdef.parse_month(str(answers.get(month_q.code, ""))) if month_q else None
    note = (
        "Type not known: accepting records a drug-eluting stent (the longer wait); check with the cardiologist."
        if said == "unknown"
        else ""
    )
    same = patient.stent == stent and patient.stent_date == month
    answer = _answer_text(kind_q, said) + (f", {month:%Y-%m}" if month else "")
    return Line(
        key="stent",
        label=kind_q.text_en,
        answer_text=answer,
        record_text=record,
        kind=SAME if same else CHANGED if patient.stent else NEW,
        note=note,
        patient_values={} if same else {"stent": stent, "stent_date": month},
    )


def _valve_line(question: Question, answer: Any, patient: Patient) -> Line | None:
    if not answer:
        return None
    # A valve of unknown type is proposed as mechanical (the one that changes the plan); the nurse checks.
    said = answer in ("mechanical", "unknown")
    line = _bool_line(
        "mechanical_heart_valve",
        question,
        "yes" if said else "no",
        patient.mechanical_heart_valve,
        "mechanical_heart_valve",
    )
    if line is not None:
        line.answer_text = _answer_text(question, answer)
        line.record_text = "Mechanical valve" if patient.mechanical_heart_valve else "No mechanical valve"
        if answer == "unknown" and line.kind != SAME:
            line.note = "Type not known: accepting records a mechanical valve; check it."
    return line


def _allergy_lines(targets: dict[str, list[Question]], answers: Mapping[str, Any], patient: Patient) -> list[Line]:
    lines: list[Line] = []
    recorded = patient.allergies or ""
    for question in targets.get("allergies", []):
        text = str(answers.get(question.code) or "").strip()
        if not text:
            continue
        same = text.lower() in recorded.lower()
        lines.append(
            Line(
                key=f"allergies:{question.code}",
                label=question.text_en,
                answer_text=text,
                record_text=recorded or "None recorded",
                kind=SAME if same else NEW,
                allergies_add="" if same else text,
            )
        )
    for question in targets.get("contrast_allergy", []):
        said = _yes_no(answers.get(question.code))
        if said is None:
            continue
        on_record = "contrast" in recorded.lower()
        kind = SAME if said == on_record else NEW if said else INFO
        lines.append(
            Line(
                key=f"contrast:{question.code}",
                label=question.text_en,
                answer_text=_bool_text(said),
                record_text=recorded or "None recorded",
                kind=kind,
                note="" if said or not on_record else "The record lists a contrast allergy: it is kept.",
                allergies_add="contrast dye" if kind == NEW else "",
            )
        )
    for question in targets.get("latex_allergy", []):
        line = _bool_line("latex_allergy", question, answers.get(question.code), patient.latex_allergy, "latex_allergy")
        if line:
            lines.append(line)
    return lines


def _same_medicine(read: medicines.Resolution, name: str, current: Iterable[Medication]) -> Medication | None:
    substances = {d.substance for d in read.drugs}
    wanted = " ".join(medicines.name_words(name))
    for med in current:
        if med.drug_id is not None and med.drug is not None and med.drug.substance in substances:
            return med
        if wanted and " ".join(medicines.name_words(med.name)) == wanted:
            return med
        if read.known is not None and read.known.slug.replace("-", " ") in " ".join(medicines.name_words(med.name)):
            return med
    return None


def _medication_text(med: Medication) -> str:
    return med.name + (f", {med.dose}" if med.dose else "")


def _medicine_lines(
    questions: list[Question], answers: Mapping[str, Any], current: list[Medication], dictionary: medicines.Dictionary
) -> list[Line]:
    lines: list[Line] = []
    matched: set[int] = set()
    for question in questions:
        for i, row in enumerate(answers.get(question.code) or []):
            dose = str(row.get("dose", ""))
            what = "Supplement" if row.get("supplement") else "Medicine"
            if row.get("unknown"):
                description = str(row.get("description", ""))
                read = dictionary.resolve(description)
                name = f"Name not known: {description}"[:120]
                answer = f"{what}, name not known: “{description}”" + (f", {dose}" if dose else "")
            else:
                name = str(row.get("name", ""))
                read = dictionary.resolve(name)
                answer = f"{what}: {name}" + (f", {dose}" if dose else "")
            found = _same_medicine(read, name, current) if read.matched or not row.get("unknown") else None
            note = ""
            if read.drugs:
                note = "Read as " + " / ".join(sorted({d.name for d in read.drugs})) + f" ({read.how})"
            elif read.known is not None:
                note = f"Read as {read.known.name} (no preparation rule)"
            elif not row.get("unknown"):
                note = "The dictionary cannot read this name: accepting adds a medicine review for a nurse."
            if found is not None:
                matched.add(found.pk)
            lines.append(
                Line(
                    key=f"med:{i}",
                    label=what,
                    answer_text=answer,
                    record_text=(f"{found.name}" + (f", {found.dose}" if found.dose else ""))
                    if found
                    else "Not on record",
                    kind=SAME if found else NEW,
                    note=note,
                    medication=None if found else {"name": name, "dose": dose[:120]},
                )
            )
    for med in current:
        if med.pk not in matched:
            lines.append(
                Line(
                    key=f"unlisted:{med.uuid}",
                    label="Medicine on record",
                    answer_text="Not listed by the patient",
                    record_text=med.name + (f", {med.dose}" if med.dose else ""),
                    kind=MISSING,
                    note="Ask the patient; stop it on the patient page if they no longer take it.",
                )
            )
    return lines


def _info_lines(questions: list[Question], answers: Mapping[str, Any]) -> list[Line]:
    lines = []
    for question in questions:
        value = answers.get(question.code)
        if value in (None, ""):
            continue
        lines.append(
            Line(
                key=f"info:{question.code}",
                label=question.text_en,
                answer_text=_answer_text(question, value),
                record_text="—",
                kind=INFO,
            )
        )
    return lines


def reconciliation_lines(
    *,
    response: QuestionnaireResponse,
    definition: Definition,
    patient: Patient,
    drugs: QuerySet[Drug] | None = None,
    known: QuerySet[KnownMedicine] | None = None,
) -> list[Line]:
    """The response against the patient's record now, in the questionnaire's order."""
    answers = response.answers
    targets = _by_target(definition)
    current = list(patient.medications.filter(stopped_at__isnull=True).select_related("drug"))
    dictionary = medicines.build(
        drugs if drugs is not None else Drug.objects.all(), known if known is not None else KnownMedicine.objects.all()
    )
    lines: list[Line] = []
    if "medications" in targets:
        lines += _medicine_lines(targets["medications"], answers, current, dictionary)
    lines += _allergy_lines(targets, answers, patient)
    if "stent" in targets and (line := _stent_line(targets["stent"], answers, patient)):
        lines.append(line)
    for question in targets.get("mechanical_heart_valve", []):
        if line := _valve_line(question, answers.get(question.code), patient):
            lines.append(line)
    for target in ("atrial_fibrillation", "diabetes", "impaired_renal_function"):
        for question in targets.get(target, []):
            if line := _bool_line(target, question, answers.get(question.code), getattr(patient, target), target):
                lines.append(line)
    for target in ("vte_date", "stroke_date"):
        if target in targets and (
            line := _date_line(target, targets[target], answers, getattr(patient, target), target)
        ):
            lines.append(line)
    lines += _info_lines(targets.get("info", []), answers)
    return lines


def response_latest(*, surgery: Surgery) -> QuestionnaireResponse | None:
    return (
        QuestionnaireResponse.objects.filter(surgery=surgery).select_related("definition").order_by("-number").first()
    )


def responses_of(*, surgery: Surgery) -> list[QuestionnaireResponse]:
    return list(
        QuestionnaireResponse.objects.filter(surgery=surgery)
        .select_related("definition", "reconciled_by")
        .order_by("-number")
    )


# What the board and the patient page say of a booking's questionnaire (one query for a page of rows).
STATE_LABELS = {
    "none": "Not started",
    ResponseStatus.DRAFT: "Being filled in",
    ResponseStatus.SUBMITTED: "To reconcile",
    ResponseStatus.RECONCILED: "Reconciled",
    ResponseStatus.SUPERSEDED: "Replaced",
}


def questionnaire_states(*, surgery_ids: Iterable[int]) -> dict[int, str]:
    """Surgery id -> the state of its latest response (``none`` when the patient has not started).

    A draft after a reconciled or submitted response does not hide it: the clinic still has to act
    on a submission, so the latest non-draft state wins over a newer draft's."""
    ids = list(surgery_ids)
    states: dict[int, str] = dict.fromkeys(ids, "none")
    rows = (
        QuestionnaireResponse.objects.filter(surgery_id__in=ids)
        .order_by("surgery_id", "number")
        .values_list("surgery_id", "status")
    )
    for surgery_id, status in rows:
        if status in (ResponseStatus.DRAFT, ResponseStatus.SUPERSEDED) and states[surgery_id] != "none":
            continue
        states[surgery_id] = status
    return states
