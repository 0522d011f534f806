"""The health questionnaire in the portal (issue 20): section by section, saved as the patient goes.

Phone first and without JavaScript: every question of a section is on one page, a question that
depends on another says so ("If yes: ..."), and a section with a mistake comes back with what the
patient typed and, at the top, a list of what to fix linking to each field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from actions.questionnaires import questionnaire_section_save, questionnaire_submit
from patients.models import Surgery
from portal.formatting import local_when
from portal.selectors import portal_surgery_current
from portal.views import PatientRequest, _ctx, patient_required
from prep import medicines
from prep.models import Drug, KnownMedicine
from questionnaires import services as qservices
from questionnaires.definition import Definition, Question, Section
from questionnaires.models import QuestionnaireResponse, ResponseStatus
from questionnaires.selectors import response_latest, responses_of

BLANK_MEDICINE_ROWS = 3


@dataclass
class FieldView:
    question: Question
    name: str
    text: str
    type: str
    value: Any = ""
    error: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)
    depends_on: str = ""  # "If you answered yes above", for a question shown by another's answer
    rows: list[dict[str, Any]] = field(default_factory=list)  # medicines


def _surgery(request: PatientRequest) -> Surgery:
    surgery = portal_surgery_current(patient=request.portal_patient)
    if surgery is None:
        raise Http404("No booking.")
    return surgery


def _depends_text(question: Question, definition: Definition, language: str) -> str:
    if question.show_if is None:
        return ""
    parent = definition.questions[question.show_if[0]]
    answers = ", ".join(
        parent.option_label(v, language) if parent.options else _yes_no_word(v) for v in question.show_if[1]
    )
    return _("Only if you answered “%(answer)s” above.") % {"answer": answers}


def _yes_no_word(value: str) -> str:
    return _("Yes") if value == "yes" else _("No") if value == "no" else value


def _medicine_rows(values: list[dict[str, Any]], errors: dict[str, str], code: str, language: str) -> list[dict]:
    dictionary = medicines.build(Drug.objects.all(), KnownMedicine.objects.all())
    rows = []
    for i, row in enumerate([*values, *[{} for _row in range(BLANK_MEDICINE_ROWS)]]):
        read_as = ""
        name = str(row.get("name", ""))
        if name and not row.get("unknown"):
            read = dictionary.resolve(name)
            if read.drugs:
                names = sorted({(d.name_es if language == "es" and d.name_es else d.name) for d in read.drugs})
                read_as = " / ".join(names)
            elif read.known is not None:
                read_as = read.known.name
        prefix = f"{code}-{i}"
        rows.append(
            {
                "index": i,
                "prefix": prefix,
                "name": name,
                "dose": row.get("dose", ""),
                "supplement": bool(row.get("supplement")),
                "unknown": bool(row.get("unknown")),
                "description": row.get("description", ""),
                "read_as": read_as,
                "unread": bool(name and not row.get("unknown") and not read_as),
                "saved": bool(row),
                "errors": {k.rsplit("-", 1)[1]: v for k, v in errors.items() if k.startswith(prefix + "-")},
            }
        )
    return rows


def _posted_medicines(data: dict[str, str], code: str) -> list[dict[str, Any]]:
    """The rows as typed (kept when the section has a mistake)."""
    rows = []
    count = min(int(data.get(f"{code}-count", "0") or 0) if data.get(f"{code}-count", "").isdigit() else 0, 40)
    for i in range(count):
        p = f"{code}-{i}"
        row = {
            "name": data.get(f"{p}-name", ""),
            "dose": data.get(f"{p}-dose", ""),
            "supplement": data.get(f"{p}-supplement") == "on",
            "unknown": data.get(f"{p}-unknown") == "on",
            "description": data.get(f"{p}-description", ""),
        }
        if any(row.values()) and data.get(f"{p}-remove") != "on":
            rows.append(row)
    return rows


def _fields(
    section: Section,
    definition: Definition,
    *,
    answers: dict[str, Any],
    anaesthesia: str,
    language: str,
    posted: dict[str, str] | None,
    errors: dict[str, str],
) -> list[FieldView]:
    views = []
    for question in section.questions:
        if question.anaesthesia_in and anaesthesia not in question.anaesthesia_in:
            continue
        view = FieldView(
            question=question,
            name=question.code,
            text=question.text(language),
            type=question.type,
            error=errors.get(question.code, ""),
            depends_on=_depends_text(question, definition, language),
        )
        if question.type == "yes_no":
            view.options = [("yes", _("Yes")), ("no", _("No"))]
        elif question.type == "choice":
            view.options = [(o.value, o.label(language)) for o in question.options]
        if question.type == "medicines":
            values = _posted_medicines(posted, question.code) if posted is not None else answers.get(question.code, [])
            view.rows = _medicine_rows(list(values), errors, question.code, language)
        else:
            view.value = posted.get(question.code, "") if posted is not None else answers.get(question.code, "")
        views.append(view)
    return views


def _error_links(fields: list[FieldView], errors: dict[str, str]) -> list[tuple[str, str]]:
    """(anchor, message) for the summary at the top, in the order of the page."""
    links = []
    for view in fields:
        if view.type == "medicines":
            for row in view.rows:
                for part, message in row["errors"].items():
                    links.append((f"id_{row['prefix']}-{part}", message))
            if view.error:
                links.append((f"id_{view.name}-0-name", view.error))
        elif view.error:
            links.append((f"id_{view.name}", f"{view.text} {view.error}"))
    return links


def _section_states(definition: Definition, response: QuestionnaireResponse | None, anaesthesia: str) -> list[dict]:
    answers = response.answers if response else {}
    saved = set(response.sections_saved) if response else set()
    incomplete = {
        s.code for s in qservices.missing_answers(definition=definition, answers=answers, anaesthesia=anaesthesia)
    }
    return [
        {"section": s, "saved": s.code in saved, "complete": s.code in saved and s.code not in incomplete}
        for s in definition.sections
    ]


@require_http_methods(["GET"])
@patient_required
def questionnaire(request: PatientRequest) -> HttpResponse:
    """The questionnaire's first page: its parts with what is saved, and the button to send it."""
    surgery = _surgery(request)
    lang = request.portal_language
    latest = response_latest(surgery=surgery)
    definition = qservices.definition_of(latest) if latest else qservices.questionnaire_current()[0]
    states = _section_states(definition, latest, surgery.anaesthesia)
    draft = latest if latest is not None and latest.status == ResponseStatus.DRAFT else None
    sent = [r for r in responses_of(surgery=surgery) if r.status != ResponseStatus.DRAFT]
    tz = request.portal_patient.tz
    context = _ctx(
        request,
        definition=definition,
        title=definition.title(lang),
        intro=definition.intro(lang),
        states=[{**s, "title": s["section"].title(lang)} for s in states],
        draft=draft,
        can_send=draft is not None and all(s["complete"] for s in states),
        sent=[
            {"number": r.number, "when": local_when(r.submitted_at, tz=tz, language=lang) if r.submitted_at else ""}
            for r in sent
        ],
        first_section=definition.sections[0].code,
    )
    return render(request, "portal/questionnaire.html", context)


@require_http_methods(["GET", "POST"])
@patient_required
def questionnaire_section(request: PatientRequest, section: str) -> HttpResponse:
    surgery = _surgery(request)
    patient = request.portal_patient
    lang = request.portal_language
    latest = response_latest(surgery=surgery)
    definition = (
        qservices.definition_of(latest)
        if latest is not None and latest.status == ResponseStatus.DRAFT
        else qservices.questionnaire_current()[0]
    )
    current = definition.section(section)
    if current is None:
        raise Http404("No such part.")
    errors: dict[str, str] = {}
    posted: dict[str, str] | None = None
    if request.method == "POST":
        posted = {key: request.POST.get(key, "") for key in request.POST}
        try:
            _response, errors = questionnaire_section_save(
                patient=patient, surgery=surgery, section_code=section, data=posted, language=lang
            )
        except ValidationError as exc:
            messages.warning(request, " ".join(exc.messages))
            return redirect("portal:questionnaire")
        if not errors:
            codes = [s.code for s in definition.sections]
            nxt = codes.index(section) + 1
            if request.POST.get("then") == "stop":
                messages.success(
                    request, _("Your answers are saved. You can come back any time before your procedure.")
                )
                return redirect("portal:me")
            messages.success(request, _("Saved."))
            if nxt < len(codes):
                return redirect("portal:questionnaire_section", section=codes[nxt])
            return redirect("portal:questionnaire")
    answers = latest.answers if latest is not None else {}
    fields = _fields(
        current,
        definition,
        answers=answers,
        anaesthesia=surgery.anaesthesia,
        language=lang,
        posted=posted,
        errors=errors,
    )
    codes = [s.code for s in definition.sections]
    context = _ctx(
        request,
        section=current,
        section_title=current.title(lang),
        section_intro=current.intro(lang),
        step=codes.index(section) + 1,
        steps=len(codes),
        fields=fields,
        error_links=_error_links(fields, errors),
        medicine_names=_medicine_names(lang) if any(f.type == "medicines" for f in fields) else [],
    )
    return render(request, "portal/questionnaire_section.html", context, status=400 if errors else 200)


def _medicine_names(language: str) -> list[str]:
    """Suggestions for the medicine fields (the browser's own list, no script): the dictionary's names."""
    names: set[str] = set()
    for name, name_es, aliases in Drug.objects.values_list("name", "name_es", "aliases"):
        names.add((name_es if language == "es" and name_es else name).split(" (")[0])
        names.update(a.capitalize() for a in aliases or [])
    for name, aliases in KnownMedicine.objects.values_list("name", "aliases"):
        names.add(name)
        names.update(a.capitalize() for a in aliases or [])
    return sorted(names)


@require_POST
@patient_required
def questionnaire_send(request: PatientRequest) -> HttpResponse:
    surgery = _surgery(request)
    latest = response_latest(surgery=surgery)
    if latest is None or latest.status != ResponseStatus.DRAFT:
        messages.info(request, _("There is nothing new to send."))
        return redirect("portal:questionnaire")
    try:
        questionnaire_submit(response=latest)
    except ValidationError as exc:
        messages.warning(request, " ".join(exc.messages))
        return redirect("portal:questionnaire")
    messages.success(request, _("Thank you. Your answers were sent. A nurse will check them with you."))
    return redirect("portal:me")
