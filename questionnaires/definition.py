"""The questionnaire as data: read and validated from ``definitions/*.yaml``, like the catalogue.

Pure (no database): the loader turns the file into frozen dataclasses and refuses anything it does
not know, naming where (``sections[2].questions[4] (stent_month).show_if: ...``), so a typo fails
loudly instead of silently hiding a question. ``services.questionnaire_current`` stores each
version once, so that every response keeps the exact questions it answered.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent / "definitions" / "preop.yaml"

QUESTION_TYPES = ("yes_no", "choice", "text", "date", "month", "medicines")
# What a reconciled answer may change in the record (see ``questionnaires.selectors``); ``info`` is
# shown to the nurse and acknowledged, and changes nothing in the record.
RECORD_TARGETS = (
    "medications",
    "allergies",
    "latex_allergy",
    "contrast_allergy",
    "stent",
    "mechanical_heart_valve",
    "atrial_fibrillation",
    "vte_date",
    "stroke_date",
    "diabetes",
    "impaired_renal_function",
    "info",
)
ANAESTHESIA = ("general", "sedation", "local")
TEXT_MAX = 500
MEDICINE_ROWS_MAX = 30
YES_NO = ("yes", "no")


class DefinitionError(ValueError):
    """The questionnaire file is wrong; the message names the place."""


@dataclass(frozen=True)
class Option:
    value: str
    label_en: str
    label_es: str

    def label(self, language: str) -> str:
        return self.label_es if language == "es" else self.label_en


@dataclass(frozen=True)
class Question:
    code: str
    type: str
    record: str
    text_en: str
    text_es: str
    required: bool = True
    options: tuple[Option, ...] = ()
    show_if: tuple[str, tuple[str, ...]] | None = None  # (question code, values that show it)
    anaesthesia_in: tuple[str, ...] = ()  # empty: whatever the booked anaesthesia

    def text(self, language: str) -> str:
        return self.text_es if language == "es" else self.text_en

    def option_label(self, value: str, language: str) -> str:
        for option in self.options:
            if option.value == value:
                return option.label(language)
        return value


@dataclass(frozen=True)
class Section:
    code: str
    title_en: str
    title_es: str
    questions: tuple[Question, ...]
    intro_en: str = ""
    intro_es: str = ""

    def title(self, language: str) -> str:
        return self.title_es if language == "es" else self.title_en

    def intro(self, language: str) -> str:
        return self.intro_es if language == "es" else self.intro_en


@dataclass(frozen=True)
class Definition:
    code: str
    version: str
    title_en: str
    title_es: str
    intro_en: str
    intro_es: str
    source: str
    sections: tuple[Section, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def title(self, language: str) -> str:
        return self.title_es if language == "es" else self.title_en

    def intro(self, language: str) -> str:
        return self.intro_es if language == "es" else self.intro_en

    def section(self, code: str) -> Section | None:
        return next((s for s in self.sections if s.code == code), None)

    @property
    def questions(self) -> dict[str, Question]:
        return {q.code: q for s in self.sections for q in s.questions}


def _need(raw: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in raw or raw[key] in (None, ""):
        raise DefinitionError(f"{where}: missing {key!r}")
    return raw[key]


def _known_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise DefinitionError(f"{where}: unknown keys {unknown}")


_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def _question(raw: Any, where: str) -> Question:
    if not isinstance(raw, Mapping):
        raise DefinitionError(f"{where}: a question is a mapping")
    _known_keys(
        raw,
        {"code", "type", "record", "text_en", "text_es", "required", "options", "show_if", "anaesthesia_in"},
        where,
    )
    code = str(_need(raw, "code", where))
    where = f"{where} ({code})"
    if not _CODE.match(code):
        raise DefinitionError(f"{where}: a code is lower case letters, digits and _")
    kind = _need(raw, "type", where)
    if kind not in QUESTION_TYPES:
        raise DefinitionError(f"{where}.type: {kind!r} is not one of {list(QUESTION_TYPES)}")
    record = _need(raw, "record", where)
    if record not in RECORD_TARGETS:
        raise DefinitionError(f"{where}.record: {record!r} is not one of {list(RECORD_TARGETS)}")
    options: list[Option] = []
    if kind == "choice":
        raw_options = _need(raw, "options", where)
        for i, opt in enumerate(raw_options):
            ow = f"{where}.options[{i}]"
            if not isinstance(opt, Mapping):
                raise DefinitionError(f"{ow}: an option is a mapping")
            _known_keys(opt, {"value", "label_en", "label_es"}, ow)
            options.append(
                Option(str(_need(opt, "value", ow)), str(_need(opt, "label_en", ow)), str(_need(opt, "label_es", ow)))
            )
        if len({o.value for o in options}) != len(options):
            raise DefinitionError(f"{where}.options: two options have the same value")
    elif "options" in raw:
        raise DefinitionError(f"{where}.options: only a choice has options")
    anaesthesia = tuple(raw.get("anaesthesia_in") or ())
    bad = [a for a in anaesthesia if a not in ANAESTHESIA]
    if bad:
        raise DefinitionError(f"{where}.anaesthesia_in: unknown values {bad}")
    show_if = None
    if raw.get("show_if") is not None:
        cond = raw["show_if"]
        if not isinstance(cond, Mapping) or set(cond) != {"question", "in"} or not isinstance(cond["in"], list):
            raise DefinitionError(f"{where}.show_if: write {{question: <code>, in: [values]}}")
        show_if = (str(cond["question"]), tuple(str(v) for v in cond["in"]))
    return Question(
        code=code,
        type=kind,
        record=record,
        text_en=str(_need(raw, "text_en", where)),
        text_es=str(_need(raw, "text_es", where)),
        required=bool(raw.get("required", True)),
        options=tuple(options),
        show_if=show_if,
        anaesthesia_in=anaesthesia,
    )


def parse(raw: Any) -> Definition:
    """The questionnaire from the YAML's mapping, validated."""
    if not isinstance(raw, Mapping):
        raise DefinitionError("the questionnaire is a mapping")
    _known_keys(raw, {"code", "version", "title_en", "title_es", "intro_en", "intro_es", "source", "sections"}, "top")
    sections: list[Section] = []
    seen: dict[str, Question] = {}
    for i, raw_section in enumerate(_need(raw, "sections", "top")):
        where = f"sections[{i}]"
        if not isinstance(raw_section, Mapping):
            raise DefinitionError(f"{where}: a section is a mapping")
        _known_keys(raw_section, {"code", "title_en", "title_es", "intro_en", "intro_es", "questions"}, where)
        questions = []
        for j, raw_question in enumerate(_need(raw_section, "questions", where)):
            question = _question(raw_question, f"{where}.questions[{j}]")
            if question.code in seen:
                raise DefinitionError(f"{where}.questions[{j}] ({question.code}): the code is used twice")
            if question.show_if and question.show_if[0] not in seen:
                raise DefinitionError(
                    f"{where}.questions[{j}] ({question.code}).show_if: {question.show_if[0]!r} is not a question "
                    "asked before it"
                )
            seen[question.code] = question
            questions.append(question)
        section_code = str(_need(raw_section, "code", where))
        if any(s.code == section_code for s in sections):
            raise DefinitionError(f"{where}: the section code {section_code!r} is used twice")
        sections.append(
            Section(
                code=section_code,
                title_en=str(_need(raw_section, "title_en", where)),
                title_es=str(_need(raw_section, "title_es", where)),
                intro_en=str(raw_section.get("intro_en", "")),
                intro_es=str(raw_section.get("intro_es", "")),
                questions=tuple(questions),
            )
        )
    if sum(1 for q in seen.values() if q.type == "medicines") > 1:
        raise DefinitionError("top: only one medicines question")
    return Definition(
        code=str(_need(raw, "code", "top")),
        version=str(_need(raw, "version", "top")),
        title_en=str(_need(raw, "title_en", "top")),
        title_es=str(_need(raw, "title_es", "top")),
        intro_en=str(raw.get("intro_en", "")),
        intro_es=str(raw.get("intro_es", "")),
        source=str(_need(raw, "source", "top")),
        sections=tuple(sections),
        raw=dict(raw),
    )


@lru_cache(maxsize=8)
def _read(path: str, mtime: float) -> Definition:
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise DefinitionError(f"{path}: cannot be read as YAML ({exc})") from None
    return parse(raw)


def read_definition(path: Path = DEFAULT_PATH) -> Definition:
    """The questionnaire file, parsed once per version of the file on disk."""
    return _read(str(path), path.stat().st_mtime)


# --- Answers: what a section's form gives, checked against its questions -------------------------


def visible(question: Question, answers: Mapping[str, Any], anaesthesia: str) -> bool:
    """Is the question asked, given the answers so far and the booked anaesthesia?"""
    if question.anaesthesia_in and anaesthesia not in question.anaesthesia_in:
        return False
    if question.show_if is not None:
        code, values = question.show_if
        return str(answers.get(code, "")) in values
    return True


def parse_month(value: str) -> dt.date | None:
    """'2026-09' -> 1 September 2026; None when it is not a month."""
    match = re.fullmatch(r"(\d{4})-(\d{1,2})", value.strip())
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or year < 1900:
        return None
    return dt.date(year, month, 1)


def parse_date(value: str) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        return None
    return day if day.year >= 1900 else None


def section_visible_questions(section: Section, answers: Mapping[str, Any], anaesthesia: str) -> list[Question]:
    return [q for q in section.questions if visible(q, answers, anaesthesia)]


def questions_in_order(definition: Definition) -> Sequence[Question]:
    return [q for s in definition.sections for q in s.questions]
