"""Writes on patients, medications and bookings. Each keeps the checklist right in the same transaction.

The reminder plan is the actions' to re-plan (``actions/``), after these return.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import permissions as perms
from accounts.models import User

# Re-exported: the booking actions and their callers find every go / no-go action here.
from patients.go_decisions import withdraw_go_if_needed as withdraw_go_if_needed
from patients.models import (
    ACTIVE_SURGERY_STATUSES,
    Anaesthesia,
    CancelReason,
    Clinic,
    GoDecision,
    Guardian,
    Medication,
    Patient,
    Surgery,
    SurgeryStatus,
)
from patients.validators import normalize_mobile
from prep import medicines
from prep.models import ChecklistItem, Drug, KnownMedicine, ProcedureVariant
from prep.planning import PlanningError
from prep.selectors import Readiness, ReadinessReport, readiness_compute
from prep.services import (
    HISTORY_REASON_MAX,
    checklist_close,
    checklist_generate,
    checklist_refresh,
)

PATIENT_FIELDS = (
    "mrn",
    "first_name",
    "last_name",
    "birth_date",
    "sex",
    "language",
    "time_zone",
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
# Facts the checklist is planned from: a change re-plans every active booking of the patient.
CLINICAL_FIELDS = (
    "birth_date",
    "sex",
    "claustrophobic",
    "cardiac_history",
    "impaired_renal_function",
    "latex_allergy",
    "stent",
    "stent_date",
    "mechanical_heart_valve",
    "atrial_fibrillation",
    "vte_date",
    "stroke_date",
    "diabetes",
    "crcl_ml_min",
)


def _clean(obj: Any, exclude: tuple[str, ...] = ()) -> None:
    obj.full_clean(exclude=list(exclude), validate_constraints=False)


BOOKING_HORIZON_DAYS = 730
MRN_TAKEN = "A patient with this record number already exists in this clinic."


def _check_mrn(patient: Patient) -> None:
    # Checked here to name the field; the unique constraint still guards against a race.
    if Patient.objects.filter(clinic_id=patient.clinic_id, mrn=patient.mrn).exclude(pk=patient.pk).exists():
        raise ValidationError({"mrn": MRN_TAKEN})


# The oldest plausible patient: a birth year like 1850 is a typing error, not a patient.
MAX_AGE_YEARS = 120


def oldest_birth_date(*, today: dt.date | None = None) -> dt.date:
    """The earliest birth date accepted (``MAX_AGE_YEARS`` before today; 29 Feb falls back to 28)."""
    today = today or timezone.localdate()
    try:
        return today.replace(year=today.year - MAX_AGE_YEARS)
    except ValueError:
        return today.replace(year=today.year - MAX_AGE_YEARS, day=28)


def _patient_values(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(PATIENT_FIELDS)
    if unknown:
        raise ValueError(f"unknown patient fields: {sorted(unknown)}")
    values = dict(values)
    if "mobile" in values:
        try:
            values["mobile"] = normalize_mobile(values["mobile"])
        except ValidationError as exc:
            raise ValidationError({"mobile": exc.messages}) from None
    birth = values.get("birth_date")
    if isinstance(birth, dt.date) and birth > timezone.localdate():
        raise ValidationError({"birth_date": "The birth date cannot be in the future."})
    if isinstance(birth, dt.date) and birth < oldest_birth_date():
        raise ValidationError(
            {
                "birth_date": f"A birth date before {oldest_birth_date():%Y} would make the patient older than "
                f"{MAX_AGE_YEARS}: check the year."
            }
        )
    return values


@transaction.atomic
def patient_create(*, clinic: Clinic, by: User | None, **values: Any) -> Patient:
    values = _patient_values(values)
    patient = Patient(clinic=clinic, created_by=by, updated_by=by, **values)
    if patient.sms_consent:
        patient.sms_consent_at = timezone.now()
    _clean(patient)
    _check_mrn(patient)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError:
        raise ValidationError({"mrn": MRN_TAKEN}) from None
    return patient


# What the reminder plan reads from the patient (see reminders.planner.reminders_wanted).
CONTACT_FIELDS = (
    "email",
    "mobile",
    "channel_email",
    "channel_sms",
    "sms_consent",
    "sms_opted_out_at",
    "time_zone",
    "needs_guardian",
)


def patient_plan_inputs(patient: Patient) -> tuple[Any, ...]:
    """What the checklist and the reminder plan read from the patient: when it changes, both follow."""
    return tuple(getattr(patient, name) for name in (*CLINICAL_FIELDS, *CONTACT_FIELDS))


@transaction.atomic
def patient_update(*, patient: Patient, by: User | None, reason: str = "", **values: Any) -> Patient:
    """``reason``: why, for the history rows of the patient and their checklists (e.g. the questionnaire
    the change came from); blank for an edit on the patient's page."""
    values = _patient_values(values)
    clinical_before = tuple(getattr(patient, name) for name in CLINICAL_FIELDS)
    for name, value in values.items():
        setattr(patient, name, value)
    if values.get("sms_consent") and not patient.sms_consent_at:
        patient.sms_consent_at = timezone.now()
    patient.updated_by = by
    if reason:
        patient._change_reason, patient._history_user = reason[:HISTORY_REASON_MAX], by
    _clean(patient, exclude=("clinic",))
    _check_mrn(patient)
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError:
        raise ValidationError({"mrn": MRN_TAKEN}) from None
    if tuple(getattr(patient, name) for name in CLINICAL_FIELDS) != clinical_before:
        for surgery in _active_surgeries(patient):
            checklist_refresh(
                surgery=surgery,
                by=by,
                reason=f"{reason}: patient details changed" if reason else "patient details changed",
            )
    return patient


# --- Guardians ---------------------------------------------------------------------------------

GUARDIAN_FIELDS = (
    "first_name",
    "last_name",
    "relationship",
    "birth_year",
    "language",
    "email",
    "mobile",
    "channel_email",
    "channel_sms",
    "sms_consent",
    "sms_detailed",
    "is_primary",
    "receives_messages",
)
# What the reminder plan reads from a guardian: a change re-plans the patient's bookings.
GUARDIAN_PLAN_FIELDS = (
    "language",
    "email",
    "mobile",
    "channel_email",
    "channel_sms",
    "sms_consent",
    "sms_opted_out_at",
    "sms_detailed",
    "receives_messages",
)


def guardian_plan_inputs(guardian: Guardian) -> tuple[Any, ...]:
    return tuple(getattr(guardian, name) for name in GUARDIAN_PLAN_FIELDS)


def _guardian_values(values: dict[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(GUARDIAN_FIELDS)
    if unknown:
        raise ValueError(f"unknown guardian fields: {sorted(unknown)}")
    values = dict(values)
    for name in ("first_name", "last_name", "email"):
        if name in values:
            values[name] = (values[name] or "").strip()
    if "mobile" in values:
        try:
            values["mobile"] = normalize_mobile(values["mobile"])
        except ValidationError as exc:
            raise ValidationError({"mobile": exc.messages}) from None
    return values


# Born before the patient, necessarily (an adult's legal guardian or carer may be younger).
PARENTS = ("mother", "father", "grandparent")


def _check_guardian(guardian: Guardian, patient: Patient) -> None:
    """What a form cannot see alone: the year against the patient's birth, a way to reach them."""
    errors: dict[str, str] = {}
    year = guardian.birth_year
    this_year = timezone.localdate().year
    if year is not None and not (this_year - MAX_AGE_YEARS <= year <= this_year):
        errors["birth_year"] = (
            f"Give the guardian's year of birth as four digits, between {this_year - MAX_AGE_YEARS} and {this_year}."
        )
    elif year is not None and guardian.relationship in PARENTS and year >= patient.birth_date.year:
        errors["birth_year"] = (
            f"A {guardian.get_relationship_display().lower()}'s year of birth ({year}) must be before the patient's "
            f"({patient.birth_date.year}): check the year."
        )
    if guardian.receives_messages and not (guardian.email or guardian.mobile):
        errors["email"] = "Give the guardian's email address or mobile number: messages go to the guardian."
    if guardian.channel_sms and not guardian.mobile:
        errors["mobile"] = "Texts are ticked: give the guardian's mobile number."
    if guardian.channel_sms and not guardian.sms_consent:
        errors["sms_consent"] = "Texts are ticked: the guardian must agree to receive them."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def guardian_create(*, patient: Patient, by: User | None, **values: Any) -> Guardian:
    """A parent or guardian for ``patient``. ``by`` is staff (or an API token) of the patient's clinic."""
    perms.require(by, perms.EDIT, perms.KIND_GUARDIAN)
    values = _guardian_values(values)
    if not values.get("is_primary") and not patient.guardians.filter(is_primary=True).exists():
        values["is_primary"] = True  # the first guardian is the main contact until staff say otherwise
    guardian = Guardian(patient=patient, created_by=by, updated_by=by, **values)
    if guardian.sms_consent:
        guardian.sms_consent_at = timezone.now()
    _clean(guardian, exclude=("patient",))
    _check_guardian(guardian, patient)
    guardian.save()
    if guardian.is_primary:
        patient.guardians.exclude(pk=guardian.pk).filter(is_primary=True).update(is_primary=False)
    return guardian


@transaction.atomic
def guardian_update(*, guardian: Guardian, by: User | None, reason: str = "", **values: Any) -> Guardian:
    """Change a guardian's details. ``by`` None: the guardian's own choice in the portal (channels,
    language, STOP), which the caller names in ``reason``."""
    if by is not None:
        perms.require(by, perms.EDIT, perms.KIND_GUARDIAN)
    values = _guardian_values(values)
    for name, value in values.items():
        setattr(guardian, name, value)
    if values.get("sms_consent") and not guardian.sms_consent_at:
        guardian.sms_consent_at = timezone.now()
    guardian.updated_by = by
    if reason:
        guardian._change_reason, guardian._history_user = reason[:HISTORY_REASON_MAX], by
    _clean(guardian, exclude=("patient",))
    _check_guardian(guardian, guardian.patient)
    guardian.save()
    if values.get("is_primary"):
        Guardian.objects.filter(patient_id=guardian.patient_id, is_primary=True).exclude(pk=guardian.pk).update(
            is_primary=False
        )
    return guardian


def guardian_missing_message(*, patient: Patient, day: dt.date) -> str | None:
    """Why ``patient`` cannot be booked now without a guardian, or None when they can."""
    if not patient.guardian_required_on(day):
        return None
    if any(g.reachable for g in patient.guardians.all()):
        return None
    why = "is under 18" if day < patient.adult_from else "is marked as needing a parent or guardian"
    return (
        f"{patient.first_name} {why}: add a parent or guardian with an email address or mobile number "
        "(messages and the portal sign-in go to them, not to the patient). Nothing was saved."
    )


def _active_surgeries(patient: Patient) -> list[Surgery]:
    return list(patient.surgeries.filter(status__in=ACTIVE_SURGERY_STATUSES, checklist__isnull=False))


@transaction.atomic
def medication_add(
    *,
    patient: Patient,
    by: User | None,
    name: str = "",
    indication: str = "",
    drug: Any = None,
    dose: str = "",
    is_blood_thinner: bool = False,
    reason: str = "",
) -> Medication:
    name = (name or "").strip() or (drug.name if drug else "")
    if not name:
        raise ValidationError({"name": "Name the medication."})
    if drug is None:
        # What the nurse typed is read once here ("Eliquis 5 mg" is apixaban), so the record, the
        # FHIR export and the pages name the catalogue drug; an ambiguous name stays free text and
        # planning asks the prescriber.
        read = medicines.build(Drug.objects.all(), KnownMedicine.objects.all()).resolve(name)
        rows = [d for d in read.drugs if not indication or d.indication == indication]
        if len(rows) == 1 and "close spelling" not in read.how:  # a guess stays visible as a guess
            drug = rows[0]
        elif read.drugs and all(d.is_bleeding_rule for d in read.drugs):
            is_blood_thinner = True
    medication = Medication(
        patient=patient,
        drug=drug,
        name=name,
        indication=indication,
        dose=dose,
        is_blood_thinner=is_blood_thinner or (drug is not None and drug.is_bleeding_rule),
        created_by=by,
        updated_by=by,
    )
    _clean(medication)
    if reason:
        medication._change_reason, medication._history_user = reason[:HISTORY_REASON_MAX], by
    medication.save()
    for surgery in _active_surgeries(patient):
        why = f"medication added: {name}"
        checklist_refresh(surgery=surgery, by=by, reason=f"{reason}: {why}" if reason else why)
    return medication


@transaction.atomic
def medication_stop(*, medication: Medication, by: User | None) -> Medication:
    medication.stopped_at = timezone.now()
    medication.updated_by = by
    medication.save(update_fields=["stopped_at", "updated_by", "updated_at"])
    for surgery in _active_surgeries(medication.patient):
        checklist_refresh(surgery=surgery, by=by, reason=f"medication stopped: {medication.name}")
    return medication


def _validate_booking(*, patient: Patient, start_at: dt.datetime, anaesthesia: str, now: dt.datetime) -> None:
    errors: dict[str, str] = {}
    if timezone.is_naive(start_at):
        errors["start_at"] = "The surgery time needs a time zone."
    elif start_at <= now:
        errors["start_at"] = "The surgery time is in the past."
    elif start_at > now + dt.timedelta(days=BOOKING_HORIZON_DAYS):
        # Also keeps every derived date (follow-up, reminders) inside the calendar.
        errors["start_at"] = f"The surgery time is more than {BOOKING_HORIZON_DAYS // 365} years away: check the year."
    elif patient.birth_date >= start_at.astimezone(patient.clinic.tz).date():
        errors["start_at"] = "The surgery date must be after the patient's birth date."
    if anaesthesia not in Anaesthesia.values:
        errors["anaesthesia"] = f"Choose one of: {', '.join(Anaesthesia.values)}."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def surgery_book(
    *,
    patient: Patient,
    procedure: ProcedureVariant,
    start_at: dt.datetime,
    by: User | None,
    anaesthesia: str = "",
    surgeon: User | None = None,
    place: str = "",
    level: str = "",
    side: str = "",
) -> Surgery:
    """Book a procedure and generate its checklist, all or nothing."""
    anaesthesia = anaesthesia or procedure.default_anaesthesia
    _validate_booking(patient=patient, start_at=start_at, anaesthesia=anaesthesia, now=timezone.now())
    if surgeon is not None and surgeon.clinic_id != patient.clinic_id:
        raise ValidationError({"surgeon": "The surgeon must belong to the patient's clinic."})
    surgery = Surgery(
        patient=patient,
        clinic_id=patient.clinic_id,
        procedure=procedure,
        start_at=start_at,
        anaesthesia=anaesthesia,
        surgeon=surgeon,
        place=place,
        level=level,
        side=side,
        created_by=by,
        updated_by=by,
    )
    _clean(surgery)
    surgery.save()
    try:
        checklist_generate(surgery=surgery, by=by)
    except PlanningError as exc:
        raise ValidationError({exc.field: str(exc)}) from None
    return surgery


@transaction.atomic
def surgery_update(*, surgery: Surgery, by: User | None, reason: str = "booking changed", **changes: Any) -> Surgery:
    """Reschedule, change the procedure or anaesthesia, and re-plan the checklist."""
    allowed = {"start_at", "procedure", "anaesthesia", "surgeon", "place", "level", "side"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"unknown surgery fields: {sorted(unknown)}")
    surgery = Surgery.objects.select_for_update().select_related("patient__clinic").get(pk=surgery.pk)
    if not surgery.is_active:
        raise ValidationError({"status": f"A {surgery.get_status_display().lower()} surgery cannot be changed."})
    start_at = changes.get("start_at", surgery.start_at)
    anaesthesia = changes.get("anaesthesia", surgery.anaesthesia)
    if "start_at" in changes or "anaesthesia" in changes:
        _validate_booking(patient=surgery.patient, start_at=start_at, anaesthesia=anaesthesia, now=timezone.now())
    moved = "start_at" in changes and changes["start_at"] != surgery.start_at
    for name, value in changes.items():
        setattr(surgery, name, value)
    if moved:
        surgery.version += 1
        surgery.go_decision, surgery.go_decided_at, surgery.go_decided_by = GoDecision.PENDING, None, None
    surgery.updated_by = by
    _clean(surgery)
    surgery._change_reason, surgery._history_user = reason[:HISTORY_REASON_MAX], by
    surgery.save()
    if "procedure" in changes:
        _switch_template(surgery)
    checklist_refresh(surgery=surgery, by=by, reason=reason)
    return surgery


def _switch_template(surgery: Surgery) -> None:
    from prep.models import Checklist

    template = surgery.procedure.template
    Checklist.objects.filter(surgery=surgery).update(template=template, catalogue_version=template.version)


def _reason_code(code: str, *, field: str) -> str:
    code = (code or "").strip() or CancelReason.OTHER
    if code not in CancelReason.values:
        raise ValidationError(
            {field: f"{code!r} is not a reason of the list; choose one of: {', '.join(CancelReason.values)}."}
        )
    return code


@transaction.atomic
def surgery_cancel(*, surgery: Surgery, by: User | None, reason: str = "", reason_code: str = "") -> Surgery:
    """Cancel, with a reason from ``CancelReason`` (``other`` when none is given) and a note,
    which ``other`` requires."""
    reason = (reason or "").strip()
    code = _reason_code(reason_code, field="reason_code")
    if not reason and code == CancelReason.OTHER:
        raise ValidationError({"reason": "Say why the surgery is cancelled."})
    surgery = Surgery.objects.select_for_update().get(pk=surgery.pk)
    if surgery.status == SurgeryStatus.CANCELLED:
        raise ValidationError({"status": "This surgery is already cancelled."})
    surgery.status = SurgeryStatus.CANCELLED
    surgery.version += 1
    surgery.updated_by = by
    surgery.cancel_reason, surgery.cancel_note, surgery.cancelled_at = code, reason[:2000], timezone.now()
    label = CancelReason(code).label
    reason = f"{label}: {reason}" if reason else label
    surgery._change_reason, surgery._history_user = f"Cancelled: {reason}"[:HISTORY_REASON_MAX], by
    surgery.save(
        update_fields=["status", "version", "cancel_reason", "cancel_note", "cancelled_at", "updated_by", "updated_at"]
    )
    checklist_close(surgery=surgery, by=by, reason=f"Surgery cancelled: {reason}")
    return surgery


@transaction.atomic
def surgery_record_go_decision(
    *, surgery: Surgery, by: User, decision: str, note: str = "", override: str = "", no_go_reason: str = ""
) -> Surgery:
    """Record go / no go. Go on a patient who is not ready needs an explicit override with a reason.

    Readiness is computed here from the items (not trusted from the page the decider saw), under a
    lock on the surgery so that a change arriving at the same moment is either seen or withdraws it.
    """
    perms.require(by, perms.DECIDE, perms.KIND_SURGERY)
    if decision not in (GoDecision.GO, GoDecision.NO_GO):
        raise ValidationError({"decision": "Choose go or no go."})
    no_go_code = _reason_code(no_go_reason, field="no_go_reason") if decision == GoDecision.NO_GO else ""
    if no_go_code == CancelReason.OTHER and not note.strip():
        raise ValidationError({"note": "Say why the surgery will not go ahead."})
    surgery = Surgery.objects.select_for_update().select_related("patient__clinic").get(pk=surgery.pk)
    override = override.strip()
    if decision == GoDecision.GO:
        report = go_readiness(surgery=surgery)
        if report.state != Readiness.READY and not override:
            raise ValidationError(
                {
                    "override": f"The patient is not ready ({report.label.lower()}: {report.done} of "
                    f"{report.required} required items done, {report.overdue} overdue). To go ahead anyway, "
                    "give the reason for overriding the checklist."
                }
            )
        if report.state == Readiness.READY:
            override = ""  # nothing was overridden
    else:
        override = ""
    surgery.go_decision, surgery.go_decision_note = decision, note.strip()
    surgery.no_go_reason = no_go_code
    surgery.go_override_reason = override[:1000]
    surgery.go_withdrawn_at, surgery.go_withdrawn_reason = None, ""
    surgery.go_decided_at, surgery.go_decided_by, surgery.updated_by = timezone.now(), by, by
    surgery._change_reason = ("Go over the checklist: " + override if override else f"Decision: {decision}")[
        :HISTORY_REASON_MAX
    ]
    surgery._history_user = by
    surgery.save(
        update_fields=[
            "go_decision",
            "go_decision_note",
            "no_go_reason",
            "go_override_reason",
            "go_withdrawn_at",
            "go_withdrawn_reason",
            "go_decided_at",
            "go_decided_by",
            "updated_by",
            "updated_at",
        ]
    )
    return surgery


def go_readiness(*, surgery: Surgery) -> ReadinessReport:
    """The surgery's readiness now, from its items (one query)."""
    items = list(ChecklistItem.objects.filter(checklist__surgery=surgery))
    return readiness_compute(surgery=surgery, items=items, clinic=surgery.patient.clinic)
