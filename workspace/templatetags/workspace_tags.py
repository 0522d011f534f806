"""Badges that say their state in words and an icon, never by colour alone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django import template
from django.utils import timezone
from django.utils.html import format_html, strip_tags
from django.utils.safestring import SafeString, mark_safe

from core.clock import when_text
from patients.models import Relationship
from prep import planning
from prep.selectors import Readiness

register = template.Library()

# Small inline SVGs (no icon font or CDN); aria-hidden because the text says the same.
_ICONS = {
    "check": '<path d="M6.2 11.6 2.6 8l-1.1 1.1 4.7 4.7L14.6 5.4l-1.1-1.1z"/>',
    "clock": '<path d="M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1zm0 1.5a5.5 5.5 0 1 1 0 11 5.5 5.5 0 0 1 0-11zM7.3 4v4.4l3.3 2'
    ' .7-1.2-2.5-1.5V4z"/>',
    "warning": '<path d="M8 1 0.5 14.5h15zm0 3.2 4.9 8.8H3.1zM7.3 7v3.2h1.4V7zm0 4v1.4h1.4V11z"/>',
    "cross": '<path d="M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1zM5.2 4.2 8 7l2.8-2.8 1 1L9 8l2.8 2.8-1 1L8 9l-2.8 2.8-1-1'
    'L7 8 4.2 5.2z"/>',
    "dash": '<path d="M3 7.3h10v1.4H3z"/>',
    "person": '<path d="M8 2a3 3 0 1 1 0 6 3 3 0 0 1 0-6zm0 7c3 0 5.5 1.5 5.5 3.5V14h-11v-1.5C2.5 10.5 5 9 8 9z"/>',
}
READINESS_ICONS = {
    Readiness.READY: "check",
    Readiness.ON_TRACK: "clock",
    Readiness.AT_RISK: "warning",
    Readiness.NOT_READY: "cross",
}
STATUS = {
    "open": ("Open", "clock", "st-open"),
    "done": ("Done", "check", "st-done"),
    "accepted": ("Accepted", "check", "st-done"),
    "not_applicable": ("Not applicable", "dash", "st-na"),
    "patient_confirmed": ("Patient confirmed", "person", "st-confirmed"),
}


@register.simple_tag
def icon(name: str) -> SafeString:
    # Constant markup from _ICONS, no user input.
    return mark_safe(  # noqa: S308  # nosec B308 B703
        f'<svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false"'
        f' fill="currentColor">{_ICONS[name]}</svg>'
    )


@register.simple_tag
def readiness_badge(state: str) -> SafeString:
    label = Readiness.LABELS.get(state, state)
    return format_html(
        '<span class="badge badge-readiness {}">{} {}</span>', state, icon(READINESS_ICONS.get(state, "dash")), label
    )


@register.simple_tag
def status_badge(item: object, *, locked: bool = False) -> SafeString:
    status = getattr(item, "status", "open")
    label, glyph, css = STATUS.get(status, (status, "dash", "st-open"))
    if status == "open" and getattr(item, "locked", False):
        label, glyph, css = "Waiting for approval", "warning", "st-locked"
    return format_html('<span class="badge badge-status {}">{} {}</span>', css, icon(glyph), label)


@register.filter
def readiness_label(state: str) -> str:
    return Readiness.LABELS.get(state, state)


# --- people's words for stored values ---------------------------------------------------------

FLAG_LABELS = {
    "claustrophobic": "Claustrophobic",
    "cardiac_history": "Cardiac history",
    "impaired_renal_function": "Impaired renal function",
    "latex_allergy": "Latex allergy",
}


@register.filter
def flag_labels(flags: Iterable[str]) -> str:
    """A patient's flags as words ("Cardiac history, Latex allergy"), in a stable order."""
    return ", ".join(FLAG_LABELS.get(f, f.replace("_", " ").capitalize()) for f in sorted(flags))


@register.simple_tag
def item_result(item: Any) -> str:
    """What an item's result means: a hold decision in words with the prescriber's reason, else value and unit."""
    value = getattr(item, "result_value", "") or ""
    if str(getattr(item, "code", "")).startswith(planning.APPROVAL_PREFIX):
        by = f" by {item.completed_by.display_name}" if getattr(item, "completed_by", None) else ""
        if value == "approve":
            text = f"Hold approved{by}"
        elif value == "decline":
            text = f"Hold declined{by}: the patient keeps taking {item.drug_name or 'the medicine'}"
        else:
            return ""
        reason = (getattr(item, "na_reason", "") or "").strip()
        return f"{text}. Reason: {reason}" if reason else f"{text}."
    if not value:
        return ""
    unit = item.template_item.result_unit if getattr(item, "template_item", None) else ""
    return f"{value} {unit}".strip()


KNOWN_EVIDENCE = frozenset(
    {
        "kind",
        "done",
        "ride_arranged",
        "last_dose_date",
        "later_than_planned",
        "earlier_than_planned",
        "days_from_plan",
        "last_meal_at",
        "last_drink_at",
        "local",
        "via",
    }
)


def _day(value: dt.date) -> str:
    return f"{value:%a} {value.day} {value:%b %Y}"


@register.filter
def guardian_relationship(value: str) -> str:
    """A guardian's relationship as a confirmation records it ("legal_guardian"), in words."""
    return dict(Relationship.choices).get(value, value).lower()


@register.simple_tag
def evidence_lines(item: Any) -> list[str]:
    """The patient's confirmation as a nurse reads it, with a departure from the plan flagged.

    A last dose earlier than planned matters as much as a later one: the patient is off the drug
    longer than the prescriber decided (thrombotic risk), so both are flagged.
    """
    evidence = getattr(item, "evidence", None) or {}
    lines: list[str] = []
    kind = evidence.get("kind")
    tz = timezone.get_current_timezone()
    if kind == "last_dose" and evidence.get("last_dose_date"):
        try:
            taken = dt.date.fromisoformat(evidence["last_dose_date"])
        except ValueError:
            taken = None
        if taken is not None:
            line = f"Last dose taken on {_day(taken)}"
            planned = item.last_dose_at.astimezone(tz).date() if getattr(item, "last_dose_at", None) else None
            if planned is not None:
                days = (taken - planned).days
                if days < 0:
                    line += f" — {-days} day{'s' if days != -1 else ''} earlier than planned ({_day(planned)}): "
                    line += "check with the prescriber"
                elif days > 0:
                    line += f" — {days} day{'s' if days != 1 else ''} later than planned ({_day(planned)}): "
                    line += "the hold may be too short"
                else:
                    line += ", as planned"
            lines.append(line)
    elif kind in ("last_meal", "last_drink"):
        what = "Last ate" if kind == "last_meal" else "Last drank"
        at = evidence.get(f"{kind}_at")
        try:
            when = dt.datetime.fromisoformat(at).astimezone(tz) if at else None
        except ValueError:
            when = None
        text = f"{what} at {when_text(when)}" if when else f"{what} at {evidence.get('local', 'an unknown time')}"
        if evidence.get("later_than_planned"):
            text += " — later than the planned fasting start: check before the procedure"
        lines.append(text)
    elif kind == "ride":
        lines.append("An adult will take the patient home")
    elif kind == "done":
        lines.append("The patient says this is done")
    # Anything else a client sent (the API takes free-form evidence): shown as written, keys as words.
    for key, value in evidence.items():
        if key not in KNOWN_EVIDENCE and value not in (None, "", False):
            lines.append(f"{str(key).replace('_', ' ').capitalize()}: {value}")
    via = evidence.get("via")
    if via:
        lines.append({"portal": "Confirmed in the patient portal", "sms": "Confirmed by text message"}.get(via, ""))
    return [line for line in lines if line]


@register.filter
def evidence_flagged(item: Any) -> bool:
    return any("than planned" in line and "as planned" not in line for line in evidence_lines(item))


@register.inclusion_tag("workspace/_error_summary.html")
def error_summary(*forms: Any) -> dict[str, Any]:
    """One box at the top listing every error with a link to its field (GOV.UK's error summary).

    Takes forms and formsets; ``workspace.js`` moves the focus to the box when the page loads,
    so a rejected form never leaves the error 1,500 px down the page unannounced.
    """
    rows: list[dict[str, str]] = []
    for form in forms:
        if not form:
            continue
        if hasattr(form, "forms"):  # a formset
            rows += [{"text": str(e), "href": ""} for e in form.non_form_errors()]
            for sub in form.forms:
                rows += error_summary(sub)["rows"]
            continue
        if not form.is_bound or not form.errors:
            continue
        for name, errors in form.errors.items():
            if name == "__all__" or name not in form.fields:
                first = next((bf for bf in form if not bf.is_hidden), None)
                href = f"#{first.id_for_label}" if first is not None and first.id_for_label else ""
                rows += [{"text": str(e), "href": href} for e in errors]
                continue
            bound = form[name]
            label = strip_tags(str(bound.label or name)).rstrip("*: ")
            # Radio buttons have no one id for the label: link the first of them.
            target = bound.id_for_label or (f"{bound.auto_id}_0" if bound.auto_id else "")
            href = f"#{target}" if target else ""
            rows += [{"text": f"{label}: {e}", "href": href} for e in errors]
    return {"rows": rows}


@register.filter
def status_label(status: str) -> str:
    """An item status in words ("Not applicable", never "not_applicable")."""
    return STATUS.get(status, (str(status).replace("_", " ").capitalize(),))[0]


@register.simple_tag
def board_rows(rows: Iterable[Any], now: dt.datetime, questionnaires: Mapping[int, str]) -> SafeString:
    """The board's rows, written in Python (``workspace.rows``: the template engine cost more than the data)."""
    from workspace.rows import board_rows_html

    return board_rows_html(rows, now, questionnaires)
