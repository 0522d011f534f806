"""The health questionnaire as FHIR R4: the definition as a ``Questionnaire``, each submission as a
``QuestionnaireResponse`` (issue 20).

Kept beside ``api.fhir`` rather than inside it: the ``$preop`` bundle gets these entries appended,
so the rest of the export does not change. The Questionnaire's ``url`` is canonical and versioned
(``url|version``), so a response names the exact questions it answered; Spanish texts ride on the
standard translation extension. Yes/no questions are ``boolean``; a month ("2025-03") is a FHIR
partial ``date``; the medicines are a repeating group.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from api.fhir import Json, base_url, instant, ref, system
from questionnaires import definition as qdef
from questionnaires.definition import Definition, Question
from questionnaires.models import QuestionnaireDefinition, QuestionnaireResponse, ResponseStatus
from questionnaires.services import definition_of

TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
RESPONSE_STATUS: dict[str, str] = {
    ResponseStatus.DRAFT: "in-progress",
    ResponseStatus.SUBMITTED: "completed",
    ResponseStatus.RECONCILED: "completed",
    ResponseStatus.SUPERSEDED: "amended",
}
ITEM_TYPE = {"yes_no": "boolean", "choice": "choice", "text": "text", "date": "date", "month": "date"}
MEDICINE_PARTS = (
    ("name", "string", "Name"),
    ("dose", "string", "How much and how often"),
    ("supplement", "boolean", "A vitamin, herb or supplement"),
    ("unknown", "boolean", "Does not know the name"),
    ("description", "string", "What it is for, or what the label says"),
)


def questionnaire_url(code: str) -> str:
    return f"{base_url()}/fhir/Questionnaire/{code}"


def _translated(english: str, spanish: str) -> Json:
    return (
        {
            "extension": [
                {
                    "url": TRANSLATION,
                    "extension": [
                        {"url": "lang", "valueCode": "es"},
                        {"url": "content", "valueString": spanish},
                    ],
                }
            ]
        }
        if spanish and spanish != english
        else {}
    )


def _text(node: Json, english: str, spanish: str) -> Json:
    node["text"] = english
    if translated := _translated(english, spanish):
        node["_text"] = translated
    return node


def _option_system(definition: Definition, question: Question) -> str:
    return system(f"questionnaire-{definition.code}-{question.code}")


def _question_item(definition: Definition, question: Question) -> Json:
    if question.type == "medicines":
        item = _text({"linkId": question.code, "type": "group", "repeats": True}, question.text_en, question.text_es)
        item["item"] = [
            {"linkId": f"{question.code}.{part}", "text": text, "type": kind} for part, kind, text in MEDICINE_PARTS
        ]
        return item
    item = _text(
        {"linkId": question.code, "type": ITEM_TYPE[question.type], "required": question.required},
        question.text_en,
        question.text_es,
    )
    if question.type == "choice":
        item["answerOption"] = [
            {"valueCoding": {"system": _option_system(definition, question), "code": o.value, "display": o.label_en}}
            for o in question.options
        ]
    if question.type == "text":
        item["maxLength"] = 500
    if question.show_if is not None:
        parent = definition.questions[question.show_if[0]]
        item["enableWhen"] = [_enable_when(definition, parent, value) for value in question.show_if[1]]
        if len(question.show_if[1]) > 1:
            item["enableBehavior"] = "any"
    if question.anaesthesia_in:
        # Asked only for some anaesthesia types: said in words, since the booking is not an answer here.
        item["prefix"] = "If " + " or ".join(question.anaesthesia_in) + " anaesthesia is booked"
    return item


def _enable_when(definition: Definition, parent: Question, value: str) -> Json:
    if parent.type == "yes_no":
        return {"question": parent.code, "operator": "=", "answerBoolean": value == "yes"}
    return {
        "question": parent.code,
        "operator": "=",
        "answerCoding": {"system": _option_system(definition, parent), "code": value},
    }


def questionnaire_build(row: QuestionnaireDefinition) -> Json:
    definition = qdef.parse(row.content)
    out: Json = {
        "resourceType": "Questionnaire",
        "id": str(row.uuid),
        "url": questionnaire_url(definition.code),
        "version": definition.version,
        "name": "".join(part.capitalize() for part in definition.code.split("-")),
        "title": definition.title_en,
        "status": "active",
        "subjectType": ["Patient"],
        "date": instant(row.loaded_at),
        "language": "en",
        "description": definition.intro_en,
        "purpose": definition.source,
        "item": [],
    }
    if translated := _translated(definition.title_en, definition.title_es):
        out["_title"] = translated
    for section in definition.sections:
        group = _text({"linkId": section.code, "type": "group"}, section.title_en, section.title_es)
        group["item"] = [_question_item(definition, q) for q in section.questions]
        out["item"].append(group)
    return out


def _answer(definition: Definition, question: Question, value: Any) -> list[Json]:
    if value in (None, "", []):
        return []
    if question.type == "yes_no":
        return [{"valueBoolean": value == "yes"}]
    if question.type == "choice":
        display = question.option_label(str(value), "en")
        return [{"valueCoding": {"system": _option_system(definition, question), "code": value, "display": display}}]
    if question.type in ("date", "month"):
        return [{"valueDate": str(value)}]
    return [{"valueString": str(value)}]


def _medicine_items(question: Question, rows: list[dict[str, Any]]) -> list[Json]:
    items = []
    for row in rows:
        parts = []
        for part, kind, text in MEDICINE_PARTS:
            value = row.get(part)
            if kind == "boolean":
                parts.append(
                    {"linkId": f"{question.code}.{part}", "text": text, "answer": [{"valueBoolean": bool(value)}]}
                )
            elif value:
                parts.append(
                    {"linkId": f"{question.code}.{part}", "text": text, "answer": [{"valueString": str(value)}]}
                )
        items.append({"linkId": question.code, "text": question.text_en, "item": parts})
    return items


def questionnaire_response_build(response: QuestionnaireResponse, patient: Json, questionnaire: Json) -> Json:
    definition = definition_of(response)
    out: Json = {
        "resourceType": "QuestionnaireResponse",
        "id": str(response.uuid),
        "identifier": {"system": system("questionnaire-response-number"), "value": str(response.number)},
        "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}",
        "status": RESPONSE_STATUS[response.status],
        "subject": ref(patient),
        "source": ref(patient),
        "author": ref(patient),
        "item": [],
    }
    if response.submitted_at:
        out["authored"] = instant(response.submitted_at)
    if response.language:
        out["language"] = response.language
    answers = response.answers
    for section in definition.sections:
        children: list[Json] = []
        for question in section.questions:
            value = answers.get(question.code)
            if question.type == "medicines":
                children += _medicine_items(question, list(value or []))
            elif answer := _answer(definition, question, value):
                children.append({"linkId": question.code, "text": question.text_en, "answer": answer})
        if children:
            out["item"].append({"linkId": section.code, "text": section.title_en, "item": children})
    if not out["item"]:
        del out["item"]
    return out


def questionnaire_resources(responses: Iterable[QuestionnaireResponse], patient: Json) -> list[Json]:
    """The Questionnaire versions the responses answered, then the responses (drafts are left out:
    what the patient has not sent is not a statement yet)."""
    resources: dict[str, Json] = {}
    for response in responses:
        if response.status == ResponseStatus.DRAFT:
            continue
        key = str(response.definition.uuid)
        if key not in resources:
            resources[key] = questionnaire_build(response.definition)
        out = questionnaire_response_build(response, patient, resources[key])
        resources[out["id"]] = out
    return list(resources.values())
