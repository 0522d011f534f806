"""One permission-checked fetch per entity. Every view, API endpoint and export uses these.

Staff reach the patients of their own clinic; anything else is a 404, so that an id from another
clinic cannot even be confirmed to exist.
"""

from __future__ import annotations

import uuid as uuid_lib

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from patients.models import Patient, Surgery
from prep.models import ChecklistItem


def _uuid(value: object) -> uuid_lib.UUID:
    try:
        return uuid_lib.UUID(str(value))
    except (TypeError, ValueError):
        raise Http404("No such record.") from None


def _require_staff(user: User) -> None:
    if not getattr(user, "is_authenticated", False) or not user.is_active or user.clinic_id is None:
        raise Http404("No such record.")


def patients_for_user(user: User) -> QuerySet[Patient]:
    _require_staff(user)
    return Patient.objects.filter(clinic_id=user.clinic_id)


def surgeries_for_user(user: User) -> QuerySet[Surgery]:
    _require_staff(user)
    return Surgery.objects.filter(patient__clinic_id=user.clinic_id)


def items_for_user(user: User) -> QuerySet[ChecklistItem]:
    _require_staff(user)
    return ChecklistItem.objects.filter(checklist__surgery__patient__clinic_id=user.clinic_id)


def patient_get_for_user(*, user: User, uuid: object, qs: QuerySet[Patient] | None = None) -> Patient:
    _require_staff(user)
    base = qs if qs is not None else Patient.objects.all()
    try:
        return base.filter(clinic_id=user.clinic_id).get(uuid=_uuid(uuid))
    except Patient.DoesNotExist:
        raise Http404("No such patient.") from None


def surgery_get_for_user(*, user: User, uuid: object, qs: QuerySet[Surgery] | None = None) -> Surgery:
    _require_staff(user)
    base = qs if qs is not None else Surgery.objects.all()
    try:
        return base.filter(patient__clinic_id=user.clinic_id).get(uuid=_uuid(uuid))
    except Surgery.DoesNotExist:
        raise Http404("No such surgery.") from None


def item_get_for_user(*, user: User, uuid: object, qs: QuerySet[ChecklistItem] | None = None) -> ChecklistItem:
    _require_staff(user)
    base = qs if qs is not None else ChecklistItem.objects.all()
    try:
        return base.filter(checklist__surgery__patient__clinic_id=user.clinic_id).get(uuid=_uuid(uuid))
    except ChecklistItem.DoesNotExist:
        raise Http404("No such item.") from None
