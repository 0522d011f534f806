"""One permission-checked fetch per entity. Every view, API endpoint and export uses these.

Staff reach the patients of their own clinic; anything else is a 404, so that an id from another
clinic cannot even be confirmed to exist. Each fetch notes what it touched for the access log
(``audit``), which writes one row per request.
"""

from __future__ import annotations

import uuid as uuid_lib

from django.db.models import F, QuerySet
from django.http import Http404

from accounts.models import User
from audit import context as audit
from patients.models import Patient, Surgery
from prep.models import ChecklistItem


def _uuid(value: object, kind: str) -> uuid_lib.UUID:
    try:
        return uuid_lib.UUID(str(value))
    except (TypeError, ValueError):
        audit.note_denied(kind=kind)
        raise Http404("No such record.") from None


def _require_staff(user: User, kind: str) -> None:
    if not getattr(user, "is_authenticated", False) or not user.is_active or user.clinic_id is None:
        audit.note_denied(kind=kind)
        raise Http404("No such record.")


def patients_for_user(user: User) -> QuerySet[Patient]:
    _require_staff(user, "patients")
    audit.note(kind="patients")
    return Patient.objects.filter(clinic_id=user.clinic_id)


def surgeries_for_user(user: User) -> QuerySet[Surgery]:
    _require_staff(user, "surgeries")
    audit.note(kind="surgeries")
    return Surgery.objects.filter(patient__clinic_id=user.clinic_id)


def items_for_user(user: User) -> QuerySet[ChecklistItem]:
    _require_staff(user, "items")
    audit.note(kind="items")
    return ChecklistItem.objects.filter(checklist__surgery__patient__clinic_id=user.clinic_id)


def patient_get_for_user(*, user: User, uuid: object, qs: QuerySet[Patient] | None = None) -> Patient:
    _require_staff(user, "patient")
    base = qs if qs is not None else Patient.objects.all()
    try:
        patient = base.filter(clinic_id=user.clinic_id).get(uuid=_uuid(uuid, "patient"))
    except Patient.DoesNotExist:
        audit.note_denied(kind="patient")
        raise Http404("No such patient.") from None
    audit.note(kind="patient", patient_id=patient.pk)
    return patient


def surgery_get_for_user(*, user: User, uuid: object, qs: QuerySet[Surgery] | None = None) -> Surgery:
    _require_staff(user, "surgery")
    base = qs if qs is not None else Surgery.objects.all()
    try:
        surgery = base.filter(patient__clinic_id=user.clinic_id).get(uuid=_uuid(uuid, "surgery"))
    except Surgery.DoesNotExist:
        audit.note_denied(kind="surgery")
        raise Http404("No such surgery.") from None
    audit.note(kind="surgery", patient_id=surgery.patient_id)
    return surgery


def item_get_for_user(*, user: User, uuid: object, qs: QuerySet[ChecklistItem] | None = None) -> ChecklistItem:
    _require_staff(user, "item")
    base = qs if qs is not None else ChecklistItem.objects.all()
    try:
        item = (
            base.filter(checklist__surgery__patient__clinic_id=user.clinic_id)
            .annotate(audit_patient_id=F("checklist__surgery__patient_id"))
            .get(uuid=_uuid(uuid, "item"))
        )
    except ChecklistItem.DoesNotExist:
        audit.note_denied(kind="item")
        raise Http404("No such item.") from None
    audit.note(kind="item", patient_id=item.audit_patient_id)
    return item
