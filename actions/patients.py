"""Patients and their medications: writes whose effect reaches every active booking of the patient."""

from __future__ import annotations

from typing import Any, TypedDict

from django.db import transaction

from accounts.models import User
from patients import services
from patients.models import Clinic, Guardian, Medication, Patient
from prep.models import Drug
from reminders import planner


class MedicationValues(TypedDict):
    """A medication as a form gives it: ``medication_add``'s keyword arguments."""

    name: str
    indication: str
    drug: Drug | None
    dose: str
    is_blood_thinner: bool


class GuardianValues(TypedDict, total=False):
    """A guardian as a form gives it: ``guardian_add``'s keyword arguments."""

    first_name: str
    last_name: str
    relationship: str
    birth_year: int
    language: str
    email: str
    mobile: str
    channel_email: bool
    channel_sms: bool
    sms_consent: bool
    sms_detailed: bool
    is_primary: bool
    receives_messages: bool


@transaction.atomic
def patient_create(*, clinic: Clinic, by: User | None, **values: Any) -> Patient:
    # A new patient has no booking yet: no checklist and no reminder plan to follow.
    return services.patient_create(clinic=clinic, by=by, **values)


@transaction.atomic
def patient_update(*, patient: Patient, by: User | None, **values: Any) -> Patient:
    """Change the patient's details; the checklists and reminders of their active bookings follow.

    Re-planned only when something the plan reads changed (clinical facts, contact details,
    channels, consent): a new first name touches no reminder.
    """
    before = services.patient_plan_inputs(patient)
    patient = services.patient_update(patient=patient, by=by, **values)
    if services.patient_plan_inputs(patient) != before:
        planner.patient_changed(patient=patient)
    return patient


@transaction.atomic
def medication_add(
    *,
    patient: Patient,
    by: User | None,
    name: str = "",
    indication: str = "",
    drug: Drug | None = None,
    dose: str = "",
    is_blood_thinner: bool = False,
) -> Medication:
    """Record a medication; the checklists of the patient's active bookings are planned again."""
    medication = services.medication_add(
        patient=patient,
        by=by,
        name=name,
        indication=indication,
        drug=drug,
        dose=dose,
        is_blood_thinner=is_blood_thinner,
    )
    planner.patient_changed(patient=patient)
    return medication


@transaction.atomic
def medication_stop(*, medication: Medication, by: User | None) -> Medication:
    medication = services.medication_stop(medication=medication, by=by)
    planner.patient_changed(patient=medication.patient)
    return medication


@transaction.atomic
def guardian_add(*, patient: Patient, by: User | None, **values: Any) -> Guardian:
    """A parent or guardian for ``patient``: from now on the messages a child gets go to them."""
    guardian = services.guardian_create(patient=patient, by=by, **values)
    planner.patient_changed(patient=patient)
    return guardian


@transaction.atomic
def guardian_update(*, guardian: Guardian, by: User | None, reason: str = "", **values: Any) -> Guardian:
    """Change a guardian; the reminders follow when their contact, channels or consent changed."""
    before = services.guardian_plan_inputs(guardian)
    guardian = services.guardian_update(guardian=guardian, by=by, reason=reason, **values)
    if services.guardian_plan_inputs(guardian) != before or "is_primary" in values:
        planner.patient_changed(patient=guardian.patient)
    return guardian
