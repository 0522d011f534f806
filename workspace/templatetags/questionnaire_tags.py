"""The health questionnaire's state on the board and the patient page (issue 20), as small hooks:
the pages' views are untouched; a page of the board reads every row's state in one query."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from patients.models import Surgery
from questionnaires.models import ResponseStatus
from questionnaires.selectors import STATE_LABELS, questionnaire_states

register = template.Library()

_CLASSES = {
    "none": "text-body-secondary",
    ResponseStatus.DRAFT: "text-body-secondary",
    ResponseStatus.SUBMITTED: "fw-semibold text-warning-emphasis",
    ResponseStatus.RECONCILED: "text-success-emphasis",
}


@register.simple_tag
def questionnaire_states_of(rows: Iterable[Any]) -> dict[int, str]:
    """Surgery id -> questionnaire state for the rows of a board page (one query)."""
    return questionnaire_states(surgery_ids=[row.surgery.pk for row in rows])


@register.simple_tag
def questionnaire_badge(states: Mapping[int, str], surgery: Surgery) -> SafeString:
    state = states.get(surgery.pk, "none")
    label = STATE_LABELS.get(state, state)
    if state == ResponseStatus.SUBMITTED:
        url = reverse("workspace:questionnaire", kwargs={"uuid": surgery.uuid})
        return format_html(
            '<p class="small mb-0 {}" data-testid="questionnaire-state">Health questions: <a href="{}">{}</a></p>',
            _CLASSES[state],
            url,
            label.lower(),
        )
    return format_html(
        '<p class="small mb-0 {}" data-testid="questionnaire-state">Health questions: {}</p>',
        _CLASSES.get(state, ""),
        label.lower(),
    )


@register.inclusion_tag("workspace/_questionnaire_link.html")
def questionnaire_link(surgery: Surgery) -> dict[str, Any]:
    state = questionnaire_states(surgery_ids=[surgery.pk])[surgery.pk]
    return {"surgery": surgery, "state": state, "label": STATE_LABELS.get(state, state)}
