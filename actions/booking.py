"""Bookings: book (with a new patient and their medications), reschedule or change, cancel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from actions.patients import GuardianValues, MedicationValues
from patients import services
from patients.models import Clinic, Patient, Surgery
from prep.models import ProcedureVariant
from reminders import planner


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
    """Book a procedure for a known patient: the surgery, its checklist and its reminders."""
    _require_guardian(patient)
    surgery = services.surgery_book(
        patient=patient,
        procedure=procedure,
        start_at=start_at,
        by=by,
        anaesthesia=anaesthesia,
        surgeon=surgeon,
        place=place,
        level=level,
        side=side,
    )
    planner.surgery_changed(surgery=surgery)
    return surgery


@transaction.atomic
def booking_create(
    *,
    clinic: Clinic,
    by: User | None,
    patient: Patient | None = None,
    patient_values: Mapping[str, Any] | None = None,
    medications: Sequence[MedicationValues] = (),
    guardians: Sequence[GuardianValues] = (),
    surgery_values: Mapping[str, Any],
) -> Surgery:
    """The booking form: a patient (``patient``, or a new one from ``patient_values``), the
    medications they take, their parents or guardians, and the surgery, all or nothing: a child
    booked without a guardian to reach is refused and nothing is saved.

    The medications are recorded before the surgery is booked so that its checklist is planned
    from them; any other active booking of the patient is planned again too.
    """
    if patient is None:
        if patient_values is None:
            raise ValueError("booking_create needs a patient or the values of a new one")
        patient = services.patient_create(clinic=clinic, by=by, **patient_values)
    for guardian in guardians:
        try:
            services.guardian_create(patient=patient, by=by, **guardian)
        except ValidationError as exc:
            # Named "guardian.<field>": the patient has fields of the same names (email, mobile).
            raise ValidationError(
                {
                    f"guardian.{name}": errors
                    for name, errors in getattr(exc, "message_dict", {"": exc.messages}).items()
                }
            ) from None
    _require_guardian(patient)
    for values in medications:
        services.medication_add(patient=patient, by=by, **values)
    surgery = services.surgery_book(patient=patient, by=by, **surgery_values)
    if medications or guardians:
        planner.patient_changed(patient=patient)
    else:
        planner.surgery_changed(surgery=surgery)
    return surgery


def _require_guardian(patient: Patient) -> None:
    """A patient who needs a guardian today cannot be booked without one to reach (the reminders
    and the sign-in link would have nobody to go to: the child's own contact gets nothing)."""
    message = services.guardian_missing_message(patient=patient, day=timezone.localdate(timezone=patient.tz))
    if message:
        raise ValidationError({"guardian": message})


@transaction.atomic
def surgery_update(*, surgery: Surgery, by: User | None, reason: str = "booking changed", **changes: Any) -> Surgery:
    """Reschedule, change the procedure, anaesthesia or surgeon: the checklist and reminders follow."""
    surgery = services.surgery_update(surgery=surgery, by=by, reason=reason, **changes)
    planner.surgery_changed(surgery=surgery)
    return surgery


@transaction.atomic
def surgery_cancel(*, surgery: Surgery, by: User | None, reason: str = "", reason_code: str = "") -> Surgery:
    """Cancel (a reason from ``patients.models.CancelReason`` and a note): the checklist closes and
    every reminder still to send is cancelled."""
    surgery = services.surgery_cancel(surgery=surgery, by=by, reason=reason, reason_code=reason_code)
    planner.surgery_changed(surgery=surgery)
    return surgery
