"""The results review queue: what a lab or imaging system sent that did not fit, waiting for a nurse.

Thin, as the other staff pages: fetch through ``inbox.selectors`` (clinic-scoped, 404 elsewhere),
validate a small form, call ``inbox.services`` (which checks the clinic again, where the data
changes), redirect.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from inbox import selectors as inbox_selectors
from inbox import services as inbox_services
from patients.access import item_get_for_user, patients_for_user
from patients.staff import StaffRequest
from prep.services import ItemConflict
from workspace.views import staff_view


class DismissForm(forms.Form):
    reason = forms.CharField(label="Why is it dismissed?", max_length=300)


class MatchForm(forms.Form):
    mrn = forms.CharField(label="Medical record number of the patient", max_length=40)


class CompleteForm(forms.Form):
    index = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
    item = forms.UUIDField(label="Item")


def _entries(message: object) -> list[dict]:
    return [dict(e, index=n) for n, e in enumerate(getattr(message, "results", None) or [])]


@require_GET
@staff_view
def inbox(request: StaffRequest) -> HttpResponse:
    queue = inbox_selectors.review_queue(user=request.user)
    recent = inbox_selectors.recent_handled(user=request.user)
    rows = [(m, _entries(m)) for m in queue]
    return render(request, "workspace/inbox.html", {"rows": rows, "recent": recent, "nav": "inbox"})


@require_GET
@staff_view
def inbox_message(request: StaffRequest, uuid: str) -> HttpResponse:
    message = inbox_selectors.message_get_for_user(user=request.user, uuid=uuid)
    items = list(inbox_selectors.open_items_for(message=message))
    context = {
        "message": message,
        "entries": _entries(message),
        "items": items,
        "dismiss_form": DismissForm(),
        "match_form": MatchForm(),
        "raw": message.raw.replace("\r\n", "\n").replace("\r", "\n"),  # HL7 separates segments by CR
        "nav": "inbox",
    }
    return render(request, "workspace/inbox_message.html", context)


def _fail(request: StaffRequest, exc: Exception) -> None:
    text = "; ".join(getattr(exc, "messages", None) or [str(exc)])
    messages.error(request, f"Nothing was changed: {text}")


@require_POST
@staff_view
def inbox_dismiss(request: StaffRequest, uuid: str) -> HttpResponse:
    message = inbox_selectors.message_get_for_user(user=request.user, uuid=uuid)
    form = DismissForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the message is dismissed.")
        return redirect("workspace:inbox_message", uuid=message.uuid)
    try:
        inbox_services.review_dismiss(message=message, by=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        _fail(request, exc)
        return redirect("workspace:inbox_message", uuid=message.uuid)
    messages.success(request, "The message was dismissed; it stays in the inbox with your reason.")
    return redirect("workspace:inbox")


@require_POST
@staff_view
def inbox_match(request: StaffRequest, uuid: str) -> HttpResponse:
    message = inbox_selectors.message_get_for_user(user=request.user, uuid=uuid)
    form = MatchForm(request.POST)
    patient = None
    if form.is_valid():
        patient = patients_for_user(request.user).filter(mrn=form.cleaned_data["mrn"].strip()).first()
    if patient is None:
        messages.error(request, "No patient of this clinic has that medical record number.")
        return redirect("workspace:inbox_message", uuid=message.uuid)
    try:
        message = inbox_services.review_match(message=message, by=request.user, patient=patient)
    except ValidationError as exc:
        _fail(request, exc)
    else:
        messages.success(request, f"Matched and processed again: {message.get_status_display().lower()}.")
    return redirect("workspace:inbox_message", uuid=message.uuid)


@require_POST
@staff_view
def inbox_complete(request: StaffRequest, uuid: str) -> HttpResponse:
    message = inbox_selectors.message_get_for_user(user=request.user, uuid=uuid)
    form = CompleteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the item this result completes.")
        return redirect("workspace:inbox_message", uuid=message.uuid)
    item = item_get_for_user(user=request.user, uuid=form.cleaned_data["item"])
    try:
        message = inbox_services.review_complete(
            message=message, by=request.user, index=form.cleaned_data["index"], item=item
        )
    except (ValidationError, ItemConflict, PermissionDenied) as exc:
        _fail(request, exc)
    else:
        messages.success(request, f"The result was recorded on “{item.title}”.")
    return redirect("workspace:inbox_message", uuid=message.uuid)
