"""Bookings: book (with a new patient and their medications), reschedule or change, cancel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from accounts.models import User
from actions.patients import MedicationValues
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
    surgery_values: Mapping[str, Any],
) -> Surgery:
    """The booking form: a patient (``patient``, or a new one from ``patient_values``), the
    medications they take, and the surgery, all or nothing.

    The medications are recorded before the surgery is booked so that its checklist is planned
    from them; any other active booking of the patient is planned again too.
    """
    if patient is None:
        if patient_values is None:
            raise ValueError("booking_create needs a patient or the values of a new one")
        patient = services.patient_create(clinic=clinic, by=by, **patient_values)
    for values in medications:
        services.medication_add(patient=patient, by=by, **values)
    surgery = services.surgery_book(patient=patient, by=by, **surgery_values)
    if medications:
        planner.patient_changed(patient=patient)
    else:
        planner.surgery_changed(surgery=surgery)
    return surgery


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
