"""Staff pages. Thin: fetch through patients.access, validate with a form, call an action, render."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import permissions as perms
from accounts.http import SignedInRequest
from accounts.models import User
from actions import booking as booking_actions
from actions import decisions as decision_actions
from actions import documents as document_actions
from actions import items as item_actions
from actions import patients as patient_actions
from actions import preview as preview_actions
from core import clock
from core.search_keys import search_key_store, search_key_terms
from documents.selectors import document_open
from patients.access import document_get_for_user, item_get_for_user, patient_get_for_user, surgery_get_for_user
from patients.models import Guardian, Medication, Patient, Surgery
from patients.staff import StaffRequest, has_clinic
from prep.models import ChecklistItem
from prep.selectors import PHASES, item_phase
from prep.services import ItemConflict
from reminders.selectors import reminders_for_surgery
from workspace import forms as wf
from workspace import selectors, services
from workspace.uploads import TOO_LARGE

ViewFunc = Callable[..., HttpResponseBase]


def staff_view(view: ViewFunc) -> ViewFunc:
    """Signed-in staff of a clinic; pages show times in the clinic's zone."""

    @login_required
    @wraps(view)
    def wrapper(request: SignedInRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not has_clinic(request.user):
            raise PermissionDenied("Your account is not linked to a clinic; ask a clinic admin.")
        clinic = request.user.clinic
        with timezone.override(clinic.tz), clock.override(clinic.clock_12h):
            return view(request, *args, **kwargs)

    return wrapper


# --- board ---------------------------------------------------------------------------------


# Board filters that may sit in a URL: dates, readiness and surgeon name no patient. The patient search
# (``q``) comes only in a POST or behind an opaque search key (core.search_keys).
BOARD_URL_FILTERS = ("date_from", "date_to", "readiness", "surgeon", "decision")


@require_http_methods(["GET", "POST"])
@staff_view
def board(request: StaffRequest) -> HttpResponse:
    if request.user.is_surgeon and request.method == "GET" and not request.GET:
        # A surgeon lands on the decisions waiting for them; the board is one link away.
        return redirect("workspace:worklist")
    clinic = request.user.clinic
    if request.method == "POST":
        terms = {name: request.POST.get(name, "") for name in (*BOARD_URL_FILTERS, "q")}
        return redirect(f"{reverse('workspace:board')}?s={search_key_store(request=request, terms=terms)}")
    key = request.GET.get("s", "")
    stored = search_key_terms(request=request, key=key)
    data: dict[str, Any] = (
        stored if stored is not None else {n: request.GET[n] for n in BOARD_URL_FILTERS if n in request.GET}
    )
    defaults = selectors.board_default_filters(clinic=clinic)
    surgeons = selectors.clinic_surgeons(clinic=clinic)
    form = wf.BoardFilterForm(data or None, surgeons=surgeons)
    filters = defaults
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = selectors.BoardFilters(
            date_from=data["date_from"] or defaults.date_from,
            date_to=data["date_to"] or (data["date_from"] or defaults.date_from) + dt.timedelta(days=14),
            readiness=data["readiness"],
            surgeon=data["surgeon"],
            decision=data["decision"],
            q=data["q"].strip(),
        )
    elif not form.is_bound:
        form = wf.BoardFilterForm(
            initial={"date_from": defaults.date_from, "date_to": defaults.date_to}, surgeons=surgeons
        )
    page = selectors.board_page(
        user=request.user, filters=filters, page_number=request.GET.get("page") or 1, surgeons=surgeons
    )
    if stored is not None:
        query = f"s={key}"
    else:
        params = request.GET.copy()
        params.pop("page", None)
        params.pop("q", None)
        query = params.urlencode()
    return render(
        request,
        "workspace/board.html",
        {
            "board": page,
            "form": form,
            "clinic": clinic,
            "query": query,
            "filtered": form.is_bound and any(form.data.get(name) for name in form.fields),
            "nav": "board",
            "now": timezone.now(),
        },
    )


@require_GET
@staff_view
def worklist(request: StaffRequest) -> HttpResponse:
    work = selectors.surgeon_worklist(user=request.user, page_number=request.GET.get("page") or 1)
    params = request.GET.copy()
    params.pop("page", None)  # the page links keep every other parameter
    context = {"work": work, "query": params.urlencode(), "nav": "worklist", "now": timezone.now()}
    return render(request, "workspace/worklist.html", context)


# --- patient page --------------------------------------------------------------------------


def _attach_forms(views: list[selectors.ItemView], user: User, bound: dict[str, Any] | None = None) -> None:
    """Give every row the forms the user may post; ``bound`` replaces one with its errors."""
    for view in views:
        item = view.item
        view.forms = {}

        def may(action: str, item: ChecklistItem = item) -> bool:
            return perms.allowed(user, action, item.assignee)

        if view.can_complete and may(perms.COMPLETE):
            view.forms["complete"] = wf.ItemCompleteForm(item=item)
        if view.can_mark_na and may(perms.NOT_APPLICABLE):
            view.forms["not_applicable"] = wf.ItemReasonForm(item=item, action="not_applicable")
        if view.can_undo and may(perms.UNDO):
            view.forms["undo"] = wf.ItemReasonForm(item=item, action="undo")
        if view.can_accept and may(perms.ACCEPT):
            view.forms["accept"] = wf.ItemVersionForm(
                initial={"version": item.version}, auto_id=f"id_{item.uuid.hex[:12]}_accept_%s"
            )
        if view.is_hold_approval and not item.is_closed and may(perms.DECIDE):
            view.forms["hold"] = wf.HoldDecisionForm(item=item, needs_days=view.hold_without_dates)
        if may(perms.ATTACH):
            view.forms["document"] = wf.DocumentUploadForm(auto_id=f"id_{item.uuid.hex[:12]}_document_%s")
        if bound and bound["item"].pk == item.pk:
            view.forms[bound["action"]] = bound["form"]
            view.open_panel = bound["action"]
        else:
            view.open_panel = ""


def _surgery_context(request: StaffRequest, uuid: object, bound: dict[str, Any] | None = None) -> dict[str, Any]:
    page = selectors.surgery_page(user=request.user, uuid=uuid)
    _attach_forms(page.items, request.user, bound)
    user = request.user
    return {
        "page": page,
        "surgery": page.surgery,
        "patient": page.patient,
        "clinic": page.clinic,
        "report": page.report,
        "can_decide": perms.allowed(user, perms.DECIDE, perms.KIND_SURGERY),
        "go_form": wf.GoDecisionForm(),
        "note_form": wf.NoteForm(),
        "reminders": reminders_for_surgery(surgery=page.surgery),
        # An item form posted without htmx and refused: listed in the error summary at the top.
        "bound_form": bound["form"] if bound else None,
    }


@require_GET
@staff_view
def surgery_detail(request: StaffRequest, uuid: str) -> HttpResponse:
    return render(request, "workspace/surgery.html", _surgery_context(request, uuid))


@require_GET
@staff_view
def surgery_print(request: StaffRequest, uuid: str) -> HttpResponse:
    page = selectors.surgery_page(user=request.user, uuid=uuid)
    context = {"page": page, "phases": dict(PHASES), "printed_at": timezone.now()}
    return render(request, "workspace/print.html", context)


@require_GET
@staff_view
def patient_detail(request: StaffRequest, uuid: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, uuid=uuid, qs=Patient.objects.select_related("clinic"))
    surgery = selectors.patient_main_surgery(patient=patient)
    if surgery is not None:
        return redirect("workspace:surgery", uuid=surgery.uuid)
    medications = list(patient.medications.select_related("drug"))
    guardians = selectors.guardian_panel(patient=patient, surgery=None)
    context = {"patient": patient, "medications": medications, "guardians": guardians}
    return render(request, "workspace/patient.html", context)


def _guardian_back(patient: Patient) -> HttpResponse:
    surgery = selectors.patient_main_surgery(patient=patient)
    if surgery is not None:
        return redirect(reverse("workspace:surgery", args=[surgery.uuid]) + "#guardians-heading")
    return redirect("workspace:patient", uuid=patient.uuid)


@require_http_methods(["GET", "POST"])
@staff_view
def guardian_add(request: StaffRequest, uuid: str) -> HttpResponse:
    """A parent or guardian for the patient: from now on they, not a child, get the messages."""
    patient = patient_get_for_user(user=request.user, uuid=uuid, qs=Patient.objects.select_related("clinic"))
    form = wf.GuardianForm(request.POST or None, initial={"language": patient.language, "receives_messages": True})
    if request.method == "POST" and form.is_valid():
        try:
            guardian = patient_actions.guardian_add(patient=patient, by=request.user, **form.service_kwargs())
        except ValidationError as exc:
            wf.add_service_errors(form, exc)
        else:
            messages.success(request, f"{guardian.full_name} was added; the reminders follow.")
            return _guardian_back(patient)
    context = {"patient": patient, "form": form, "guardian": None}
    return render(request, "workspace/guardian_form.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@staff_view
def guardian_edit(request: StaffRequest, uuid: str, guardian_uuid: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, uuid=uuid, qs=Patient.objects.select_related("clinic"))
    try:
        # Through the permission-checked patient: another clinic's guardian is a 404 like its patient.
        guardian = patient.guardians.get(uuid=guardian_uuid)
    except (Guardian.DoesNotExist, ValidationError):
        raise Http404("No such guardian.") from None
    guardian.patient = patient
    initial = wf.guardian_initial(guardian)
    form = wf.GuardianForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = {k: v for k, v in form.service_kwargs().items() if v != initial.get(k)}
        if not changes:
            messages.info(request, "Nothing was changed.")
            return _guardian_back(patient)
        try:
            patient_actions.guardian_update(
                guardian=guardian, by=request.user, reason="Details changed by staff", **changes
            )
        except ValidationError as exc:
            wf.add_service_errors(form, exc)
        else:
            messages.success(request, f"{guardian.full_name}'s details were saved; the reminders follow.")
            return _guardian_back(patient)
    context = {"patient": patient, "form": form, "guardian": guardian}
    return render(request, "workspace/guardian_form.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@staff_view
def patient_edit(request: StaffRequest, uuid: str) -> HttpResponse:
    """Contact details, reminder channels and consent, clinical flags: what the booking form asked."""
    patient = patient_get_for_user(user=request.user, uuid=uuid, qs=Patient.objects.select_related("clinic"))
    initial = wf.patient_initial(patient)
    form = wf.PatientEditForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["seen"] != initial["seen"]:
            # Saving the form as it is would undo the other person's change without anyone knowing.
            messages.warning(
                request,
                "Someone else changed this patient's details while you were editing. "
                "The form now shows their version: make your change again.",
            )
            form, status = wf.PatientEditForm(initial=initial), 409
        else:
            changes = {n: form.cleaned_data[n] for n in wf.PATIENT_FORM_FIELDS if form.cleaned_data[n] != initial[n]}
            if not changes:
                messages.info(request, "Nothing was changed.")
                return redirect("workspace:patient", uuid=patient.uuid)
            patient._change_reason = "Details changed by staff"
            try:
                patient_actions.patient_update(patient=patient, by=request.user, **changes)
            except ValidationError as exc:
                wf.add_service_errors(form, exc)
            else:
                messages.success(request, "The patient's details were saved; checklist and reminders follow them.")
                return redirect("workspace:patient", uuid=patient.uuid)
    if form.errors:
        status = 400
    return render(request, "workspace/patient_edit.html", {"patient": patient, "form": form}, status=status)


# --- item actions --------------------------------------------------------------------------

ITEM_RELATED = ("template_item", "completed_by", "updated_by", "drug", "checklist__surgery__patient__clinic")


def _get_item(request: StaffRequest, uuid: str) -> ChecklistItem:
    return item_get_for_user(user=request.user, uuid=uuid, qs=ChecklistItem.objects.select_related(*ITEM_RELATED))


def _item_response(
    request: StaffRequest,
    item: ChecklistItem,
    *,
    bound: dict[str, Any] | None = None,
    message: str = "",
    level: str = "success",
) -> HttpResponse:
    """htmx: the row and (out of band) the readiness summary. Otherwise: back to the page."""
    surgery = item.checklist.surgery
    if not request.htmx:
        if bound is None:
            if message:
                messages.add_message(request, messages.WARNING if level == "warning" else messages.SUCCESS, message)
            url = reverse("workspace:surgery", kwargs={"uuid": surgery.uuid})
            return HttpResponseRedirect(f"{url}#item-{item.uuid}")
        context = _surgery_context(request, surgery.uuid, bound)
        return render(request, "workspace/surgery.html", context, status=400)
    item = ChecklistItem.objects.select_related(*ITEM_RELATED).get(pk=item.pk)
    surgery = item.checklist.surgery
    codes = set(ChecklistItem.objects.filter(checklist_id=item.checklist_id).values_list("code", flat=True))
    view = selectors.item_views(surgery=surgery, items=[item])[0]
    if view.is_hold_approval:
        key = item.code.removeprefix("hold_approval:")
        view.hold_without_dates = f"hold:{key}" not in codes
    view.message, view.message_level = message, level
    _attach_forms([view], request.user, bound)
    report = selectors.surgery_summary(surgery=surgery)
    editable = surgery.is_active and item.checklist.status == "active"
    context = {
        "view": view,
        "surgery": surgery,
        "report": report,
        "editable": editable,
        "can_decide": perms.allowed(request.user, perms.DECIDE, perms.KIND_SURGERY),
        "oob": True,
    }
    return render(request, "workspace/_item_response.html", context)


def _run_item_action(
    request: StaffRequest,
    item: ChecklistItem,
    action: str,
    form: Any,
    call: Callable[[dict[str, Any]], ChecklistItem],
    done_message: str,
) -> HttpResponse:
    if not item.checklist.surgery.is_active:
        return _item_response(request, item, message="This surgery is no longer active.", level="warning")
    if not form.is_valid():
        return _item_response(request, item, bound={"item": item, "action": action, "form": form})
    try:
        item = call(form.cleaned_data)
    except ValidationError as exc:
        wf.add_service_errors(
            form, exc, rename={"__all__": "result" if "result" in form.fields else None, "reason": "reason"}
        )
        return _item_response(request, item, bound={"item": item, "action": action, "form": form})
    except ItemConflict as exc:
        # Someone else changed it first: show its current state, apply nothing.
        return _item_response(request, exc.item, message=str(exc), level="warning")
    if item.result_flag:
        # A result outside the clinic's limits is recorded but keeps the item open: say so, not "done".
        level = "warning" if item.status == "open" else "info"
        return _item_response(request, item, message=f"{item.title}: {item.result_flag}", level=level)
    return _item_response(request, item, message=done_message.format(title=item.title))


@require_POST
@staff_view
def item_complete(request: StaffRequest, uuid: str) -> HttpResponse:
    item = _get_item(request, uuid)
    form = wf.ItemCompleteForm(request.POST, item=item)

    def call(data: dict[str, Any]) -> ChecklistItem:
        return item_actions.item_complete(
            item=item, by=request.user, expected_version=data["version"], **form.service_kwargs()
        )

    return _run_item_action(request, item, "complete", form, call, "{title}: done.")


@require_POST
@staff_view
def item_not_applicable(request: StaffRequest, uuid: str) -> HttpResponse:
    item = _get_item(request, uuid)
    form = wf.ItemReasonForm(request.POST, item=item, action="not_applicable")

    def call(data: dict[str, Any]) -> ChecklistItem:
        return item_actions.item_mark_not_applicable(
            item=item, by=request.user, reason=data["reason"], expected_version=data["version"]
        )

    return _run_item_action(request, item, "not_applicable", form, call, "{title}: marked not applicable.")


@require_POST
@staff_view
def item_undo(request: StaffRequest, uuid: str) -> HttpResponse:
    item = _get_item(request, uuid)
    form = wf.ItemReasonForm(request.POST, item=item, action="undo")

    def call(data: dict[str, Any]) -> ChecklistItem:
        return item_actions.item_undo(
            item=item, by=request.user, reason=data["reason"], expected_version=data["version"]
        )

    return _run_item_action(request, item, "undo", form, call, "{title}: reopened.")


@require_POST
@staff_view
def item_accept(request: StaffRequest, uuid: str) -> HttpResponse:
    item = _get_item(request, uuid)
    form = wf.ItemVersionForm(request.POST, auto_id=f"id_{item.uuid.hex[:12]}_accept_%s")

    def call(data: dict[str, Any]) -> ChecklistItem:
        return item_actions.item_accept(item=item, by=request.user, expected_version=data["version"])

    return _run_item_action(request, item, "accept", form, call, "{title}: the patient's confirmation is accepted.")


@require_POST
@staff_view
def hold_decide(request: StaffRequest, uuid: str) -> HttpResponse:
    item = _get_item(request, uuid)  # outside the clinic: 404 before anything else
    perms.require(request.user, perms.DECIDE, item.assignee)  # before the form: no hint to others
    key = item.code.removeprefix("hold_approval:")
    needs_days = not ChecklistItem.objects.filter(checklist_id=item.checklist_id, code=f"hold:{key}").exists()
    form = wf.HoldDecisionForm(request.POST, item=item, needs_days=needs_days)

    def call(data: dict[str, Any]) -> ChecklistItem:
        return decision_actions.hold_decide(
            item=item,
            by=request.user,
            choice=data["decision"],
            note=data.get("note") or "",
            hold_days=data.get("hold_days"),
            expected_version=data["version"],
        )

    # Posted without htmx: approving unlocks (or creates) another row, so the whole page reloads.
    return _run_item_action(request, item, "hold", form, call, "{title}: decision recorded.")


@require_GET
@staff_view
def item_history(request: StaffRequest, uuid: str) -> HttpResponse:
    item = _get_item(request, uuid)
    rows = selectors.item_history(item=item)
    template = "workspace/_item_history.html" if request.htmx else "workspace/item_history.html"
    return render(request, template, {"item": item, "rows": rows, "surgery": item.checklist.surgery})


# --- documents -----------------------------------------------------------------------------


@require_POST
@staff_view
def document_upload(request: StaffRequest, uuid: str) -> HttpResponse:
    """A PDF or image attached to the item; the row comes back with it listed, or with what was wrong."""
    item = _get_item(request, uuid)  # another clinic's item: 404 before anything else
    form = wf.DocumentUploadForm(request.POST, request.FILES)
    if getattr(request, TOO_LARGE, False):
        limit = settings.DOCUMENTS_MAX_BYTES // (1024 * 1024)
        message = f"The file is larger than {limit} MB, the most a document may be; nothing was saved."
        return _item_response(request, item, message=message, level="warning")
    if not form.is_valid():
        problem = " ".join(str(error) for error in form.errors.get("file", ["Choose a file to attach."]))
        return _item_response(request, item, message=problem, level="warning")
    try:
        document = document_actions.document_upload(item=item, by=request.user, upload=form.cleaned_data["file"])
    except ValidationError as exc:
        return _item_response(request, item, message=" ".join(exc.messages), level="warning")
    if not document.is_new:
        message = f"{document.filename} is already attached to {item.title}; nothing was added."
        return _item_response(request, item, message=message, level="warning")
    return _item_response(request, item, message=f"{document.filename} attached to {item.title}.")


@require_GET
@staff_view
def document_download(request: StaffRequest, uuid: str) -> HttpResponseBase:
    """The stored bytes, for staff of the document's clinic only (another clinic's: 404), access-logged.

    Served with the type detected at upload (PDF, PNG or JPEG, shown in the browser), never sniffed
    again, and never cached.
    """
    document = document_get_for_user(user=request.user, uuid=uuid)
    response = FileResponse(
        document_open(document=document), content_type=document.content_type, filename=document.download_name
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    if document.content_type == "application/pdf":
        # Chrome's built-in PDF viewer is an embedded plugin that the pages' policy (object-src 'none',
        # no inline styles) blocks. A PDF served as application/pdf and never sniffed has no HTML for a
        # policy to protect; framing stays forbidden. Images keep the pages' policy.
        response["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response


# --- surgery decisions and notes -----------------------------------------------------------


@require_POST
@staff_view
def go_decision(request: StaffRequest, uuid: str) -> HttpResponse:
    surgery = surgery_get_for_user(user=request.user, uuid=uuid)
    perms.require(request.user, perms.DECIDE, perms.KIND_SURGERY)
    form = wf.GoDecisionForm(request.POST)
    if form.is_valid():
        try:
            data = form.cleaned_data
            decision_actions.surgery_record_go_decision(
                surgery=surgery,
                by=request.user,
                decision=data["decision"],
                note=data["note"],
                override=data["override"],
                no_go_reason=data["no_go_reason"],
            )
        except ValidationError as exc:
            wf.add_service_errors(form, exc)
    if form.errors:
        context = _surgery_context(request, uuid)
        context["go_form"] = form
        return render(request, "workspace/surgery.html", context, status=400)
    surgery.refresh_from_db(fields=["go_decision", "go_override_reason"])
    text = f"Decision recorded: {surgery.get_go_decision_display()}"
    if surgery.go_override_reason:
        text += " (over the checklist, with your reason)"
    messages.success(request, f"{text}.")
    return redirect("workspace:surgery", uuid=surgery.uuid)


@require_POST
@staff_view
def note_add(request: StaffRequest, uuid: str) -> HttpResponse:
    surgery = surgery_get_for_user(user=request.user, uuid=uuid, qs=Surgery.objects.select_related("patient"))
    form = wf.NoteForm(request.POST)
    if form.is_valid():
        try:
            services.note_add(patient=surgery.patient, surgery=surgery, by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            wf.add_service_errors(form, exc)
    if form.errors:
        context = _surgery_context(request, uuid)
        context["note_form"] = form
        return render(request, "workspace/surgery.html", context, status=400)
    messages.success(request, "Saved to the call log." if form.cleaned_data["kind"] == "call" else "Note saved.")
    return HttpResponseRedirect(reverse("workspace:surgery", kwargs={"uuid": surgery.uuid}) + "#notes")


# --- booking -------------------------------------------------------------------------------


def _preview_rows(surgery: Surgery | None, items: list[ChecklistItem]) -> list[tuple[str, list[ChecklistItem]]]:
    if surgery is None:
        return []
    tz = surgery.patient.clinic.tz
    groups: dict[str, list[ChecklistItem]] = {key: [] for key, _ in PHASES}
    for item in items:
        groups[item_phase(item, surgery, tz)].append(item)
    return [(label, groups[key]) for key, label in PHASES if groups[key]]


@require_http_methods(["GET", "POST"])
@staff_view
def booking_new(request: StaffRequest) -> HttpResponse:
    user = request.user
    clinic = user.clinic
    surgeons = selectors.clinic_surgeons(clinic=clinic)
    patient = None
    patient_uuid = request.POST.get("patient") or request.GET.get("patient")
    if patient_uuid:
        patient = patient_get_for_user(user=user, uuid=patient_uuid)
    if request.method == "POST" and request.POST.get("action") == "search":
        # The search terms (a name, a record number) never go into the URL: an opaque key does.
        key = search_key_store(request=request, terms={"q": request.POST.get("q", "")})
        return redirect(f"{reverse('workspace:book')}?s={key}")
    search = wf.PatientSearchForm(search_key_terms(request=request, key=request.GET.get("s")))
    matches = selectors.patients_search(user=user, q=search.cleaned_data["q"]) if search.is_valid() else []
    data = request.POST if request.method == "POST" else None
    patient_form = None if patient else wf.PatientForm(data, prefix="patient")
    guardian_form = wf.BookingGuardianForm(data, prefix="guardian", initial={"receives_messages": True})
    med_formset = wf.MedicationFormSet(data, prefix="med")
    surgery_form = wf.SurgeryFieldsForm(data, clinic=clinic, surgeons=surgeons, prefix="surgery")
    preview: list[tuple[str, list[ChecklistItem]]] | None = None
    if request.method == "POST":
        forms_ok = all(
            [
                patient_form is None or patient_form.is_valid(),
                guardian_form.is_valid(),
                med_formset.is_valid(),
                surgery_form.is_valid(),
            ]
        )
        if forms_ok:
            action = _booking_action(user, clinic, patient, patient_form, guardian_form, med_formset, surgery_form)
            if request.POST.get("action") == "save":
                try:
                    surgery = action()
                except ValidationError as exc:
                    _booking_errors(exc, patient_form, surgery_form, guardian_form)
                else:
                    messages.success(request, f"Surgery booked for {surgery.patient.full_name}.")
                    return redirect("workspace:surgery", uuid=surgery.uuid)
            else:
                planned, items, error = preview_actions.booking_dry_run(action=action)
                if error is not None:
                    _booking_errors(error, patient_form, surgery_form, guardian_form)
                else:
                    preview = _preview_rows(planned, items)
    status = 400 if request.method == "POST" and preview is None else 200
    context = {
        "patient": patient,
        "patient_form": patient_form,
        "guardian_form": guardian_form,
        "guardians": list(patient.guardians.all()) if patient else [],
        "med_formset": med_formset,
        "surgery_form": surgery_form,
        "search": search,
        "matches": matches,
        "preview": preview,
        "clinic": clinic,
        "nav": "book",
    }
    return render(request, "workspace/booking.html", context, status=status)


def _booking_action(
    user: User,
    clinic: Any,
    patient: Patient | None,
    patient_form: Any,
    guardian_form: Any,
    med_formset: Any,
    surgery_form: Any,
) -> Callable[[], Surgery]:
    def action() -> Surgery:
        return booking_actions.booking_create(
            clinic=clinic,
            by=user,
            patient=patient,
            patient_values=None if patient else patient_form.cleaned_data,
            medications=[med.service_kwargs() for med in med_formset.forms if med.is_filled],
            guardians=[guardian_form.service_kwargs()] if guardian_form.is_filled else [],
            surgery_values=surgery_form.service_kwargs(),
        )

    return action


def _booking_errors(exc: ValidationError, patient_form: Any, surgery_form: Any, guardian_form: Any = None) -> None:
    patient_fields = set(wf.PATIENT_FORM_FIELDS) - {"birth_date"}
    for name, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
        if guardian_form is not None and (name == "guardian" or name.startswith("guardian.")):
            # The booking action names a guardian's problems "guardian.<field>", and a missing one "guardian".
            field = name.partition(".")[2]
            guardian_form.add_error(field if field in guardian_form.fields else None, errors)
            continue
        if patient_form is not None and name in patient_fields:
            patient_form.add_error(name, errors)
        else:
            target = wf.SURGERY_ERROR_FIELDS.get(name, name)
            if patient_form is not None and name == "birth_date":
                patient_form.add_error("birth_date", errors)
                continue
            surgery_form.add_error(target if target in surgery_form.fields else None, errors)


def _surgery_for_change(request: StaffRequest, uuid: str) -> Surgery:
    return surgery_get_for_user(
        user=request.user, uuid=uuid, qs=Surgery.objects.select_related("patient__clinic", "procedure", "surgeon")
    )


@require_http_methods(["GET", "POST"])
@staff_view
def surgery_edit(request: StaffRequest, uuid: str) -> HttpResponse:
    """Reschedule or change a booking: first a review of what will move, then the change."""
    surgery = _surgery_for_change(request, uuid)
    if not surgery.is_active:
        messages.warning(request, "A cancelled or finished surgery cannot be changed.")
        return redirect("workspace:surgery", uuid=surgery.uuid)
    surgeons = selectors.clinic_surgeons(clinic=request.user.clinic)
    data = request.POST if request.method == "POST" else None
    form = wf.SurgeryFieldsForm(
        data, initial=wf.surgery_initial(surgery), clinic=request.user.clinic, surgeons=surgeons
    )
    dry = None
    if request.method == "POST" and form.is_valid():
        initial = wf.surgery_initial(surgery)
        values = form.service_kwargs()
        # The form's blank choice is "the procedure's default", as when booking (the service wants a value).
        values["anaesthesia"] = values["anaesthesia"] or values["procedure"].default_anaesthesia
        changes = {k: v for k, v in values.items() if k == "start_at" or v != initial.get(k)}
        if changes.get("start_at") == surgery.start_at:
            del changes["start_at"]
        if not changes:
            messages.info(request, "Nothing was changed.")
            return redirect("workspace:surgery", uuid=surgery.uuid)

        def action() -> Surgery:
            return booking_actions.surgery_update(
                surgery=surgery, by=request.user, reason="booking changed by staff", **changes
            )

        if request.POST.get("action") == "confirm":
            try:
                action()
            except ValidationError as exc:
                wf.add_service_errors(form, exc, rename=wf.SURGERY_ERROR_FIELDS)
            else:
                messages.success(request, "The booking was changed and the checklist re-planned.")
                return redirect("workspace:surgery", uuid=surgery.uuid)
        else:
            dry = preview_actions.change_dry_run(surgeries=[surgery], action=action)
            if dry.error is not None:
                wf.add_service_errors(form, dry.error, rename=wf.SURGERY_ERROR_FIELDS)
                dry = None
    status = 400 if request.method == "POST" and (form.errors or dry is None) else 200
    return render(request, "workspace/surgery_edit.html", {"surgery": surgery, "form": form, "dry": dry}, status=status)


@require_http_methods(["GET", "POST"])
@staff_view
def surgery_cancel(request: StaffRequest, uuid: str) -> HttpResponse:
    surgery = _surgery_for_change(request, uuid)
    if not surgery.is_active:
        messages.warning(request, "This surgery is already cancelled or finished.")
        return redirect("workspace:surgery", uuid=surgery.uuid)
    form = wf.CancelForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            booking_actions.surgery_cancel(
                surgery=surgery,
                by=request.user,
                reason=form.cleaned_data["reason"],
                reason_code=form.cleaned_data["reason_code"],
            )
        except ValidationError as exc:
            wf.add_service_errors(form, exc)
        else:
            messages.success(request, "The surgery was cancelled; its pending reminders will not be sent.")
            return redirect("workspace:surgery", uuid=surgery.uuid)
    open_items = ChecklistItem.objects.filter(checklist__surgery=surgery, status__in=("open", "patient_confirmed"))
    context = {"surgery": surgery, "form": form, "open_count": open_items.count()}
    return render(request, "workspace/surgery_cancel.html", context, status=400 if form.errors else 200)


def _active_surgeries(patient: Patient) -> QuerySet[Surgery]:
    return patient.surgeries.filter(status__in=selectors.ACTIVE_SURGERY).select_related("procedure")


@require_http_methods(["GET", "POST"])
@staff_view
def medication_add(request: StaffRequest, uuid: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, uuid=uuid, qs=Patient.objects.select_related("clinic"))
    form = wf.MedicationForm(request.POST or None)
    surgeries = list(_active_surgeries(patient))
    dry = None
    if request.method == "POST" and form.is_valid():
        if not form.is_filled:
            form.add_error("drug", "Choose a drug from the list or type its name.")
        else:
            values = form.service_kwargs()

            def action() -> Medication:
                return patient_actions.medication_add(patient=patient, by=request.user, **values)

            if request.POST.get("action") == "confirm":
                try:
                    action()
                except ValidationError as exc:
                    wf.add_service_errors(form, exc)
                else:
                    messages.success(request, "Medication added; the checklist was updated.")
                    return _back_to_patient(patient, surgeries)
            else:
                dry = preview_actions.change_dry_run(surgeries=surgeries, action=action)
                if dry.error is not None:
                    wf.add_service_errors(form, dry.error)
                    dry = None
    context = {"patient": patient, "form": form, "dry": dry, "surgeries": surgeries}
    return render(request, "workspace/medication_add.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@staff_view
def medication_stop(request: StaffRequest, uuid: str, medication_uuid: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, uuid=uuid, qs=Patient.objects.select_related("clinic"))
    try:
        medication = patient.medications.get(uuid=medication_uuid, stopped_at__isnull=True)
    except (Medication.DoesNotExist, ValidationError):
        raise Http404("No such medication.") from None
    surgeries = list(_active_surgeries(patient))

    def action() -> Medication:
        return patient_actions.medication_stop(medication=medication, by=request.user)

    if request.method == "POST":
        action()
        messages.success(request, f"{medication.name} is recorded as stopped; the checklist was updated.")
        return _back_to_patient(patient, surgeries)
    dry = preview_actions.change_dry_run(surgeries=surgeries, action=action)
    return render(
        request,
        "workspace/medication_stop.html",
        {"patient": patient, "medication": medication, "dry": dry, "surgeries": surgeries},
    )


def _back_to_patient(patient: Patient, surgeries: list[Surgery]) -> HttpResponse:
    if surgeries:
        return redirect("workspace:surgery", uuid=surgeries[0].uuid)
    return redirect("workspace:patient", uuid=patient.uuid)
