"""Forms validate input; the actions do the work. Every control has a label."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator
from django.utils import timezone
from django.utils.html import format_html

from accounts.models import User
from actions.patients import GuardianValues, MedicationValues
from patients.models import (
    CANCEL_REASON_GROUPS,
    Anaesthesia,
    Clinic,
    Guardian,
    Indication,
    Patient,
    Side,
    Surgery,
)
from patients.services import GUARDIAN_FIELDS, MAX_AGE_YEARS, oldest_birth_date
from prep import planning
from prep.models import ChecklistItem, Drug, ProcedureVariant, ResultKind
from prep.selectors import Readiness
from workspace.models import CallOutcome, NoteKind


def date_widget() -> forms.DateInput:
    """A new date input each time: a widget's attrs are mutated while rendering (crispy adds
    ``is-invalid``), so one instance shared by forms would carry one user's error to every form."""
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def time_widget() -> forms.TimeInput:
    return forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


# Labels written for people where the model's field name would read badly ("Sms consent").
PATIENT_LABELS = {
    "mrn": "Medical record number (MRN)",
    "first_name": "First name",
    "last_name": "Last name",
    "birth_date": "Date of birth",
    "sex": "Sex",
    "language": "Language",
    "email": "Email address",
    "mobile": "Mobile number",
    "channel_email": "Reminders by email",
    "channel_sms": "Reminders by text message (SMS)",
    "sms_consent": "The patient agrees to receive text messages",
    "sms_detailed": "Texts may name the procedure and medicines",
    "claustrophobic": "Claustrophobic",
    "cardiac_history": "Cardiac history",
    "impaired_renal_function": "Impaired renal function",
    "latex_allergy": "Latex allergy",
    "allergies": "Other allergies",
    "needs_guardian": "Needs a parent or guardian (an adult whose guardian receives the messages)",
}

PATIENT_FORM_FIELDS = (
    "mrn",
    "first_name",
    "last_name",
    "birth_date",
    "sex",
    "language",
    "email",
    "mobile",
    "channel_email",
    "channel_sms",
    "sms_consent",
    "sms_detailed",
    "claustrophobic",
    "cardiac_history",
    "impaired_renal_function",
    "latex_allergy",
    "allergies",
    "stent",
    "stent_date",
    "mechanical_heart_valve",
    "atrial_fibrillation",
    "vte_date",
    "stroke_date",
    "diabetes",
    "crcl_ml_min",
    "needs_guardian",
)


def limit_fields(form: forms.Form) -> None:
    """Text limits checked by the server, with a counter, never cut silently by the browser.

    A ``maxlength`` attribute makes the browser drop whatever is pasted past the limit, and the
    shortened text is then saved as if nothing happened. The limit goes to ``data-maxlength``
    (the counter in workspace.js reads it) and the server's error says how much is too much.
    """
    for field in form.fields.values():
        limit = getattr(field, "max_length", None)
        if not limit or isinstance(field.widget, forms.HiddenInput):
            continue
        field.widget.attrs.pop("maxlength", None)
        field.widget.attrs["data-maxlength"] = str(limit)
        # New validator objects: the field's list is shared between copies of a form class's field.
        field.validators = [
            MaxLengthValidator(limit, message=LIMIT_MESSAGE) if isinstance(v, MaxLengthValidator) else v
            for v in field.validators
        ]


LIMIT_MESSAGE = (
    "This text has %(show_value)s characters; at most %(limit_value)s fit. Shorten it and save again "
    "(nothing was saved)."
)


def style_fields(form: forms.Form) -> None:
    """Bootstrap classes on the widgets of forms rendered by hand (crispy does its own)."""
    limit_fields(form)
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.HiddenInput):
            continue
        if isinstance(widget, forms.CheckboxInput | forms.RadioSelect):
            css = "form-check-input"
        elif isinstance(widget, forms.Select):
            css = "form-select form-select-sm"
        else:
            css = "form-control form-control-sm"
        if css not in widget.attrs.get("class", ""):
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


class StyledForm(forms.Form):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_fields(self)


def add_service_errors(
    form: forms.Form, exc: ValidationError, *, rename: Mapping[str, str | None] | None = None
) -> None:
    """Show a service's ValidationError next to the field it names (or at the top)."""
    rename = rename or {}
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            target = rename.get(name, name)
            form.add_error(target if target in form.fields else None, errors)
    else:
        form.add_error(rename.get("__all__"), exc.messages)


DECISION_FILTERS = {"needed": "Needs a decision", "go": "Go", "no_go": "No go"}


class BoardFilterForm(StyledForm):
    date_from = forms.DateField(label="From", widget=date_widget(), required=False)
    date_to = forms.DateField(label="To", widget=date_widget(), required=False)
    readiness = forms.ChoiceField(label="Readiness", required=False, choices=[("", "All"), *Readiness.LABELS.items()])
    surgeon = forms.ChoiceField(label="Surgeon", required=False)
    decision = forms.ChoiceField(label="Go / no go", required=False, choices=[("", "All"), *DECISION_FILTERS.items()])
    q = forms.CharField(label="Name or MRN", required=False, max_length=100)

    def __init__(self, *args: Any, surgeons: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        surgeon_field = cast(forms.ChoiceField, self.fields["surgeon"])
        surgeon_field.choices = [("", "All surgeons")] + [(s.email, s.display_name) for s in surgeons]
        self.fields["q"].widget.attrs.update({"type": "search", "placeholder": "e.g. Smith or MRN0012"})
        style_fields(self)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean returns; the stub allows None for overrides
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        elif start and end and (end - start).days > 92:
            self.add_error("date_to", "Show at most three months at a time.")
        return data


class PatientForm(forms.Form):
    """The patient's details. Model validation (and the MRN's uniqueness) is the service's job."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(forms.fields_for_model(Patient, fields=PATIENT_FORM_FIELDS))
        self.fields["birth_date"].widget = date_widget()
        for name, label in PATIENT_LABELS.items():
            self.fields[name].label = label
        self.fields["mobile"].help_text = "Any usual form, e.g. (310) 555-0100 or +13105550100."
        self.fields["allergies"].widget = forms.Textarea(attrs={"rows": 2})
        for name in ("stent_date", "vte_date", "stroke_date"):
            self.fields[name].widget = date_widget()
        limit_fields(self)

    def clean_birth_date(self) -> dt.date:
        value = self.cleaned_data["birth_date"]
        if value > timezone.localdate():
            raise ValidationError("The birth date cannot be in the future.")
        if value < oldest_birth_date():
            raise ValidationError(
                f"A birth date before {oldest_birth_date():%Y} would make the patient older than {MAX_AGE_YEARS}: "
                "check the year."
            )
        return value


# Staff edit every field a guardian has (the service's list, so the two cannot drift apart).
GUARDIAN_FORM_FIELDS = GUARDIAN_FIELDS
GUARDIAN_LABELS = {
    "first_name": "First name",
    "last_name": "Last name",
    "relationship": "Relationship to the patient",
    "birth_year": "Their own year of birth",
    "language": "Language",
    "email": "Email address",
    "mobile": "Mobile number",
    "channel_email": "Reminders by email",
    "channel_sms": "Reminders by text message (SMS)",
    "sms_consent": "Agrees to receive text messages",
    "sms_detailed": "Texts may name the procedure and medicines",
    "is_primary": "Main contact",
    "receives_messages": "Receives the reminders and sign-in links",
}


class GuardianForm(forms.Form):
    """A parent or guardian. Which combinations are allowed is the service's to say (one message each)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields.update(forms.fields_for_model(Guardian, fields=GUARDIAN_FORM_FIELDS))
        for name, label in GUARDIAN_LABELS.items():
            self.fields[name].label = label
        self.fields[
            "birth_year"
        ].help_text = "Asked, with the patient's date of birth, when they sign in to the portal."
        self.fields["birth_year"].widget.attrs.update({"inputmode": "numeric", "placeholder": "e.g. 1985"})
        self.fields["mobile"].help_text = "Any usual form, e.g. (310) 555-0100 or +13105550100."
        limit_fields(self)

    def service_kwargs(self) -> GuardianValues:
        data = self.cleaned_data
        return cast(GuardianValues, {name: data[name] for name in GUARDIAN_FORM_FIELDS if name in data})


class BookingGuardianForm(GuardianForm):
    """The booking form's guardian: every field optional, so an adult is booked without one; a
    child booked without a guardian to reach is refused by the booking action (nothing saved)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
        self.fields["receives_messages"].initial = True
        self.fields["channel_email"].initial = True

    @property
    def is_filled(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return any((data.get(n) or "") for n in ("first_name", "last_name", "email", "mobile")) or bool(
            data.get("birth_year")
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if self.is_filled:
            for name in ("first_name", "last_name", "relationship", "birth_year"):
                if not data.get(name):
                    self.add_error(name, f"Give the guardian's {GUARDIAN_LABELS[name].lower()}.")
        return data


def guardian_initial(guardian: Guardian) -> dict[str, Any]:
    return {name: getattr(guardian, name) for name in GUARDIAN_FORM_FIELDS}


class PatientEditForm(PatientForm):
    """The patient's details after booking, with the version the nurse read (no lost update)."""

    seen = forms.CharField(widget=forms.HiddenInput)


def patient_initial(patient: Patient) -> dict[str, Any]:
    """The form's values, and the version they were read at (``updated_at``)."""
    return {**{name: getattr(patient, name) for name in PATIENT_FORM_FIELDS}, "seen": patient.updated_at.isoformat()}


class DrugSelect(forms.Select):
    """Catalogue drugs that thin the blood are marked, so that picking one ticks the box (workspace.js)."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        drug = getattr(option["value"], "instance", None)
        if drug is not None and drug.is_bleeding_rule:
            # GLP-1, SGLT2 and diabetes medicines are catalogue drugs too, but not blood thinners.
            option["attrs"]["data-blood-thinner"] = "true"
        return option


class MedicationForm(forms.Form):
    drug = forms.ModelChoiceField(
        label="Catalogue drug",
        widget=DrugSelect,
        queryset=Drug.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        empty_label="— not in the list —",
    )
    name = forms.CharField(label="Or name (free text)", required=False, max_length=120)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_fields(self)

    indication = forms.ChoiceField(label="Indication", choices=Indication.choices, required=False)
    dose = forms.CharField(label="Dose", required=False, max_length=120)
    is_blood_thinner = forms.BooleanField(label="Blood thinner", required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean returns; the stub allows None for overrides
        if (
            not data.get("drug")
            and not (data.get("name") or "").strip()
            and (data.get("dose") or data.get("indication"))
        ):
            self.add_error("name", "Choose a drug from the list or type its name.")
        if data.get("drug") and data["drug"].is_bleeding_rule:
            # A catalogue blood thinner is one whether or not the box was ticked.
            data["is_blood_thinner"] = True
        return data

    @property
    def is_filled(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return bool(data.get("drug") or (data.get("name") or "").strip())

    def service_kwargs(self) -> MedicationValues:
        """The medication as ``actions.patients.medication_add`` and the booking take it."""
        data = self.cleaned_data
        return MedicationValues(
            name=data.get("name") or "",
            indication=data.get("indication") or "",
            drug=data.get("drug"),
            dose=data.get("dose") or "",
            is_blood_thinner=bool(data.get("is_blood_thinner")),
        )


# absolute_max: a posted TOTAL_FORMS of 1000 would otherwise build and render 1000 forms (seconds of CPU, megabytes).
MedicationFormSet = forms.formset_factory(MedicationForm, extra=3, max_num=10, absolute_max=10)


def anaesthesia_label(value: str) -> str:
    return dict(Anaesthesia.choices).get(value, value)


class ProcedureSelect(forms.Select):
    """Each procedure carries its default anaesthesia, so the menu can name it (workspace.js)."""

    def create_option(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(*args, **kwargs)
        procedure = getattr(option["value"], "instance", None)
        if procedure is not None:
            option["attrs"]["data-default-anaesthesia"] = anaesthesia_label(procedure.default_anaesthesia)
        return option


DEFAULT_ANAESTHESIA = "The procedure's default"


class SurgeryFieldsForm(forms.Form):
    procedure = forms.ModelChoiceField(
        label="Procedure",
        queryset=ProcedureVariant.objects.filter(active=True),
        to_field_name="slug",
        widget=ProcedureSelect,
    )
    start_date = forms.DateField(label="Date", widget=date_widget())
    start_time = forms.TimeField(label="Time", widget=time_widget(), help_text="Clinic time.")
    anaesthesia = forms.ChoiceField(
        label="Anaesthesia",
        required=False,
        choices=[("", DEFAULT_ANAESTHESIA), *Anaesthesia.choices],
        help_text="Blank: the procedure's default, named in the menu once a procedure is chosen.",
    )
    surgeon = forms.ModelChoiceField(
        label="Surgeon", queryset=User.objects.none(), to_field_name="email", required=False
    )
    place = forms.CharField(label="Place", required=False, max_length=200)
    level = forms.CharField(label="Level", required=False, max_length=60, help_text="e.g. L4-L5, V2")
    side = forms.ChoiceField(label="Side", required=False, choices=Side.choices)

    def __init__(self, *args: Any, clinic: Clinic, surgeons: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clinic = clinic
        cast(forms.ModelChoiceField, self.fields["surgeon"]).queryset = User.objects.filter(
            pk__in=[s.pk for s in surgeons]
        )
        self.fields["start_time"].help_text = f"Clinic time ({clinic.time_zone})."
        limit_fields(self)
        procedure = self._procedure()
        if procedure is not None:
            # Name the default, so that "the procedure's default" is never a guess.
            default = f"{DEFAULT_ANAESTHESIA}: {anaesthesia_label(procedure.default_anaesthesia)}"
            cast(forms.ChoiceField, self.fields["anaesthesia"]).choices = [("", default), *Anaesthesia.choices]

    def _procedure(self) -> ProcedureVariant | None:
        if self.is_bound:
            slug = self.data.get(self.add_prefix("procedure"))
            if not slug:
                return None
            try:
                # The field's own lookup: it turns any bad value (unknown, undecodable) into an error.
                return self.fields["procedure"].clean(slug)
            except ValidationError:
                return None
        value = self.initial.get("procedure")
        return value if isinstance(value, ProcedureVariant) else None

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean returns; the stub allows None for overrides
        day, time = data.get("start_date"), data.get("start_time")
        if day and time:
            # The wall time the nurse typed, in the clinic's zone (DST gaps read forward).
            start_at = planning.local_to_utc(dt.datetime.combine(day, time), self.clinic.tz)
            if start_at <= timezone.now():
                self.add_error("start_date", "The surgery time is in the past.")
            data["start_at"] = start_at
        return data

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "procedure": data["procedure"],
            "start_at": data["start_at"],
            "anaesthesia": data.get("anaesthesia") or "",
            "surgeon": data.get("surgeon"),
            "place": data.get("place") or "",
            "level": data.get("level") or "",
            "side": data.get("side") or "",
        }


SURGERY_ERROR_FIELDS = {"start_at": "start_date", "birth_date": "start_date"}


def surgery_initial(surgery: Surgery) -> dict[str, Any]:
    local = timezone.localtime(surgery.start_at, surgery.patient.clinic.tz)
    return {
        "procedure": surgery.procedure,
        "start_date": local.date(),
        "start_time": local.time().replace(second=0, microsecond=0),
        "anaesthesia": surgery.anaesthesia,
        "surgeon": surgery.surgeon,
        "place": surgery.place,
        "level": surgery.level,
        "side": surgery.side,
    }


class CancelForm(StyledForm):
    reason_code = forms.ChoiceField(
        label="Why is the surgery cancelled?",
        choices=[("", "Choose a reason…"), *CANCEL_REASON_GROUPS],
        error_messages={"required": "Choose why the surgery is cancelled."},
    )
    reason = forms.CharField(
        label="Details", max_length=300, required=False, help_text="Required when the reason is Other."
    )


class ItemVersionForm(StyledForm):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class ItemCompleteForm(ItemVersionForm):
    """Tick an item, with its result when the catalogue asks for one."""

    result_date = forms.DateField(label="Result date", widget=date_widget(), required=False)

    def __init__(self, *args: Any, item: ChecklistItem, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"id_{item.uuid.hex[:12]}_complete_%s")
        kwargs.setdefault("initial", {"version": item.version})
        super().__init__(*args, **kwargs)
        self.item = item
        ti = item.template_item
        kind = ti.result_kind if ti else ResultKind.NONE
        self.kind = kind
        # A short visible label; the item's title is there for screen readers, which read it out of the row.
        unit = f" ({ti.result_unit})" if ti and ti.result_unit else ""
        label = format_html('Result<span class="visually-hidden"> for {}</span>{}', item.title, unit)
        if ti and kind == ResultKind.CHOICE:
            choices = [("", "Choose…")] + [(c, c) for c in ti.result_choices]
            self.fields["result"] = forms.ChoiceField(label=label, choices=choices, required=False)
        elif kind == ResultKind.NUMBER:
            self.fields["result"] = forms.CharField(
                label=label,
                required=False,
                widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", "size": 6}),
            )
        elif kind == ResultKind.DATE:
            self.fields["result"] = forms.DateField(
                label=format_html('Date<span class="visually-hidden"> of {}</span>', item.title),
                required=False,
                widget=date_widget(),
            )
        elif kind == ResultKind.TEXT:
            self.fields["result"] = forms.CharField(label=label, required=False, max_length=200)
        if kind in (ResultKind.NONE, ResultKind.DATE):
            del self.fields["result_date"]
        else:
            self.fields["result_date"].label = format_html(
                'Result date<span class="visually-hidden"> for {} (blank: today)</span>', item.title
            )
        self.order_fields(["result", "result_date", "version"])
        style_fields(self)

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        result = data.get("result") or ""
        if isinstance(result, dt.date):
            # A date result (e.g. the MRI) is also when the result was obtained.
            return {"result": result.isoformat(), "result_date": result}
        return {"result": str(result), "result_date": data.get("result_date")}


REASON_LABELS = {"not_applicable": "Why it does not apply", "undo": "Why reopen it"}


class ItemReasonForm(ItemVersionForm):
    reason = forms.CharField(label="Reason", max_length=300)

    def __init__(self, *args: Any, item: ChecklistItem, action: str, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"version": item.version})
        # Two reason forms can sit in one row: the action keeps their ids apart.
        kwargs.setdefault("auto_id", f"id_{item.uuid.hex[:12]}_{action}_%s")
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = REASON_LABELS[action]


HOLD_DECISIONS = {"approve": "Approve the hold", "decline": "Decline: the patient keeps taking it"}


class HoldDecisionForm(ItemVersionForm):
    # No answer is pre-selected: one click on the button must never approve a hold by default.
    decision = forms.ChoiceField(
        label="Decision",
        choices=[("", "Choose…"), *HOLD_DECISIONS.items()],
        error_messages={"required": "Choose whether to approve or decline the hold."},
    )
    hold_days = forms.IntegerField(label="Hold for (days)", min_value=1, max_value=30, required=False)
    note = forms.CharField(label="Note", required=False, max_length=300)

    def __init__(self, *args: Any, item: ChecklistItem, needs_days: bool, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"version": item.version})
        kwargs.setdefault("auto_id", f"id_{item.uuid.hex[:12]}_hold_%s")
        super().__init__(*args, **kwargs)
        if not needs_days:
            del self.fields["hold_days"]
        if item.drug is not None and item.drug.family == "glp1":
            # GLP-1 agonists: most patients continue with a clear-liquid day instead (clinical-reference 5b).
            decision = cast(forms.ChoiceField, self.fields["decision"])
            decision.choices = [
                # Django normalises choices to a list when they are set; the stub types the getter
                # like the setter's input (a mapping, a callable...), which is not iterable.
                *decision.choices,  # type: ignore[misc]
                ("liquid_diet", "Keep taking it, with clear liquids only for 24 hours before"),
            ]
        style_fields(self)


class GoDecisionForm(StyledForm):
    # Never bound to the current decision as its initial value: a decision is made, not re-submitted.
    decision = forms.ChoiceField(
        label="Decision",
        choices=[("go", "Go"), ("no_go", "No go")],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose go or no go."},
    )
    no_go_reason = forms.ChoiceField(
        label="Reason for no go",
        choices=[("", "Choose a reason…"), *CANCEL_REASON_GROUPS],
        required=False,
    )
    note = forms.CharField(
        label="Note (required for no go with the reason Other)",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    override = forms.CharField(
        label="Reason to go ahead although the patient is not ready",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Needed for Go while required items are open; shown on the board and the print sheet.",
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("decision") == "no_go" and not data.get("no_go_reason"):
            self.add_error("no_go_reason", "Choose why the surgery will not go ahead.")
        return data


class NoteForm(StyledForm):
    kind = forms.ChoiceField(label="Type", choices=NoteKind.choices, initial=NoteKind.CALL)
    outcome = forms.ChoiceField(label="Call outcome", choices=CallOutcome.choices, required=False)
    text = forms.CharField(label="What was said or done", widget=forms.Textarea(attrs={"rows": 3}), max_length=4000)


class PatientSearchForm(StyledForm):
    q = forms.CharField(label="Find a patient by name or MRN", required=False, max_length=100)


class DocumentUploadForm(forms.Form):
    """A document for an item; what it may be is checked by the service, from its bytes."""

    # Empty files and long names pass here: the service refuses them with its own words.
    file = forms.FileField(
        label="Document", allow_empty_file=True, error_messages={"required": "Choose a file to attach."}
    )


DASHBOARD_MAX_WEEKS = 53


class DashboardFilterForm(StyledForm):
    """The clinic dashboard's period (whole weeks, clinic time), procedure and surgeon (the clinic's own)."""

    start = forms.DateField(label="From the week of", widget=date_widget(), required=False)
    end = forms.DateField(label="To the week of", widget=date_widget(), required=False)
    procedure = forms.ChoiceField(label="Procedure", required=False)
    surgeon = forms.ChoiceField(label="Surgeon", required=False)

    def __init__(self, *args: Any, procedures: list[ProcedureVariant], surgeons: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["procedure"]).choices = [("", "All procedures")] + [
            (p.slug, p.name) for p in procedures
        ]
        cast(forms.ChoiceField, self.fields["surgeon"]).choices = [("", "All surgeons")] + [
            (s.email, s.display_name) for s in surgeons
        ]
        self.procedures = {p.slug: p for p in procedures}
        self.surgeons = {s.email: s for s in surgeons}

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                self.add_error("end", "The period must end on or after its first week.")
            elif (end - start).days // 7 + 1 > DASHBOARD_MAX_WEEKS:
                self.add_error("end", f"Choose at most {DASHBOARD_MAX_WEEKS} weeks.")
        return data
