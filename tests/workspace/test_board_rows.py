"""The board's rows written in Python (workspace.rows) are the markup the template wrote, character for character."""

from __future__ import annotations

import datetime as dt
import itertools
import zoneinfo

import pytest
from django.template import Context, Template
from django.utils import timezone

from accounts.models import User
from core import clock
from patients.models import Patient, Surgery
from prep.models import Checklist, ChecklistItem, ProcedureVariant
from prep.selectors import ReadinessReport
from workspace.models import PatientNote
from workspace.rows import board_rows_html, go_status_html
from workspace.selectors import BoardRow

# The row loop of templates/workspace/board.html before it became a tag (main at a55a7a5), unchanged.
REFERENCE = (
    "{% load clock workspace_tags questionnaire_tags %}  <tbody>\n"
    + """  {% for row in board.rows %}
    <tr class="row-{{ row.report.state }}">
      <td data-label="Time" class="text-nowrap">
        <span class="fw-semibold">{{ row.surgery.start_at|date:"D j M" }}</span><br>
        <span>{{ row.surgery.start_at|clock:"H:i" }}</span>
      </td>
      <th scope="row" data-label="Patient" class="fw-normal">
        <a class="patient-link fw-semibold" href="{% url 'workspace:surgery' row.surgery.uuid %}">{{ row.surgery.patient.last_name }}, {{ row.surgery.patient.first_name }}</a><br>
        <span class="text-body-secondary small text-nowrap">MRN {{ row.surgery.patient.mrn }}</span> <span class="text-body-secondary small text-nowrap">· {{ row.age }} y</span>
      </th>
      <td data-label="Procedure">{{ row.surgery.procedure.name }}{% if row.surgery.side %} <span class="text-body-secondary small">({{ row.surgery.get_side_display|lower }})</span>{% endif %}</td>
      <td data-label="Surgeon">{{ row.surgery.surgeon.display_name|default:"—" }}</td>
      <td data-label="Readiness" class="readiness-cell">
        {% readiness_badge row.report.state %}
        {% with alerts=row.surgery.checklist.alerts %}{% if alerts %}<p class="small mb-0 text-danger-emphasis"><strong>{{ alerts|length }} safety alert{{ alerts|length|pluralize }}:</strong> {{ alerts.0.message|truncatechars:90 }}</p>{% endif %}{% endwith %}
        {% questionnaire_badge questionnaires row.surgery %}
        {% if row.report.reasons %}<p class="reasons small mb-0">{{ row.report.reasons.0|truncatechars:110 }}{% if row.report.reasons|length > 1 %} <span class="text-body-secondary">(+{{ row.report.reasons|length|add:"-1" }} more)</span>{% endif %}</p>{% endif %}
      </td>
      <td data-label="Go / no go" class="small go-cell" data-testid="go-cell">{% include "workspace/_go_status.html" with surgery=row.surgery %}</td>
      <td data-label="Done" class="text-end text-nowrap">{{ row.report.done }} / {{ row.report.required }}</td>
      <td data-label="Overdue" class="text-end">{% if row.report.overdue %}<span class="overdue-count">{% icon "warning" %} {{ row.report.overdue }}</span>{% else %}<span class="text-body-secondary">0</span>{% endif %}</td>
      <td data-label="Next due" class="small">
        {% with next=row.next_required %}{% if next %}{{ next.title }}<br><span class="{% if next.due_at < now %}overdue-text{% else %}text-body-secondary{% endif %}">{% if next.due_at < now %}{% icon "warning" %} was due {% endif %}{{ next.due_at|clock:"D j M H:i" }}</span>{% else %}—{% endif %}{% endwith %}
      </td>
      <td data-label="Last contact" class="small">
        {% if row.last_contact %}{{ row.last_contact.at|clock:"j M H:i" }}<br><span class="text-body-secondary">{{ row.last_contact.get_outcome_display }}</span>{% else %}<span class="text-body-secondary">No call yet</span>{% endif %}
      </td>
    </tr>
  {% endfor %}
"""
    + "  </tbody>"
)
GO_REFERENCE = '{% include "workspace/_go_status.html" with surgery=surgery %}'

NOW = dt.datetime(2026, 3, 3, 22, 30, tzinfo=dt.UTC)
NASTY = 'O\'Brien & <Sons> "quoted"'


def _surgery(n: int, *, go: str, side: str, surgeon: bool, alerts: list | None, note: str) -> Surgery:
    patient = Patient(first_name=f"Ann{n}" if n % 3 else NASTY, last_name="Lee" if n % 2 else NASTY, mrn=f"M{n}<")
    surgery = Surgery(
        patient=patient,
        procedure=ProcedureVariant(name="Lumbar <fusion> & more" if n % 2 else "Epidural"),
        start_at=NOW + dt.timedelta(days=n % 5, hours=n * 7),
        side=side,
        surgeon=User(first_name="Sam", last_name=NASTY, email="s@x.test") if surgeon else None,
        go_decision=go,
        go_override_reason=note if go == "go" else "",
        go_decision_note=note if go == "no_go" else "",
        go_withdrawn_at=NOW - dt.timedelta(hours=3) if go == "" and note else None,
        go_withdrawn_reason=note,
    )
    if alerts is not None:
        surgery.checklist = Checklist(alerts=alerts)
    return surgery


def _rows() -> list[BoardRow]:
    rows = []
    long_reason = "Overdue: " + ", ".join(["Blood <group> & screen"] * 12)
    alerts_cases = [None, [], [{"message": "Warfarin & <aspirin> " * 8}], [{"message": "a"}, {"message": "b"}]]
    combos = itertools.product(("go", "no_go", ""), ("", "left", "bilateral"), (True, False), alerts_cases)
    for n, (go, side, surgeon, alerts) in enumerate(combos):
        note = ["", "short", NASTY * 6][n % 3]
        surgery = _surgery(n, go=go, side=side, surgeon=surgeon, alerts=alerts, note=note)
        reasons = [[], ["All required items are done."], [long_reason, "Due within 24 h: ECG", "x"]][n % 3]
        report = ReadinessReport(
            state=["ready", "on_track", "at_risk", "not_ready"][n % 4],
            reasons=reasons,
            done=n % 7,
            required=7,
            overdue=n % 2 * (n % 4),
        )
        item = ChecklistItem(title=f"ECG <{n}> & co", due_at=NOW + dt.timedelta(hours=(n % 5) - 2)) if n % 4 else None
        contact = (
            PatientNote(at=NOW - dt.timedelta(hours=n), outcome=["", "reached", "no_answer"][n % 3]) if n % 5 else None
        )
        rows.append(BoardRow(surgery=surgery, report=report, age=n + 20, last_contact=contact, next_required=item))
    return rows


def _questionnaire_states(rows: list[BoardRow]) -> dict[int, str]:
    """Every state of the health questionnaire (issue 20), and rows with none."""
    states = ["none", "draft", "submitted", "reconciled"]
    return {row.surgery.pk: states[n % 4] for n, row in enumerate(rows) if n % 5}


@pytest.mark.parametrize("twelve_hour", [False, True])
@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/Los_Angeles"])
def test_board_rows_are_the_template_markup(twelve_hour, zone):
    rows = _rows()
    with timezone.override(zoneinfo.ZoneInfo(zone)), clock.override(twelve_hour):
        states = _questionnaire_states(rows)
        expected = Template(REFERENCE).render(Context({"board": {"rows": rows}, "now": NOW, "questionnaires": states}))
        written = "  <tbody>\n  " + board_rows_html(rows, NOW, states) + "\n  </tbody>"
    assert written == expected


def test_go_status_is_the_include_markup():
    for row in _rows():
        expected = Template(GO_REFERENCE).render(Context({"surgery": row.surgery}))
        assert go_status_html(row.surgery) == expected
