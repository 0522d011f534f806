"""The board's table rows written in Python, with exactly the markup the template wrote.

A board page is 25 rows of ten cells: through the template engine that was ~1,100 variable
lookups, ~80 date filters and an include per row, the largest single cost of the page after its
queries (issue 18, bench/results.md). Every value here goes through ``conditional_escape`` (via
``format_html`` or ``_e``), as ``{{ value }}`` does with autoescaping, and the dates through the
same filters (``date``, ``clock``) on the same local time. ``tests/workspace/test_board_rows.py``
renders the old template markup and this side by side, character for character.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, SafeString, mark_safe

from core.templatetags.clock import clock
from workspace.templatetags.questionnaire_tags import questionnaire_badge
from workspace.templatetags.workspace_tags import icon, readiness_badge

if TYPE_CHECKING:
    from patients.models import Surgery
    from workspace.selectors import BoardRow


def _e(value: object) -> str:
    """``{{ value }}``: escaped unless already safe; None as "None", as the template writes it."""
    return str(conditional_escape(value if isinstance(value, str | SafeData) else str(value)))


def _local(value: dt.datetime) -> dt.datetime:
    """What the engine does to a value before a filter marked ``expects_localtime`` (template_localtime)."""
    return timezone.localtime(value) if timezone.is_aware(value) else value


def _date(value: dt.datetime, fmt: str) -> str:
    return _e(date_filter(_local(value), fmt))


def _clock(value: dt.datetime, fmt: str) -> str:
    return _e(clock(_local(value), fmt))


def go_status_html(surgery: Surgery) -> str:
    """What ``workspace/_go_status.html`` renders (its trailing newline included)."""
    if surgery.go_decision == "go":
        html = f'<span class="badge badge-status st-done">{icon("check")} Go</span>'
        if surgery.go_override_reason:
            html += (
                f'<br><span class="go-override" data-testid="go-override">{icon("warning")} '
                f"Over the checklist: {_e(surgery.go_override_reason)}</span>"
            )
    elif surgery.go_decision == "no_go":
        html = f'<span class="badge badge-status st-na">{icon("cross")} No go</span>'
        if surgery.go_decision_note:
            note = truncatechars(surgery.go_decision_note, 80)
            html += f'<br><span class="text-body-secondary">{_e(note)}</span>'
    elif surgery.go_withdrawn_at:
        reason = truncatechars(surgery.go_withdrawn_reason, 80)
        html = (
            f'<span class="badge badge-status st-locked">{icon("warning")} Go withdrawn</span>'
            f'<br><span class="text-body-secondary">{_e(reason)}</span>'
        )
    else:
        html = '<span class="text-body-secondary">Not decided</span>'
    return html + "\n"


def _readiness_cell(row: BoardRow, questionnaires: Mapping[int, str]) -> str:
    checklist = getattr(row.surgery, "checklist", None)
    alerts: Any = checklist.alerts if checklist is not None else None
    html = ""
    if alerts:
        first = alerts[0].get("message", "") if isinstance(alerts[0], dict) else ""
        count = len(alerts)
        html += (
            f'<p class="small mb-0 text-danger-emphasis"><strong>{count} safety alert{"" if count == 1 else "s"}:'
            f"</strong> {_e(truncatechars(first, 90))}</p>"
        )
    reasons = row.report.reasons
    tail = ""
    if reasons:
        if len(reasons) > 1:
            tail = f' <span class="text-body-secondary">(+{len(reasons) - 1} more)</span>'
        reasons_html = f'<p class="reasons small mb-0">{_e(truncatechars(reasons[0], 110))}{tail}</p>'
    else:
        reasons_html = ""
    badge = questionnaire_badge(questionnaires, row.surgery)
    return f"        {readiness_badge(row.report.state)}\n        {html}\n        {badge}\n        {reasons_html}\n"


def _next_cell(row: BoardRow, now: dt.datetime) -> str:
    item = row.next_required
    if not item:
        return "—"
    late = item.due_at < now
    css = "overdue-text" if late else "text-body-secondary"
    was = f"{icon('warning')} was due " if late else ""
    return f'{_e(item.title)}<br><span class="{css}">{was}{_clock(item.due_at, "D j M H:i")}</span>'


def board_row_html(row: BoardRow, now: dt.datetime, questionnaires: Mapping[int, str]) -> str:
    """One ``<tr>`` of the board, as ``board.html`` wrote it inside its ``{% for %}``."""
    surgery, report = row.surgery, row.report
    patient = surgery.patient
    side = (
        f' <span class="text-body-secondary small">({_e(surgery.get_side_display().lower())})</span>'
        if surgery.side
        else ""
    )
    surgeon = surgery.surgeon
    surgeon_name = (surgeon.display_name if surgeon is not None else "") or "—"
    if report.overdue:
        overdue = f'<span class="overdue-count">{icon("warning")} {_e(report.overdue)}</span>'
    else:
        overdue = '<span class="text-body-secondary">0</span>'
    contact = row.last_contact
    if contact:
        last = (
            f"{_clock(contact.at, 'j M H:i')}<br>"
            f'<span class="text-body-secondary">{_e(contact.get_outcome_display())}</span>'
        )
    else:
        last = '<span class="text-body-secondary">No call yet</span>'
    url = reverse("workspace:surgery", args=[surgery.uuid])
    return (
        f'    <tr class="row-{_e(report.state)}">\n'
        f'      <td data-label="Time" class="text-nowrap">\n'
        f'        <span class="fw-semibold">{_date(surgery.start_at, "D j M")}</span><br>\n'
        f"        <span>{_clock(surgery.start_at, 'H:i')}</span>\n"
        f"      </td>\n"
        f'      <th scope="row" data-label="Patient" class="fw-normal">\n'
        f'        <a class="patient-link fw-semibold" href="{_e(url)}">{_e(patient.last_name)}, '
        f"{_e(patient.first_name)}</a><br>\n"
        f'        <span class="text-body-secondary small text-nowrap">MRN {_e(patient.mrn)}</span> '
        f'<span class="text-body-secondary small text-nowrap">· {_e(row.age_label or f"{row.age} y")}</span>\n'
        f"      </th>\n"
        f'      <td data-label="Procedure">{_e(surgery.procedure.name)}{side}</td>\n'
        f'      <td data-label="Surgeon">{_e(surgeon_name)}</td>\n'
        f'      <td data-label="Readiness" class="readiness-cell">\n'
        f"{_readiness_cell(row, questionnaires)}"
        f"      </td>\n"
        f'      <td data-label="Go / no go" class="small go-cell" data-testid="go-cell">'
        f"{go_status_html(surgery)}</td>\n"
        f'      <td data-label="Done" class="text-end text-nowrap">{_e(report.done)} / {_e(report.required)}</td>\n'
        f'      <td data-label="Overdue" class="text-end">{overdue}</td>\n'
        f'      <td data-label="Next due" class="small">\n'
        f"        {_next_cell(row, now)}\n"
        f"      </td>\n"
        f'      <td data-label="Last contact" class="small">\n'
        f"        {last}\n"
        f"      </td>\n"
        f"    </tr>\n"
    )


def board_rows_html(rows: Iterable[BoardRow], now: dt.datetime, questionnaires: Mapping[int, str]) -> SafeString:
    """Every row of the page, with the whitespace the template's ``{% for %}`` put around each.

    ``questionnaires``: surgery id -> health questionnaire state (``questionnaire_states``, one query).

    Each value above is escaped; the markup around them is constant.
    """
    return mark_safe("".join(f"\n{board_row_html(row, now, questionnaires)}  " for row in rows))  # noqa: S308  # nosec B308 B703
