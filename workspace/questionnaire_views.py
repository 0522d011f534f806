"""The nurse's reconciliation of a patient's health questionnaire (issue 20).

Thin: the surgery comes through the scoped fetch (404 for another clinic, noted in the access log),
the lines are computed by ``questionnaires.selectors``, and the decisions go to the action, which
checks the role again and computes the lines again under a lock before changing anything.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts import permissions as perms
from actions.questionnaires import questionnaire_reconcile
from patients.access import surgery_get_for_user
from patients.models import Surgery
from patients.staff import StaffRequest
from questionnaires import services as qservices
from questionnaires.models import ResponseStatus
from questionnaires.selectors import reconciliation_lines, responses_of
from workspace.views import staff_view

DECISION_PREFIX = "decision-"


@require_http_methods(["GET", "POST"])
@staff_view
def questionnaire(request: StaffRequest, uuid: str) -> HttpResponse:
    surgery = surgery_get_for_user(
        user=request.user, uuid=uuid, qs=Surgery.objects.select_related("patient__clinic", "procedure")
    )
    responses = responses_of(surgery=surgery)
    waiting = next((r for r in responses if r.status == ResponseStatus.SUBMITTED), None)
    patient = surgery.patient
    errors: list[str] = []
    decisions: dict[str, str] = {}
    if request.method == "POST":
        decisions = {
            key[len(DECISION_PREFIX) :]: request.POST.get(key, "")
            for key in request.POST
            if key.startswith(DECISION_PREFIX)
        }
        if waiting is None:
            messages.info(request, "There is no submitted questionnaire to reconcile.")
            return redirect("workspace:questionnaire", uuid=surgery.uuid)
        try:
            questionnaire_reconcile(response=waiting, by=request.user, decisions=decisions)
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(
                request,
                f"Questionnaire no. {waiting.number} reconciled: the accepted lines are in the record and the "
                "checklist was planned again.",
            )
            return redirect("workspace:surgery", uuid=surgery.uuid)
    lines = (
        reconciliation_lines(response=waiting, definition=qservices.definition_of(waiting), patient=patient)
        if waiting is not None
        else []
    )
    reconciled = [r for r in responses if r.status == ResponseStatus.RECONCILED]
    context = {
        "surgery": surgery,
        "patient": patient,
        "waiting": waiting,
        "lines": lines,
        "decisions": decisions,
        "errors": errors,
        "responses": responses,
        "past_lines": {r.pk: list(r.lines.select_related("decided_by")) for r in reconciled[:3]},
        "can_reconcile": perms.allowed(request.user, perms.RECONCILE, perms.KIND_QUESTIONNAIRE),
        "nav": "board",
    }
    return render(request, "workspace/questionnaire.html", context, status=400 if errors else 200)
