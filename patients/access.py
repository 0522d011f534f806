"""One permission-checked fetch per entity. Every view, API endpoint and export uses these.

Staff reach the patients of their own clinic; anything else is a 404, so that an id from another
clinic cannot even be confirmed to exist. Each fetch notes what it touched for the access log
(``audit``), which writes one row per request.
"""

from __future__ import annotations

import uuid as uuid_lib
from typing import Any

from django.db.models import F, QuerySet
from django.http import Http404

from accounts.models import User
from audit import context as audit
from documents.models import Document
from patients.models import Patient, Surgery
from prep.models import ChecklistItem


def _uuid(value: object, kind: str) -> uuid_lib.UUID:
    try:
        return uuid_lib.UUID(str(value))
    except (TypeError, ValueError):
        audit.note_denied(kind=kind)
        raise Http404("No such record.") from None


def _require_staff(user: User, kind: str) -> int:
    """The user's clinic id; a 404 (noted as denied) unless the user is active staff of a clinic."""
    if not getattr(user, "is_authenticated", False) or not user.is_active or user.clinic_id is None:
        audit.note_denied(kind=kind)
        raise Http404("No such record.")
    return user.clinic_id


def patients_for_user(user: User) -> QuerySet[Patient]:
    clinic_id = _require_staff(user, "patients")
    audit.note(kind="patients")
    return Patient.objects.filter(clinic_id=clinic_id)


def surgeries_for_user(user: User) -> QuerySet[Surgery]:
    clinic_id = _require_staff(user, "surgeries")
    audit.note(kind="surgeries")
    return Surgery.objects.filter(clinic_id=clinic_id)


def items_for_user(user: User) -> QuerySet[ChecklistItem]:
    clinic_id = _require_staff(user, "items")
    audit.note(kind="items")
    return ChecklistItem.objects.filter(checklist__surgery__clinic_id=clinic_id)


def _fetch(*, user: User, uuid: object, qs: QuerySet, kind: str, clinic_path: str, patient_path: str) -> Any:
    """The one row ``uuid`` names among those of the user's clinic, or a 404 (noted as denied)."""
    _require_staff(user, kind)
    try:
        row = (
            qs.filter(**{clinic_path: user.clinic_id})
            .annotate(audit_patient_id=F(patient_path))
            .get(uuid=_uuid(uuid, kind))
        )
    except qs.model.DoesNotExist:
        audit.note_denied(kind=kind)
        raise Http404(f"No such {kind}.") from None
    audit.note(kind=kind, patient_id=row.audit_patient_id)
    return row


def patient_get_for_user(*, user: User, uuid: object, qs: QuerySet[Patient] | None = None) -> Patient:
    return _fetch(
        user=user,
        uuid=uuid,
        qs=qs if qs is not None else Patient.objects.all(),
        kind="patient",
        clinic_path="clinic_id",
        patient_path="pk",
    )


def surgery_get_for_user(*, user: User, uuid: object, qs: QuerySet[Surgery] | None = None) -> Surgery:
    return _fetch(
        user=user,
        uuid=uuid,
        qs=qs if qs is not None else Surgery.objects.all(),
        kind="surgery",
        clinic_path="clinic_id",
        patient_path="patient_id",
    )


def item_get_for_user(*, user: User, uuid: object, qs: QuerySet[ChecklistItem] | None = None) -> ChecklistItem:
    return _fetch(
        user=user,
        uuid=uuid,
        qs=qs if qs is not None else ChecklistItem.objects.all(),
        kind="item",
        clinic_path="checklist__surgery__clinic_id",
        patient_path="checklist__surgery__patient_id",
    )


def document_get_for_user(*, user: User, uuid: object, qs: QuerySet[Document] | None = None) -> Document:
    """A document of the user's clinic (another clinic's is a 404), noted for the access log."""
    return _fetch(
        user=user,
        uuid=uuid,
        qs=qs if qs is not None else Document.objects.all(),
        kind="document",
        clinic_path="clinic_id",
        patient_path="item__checklist__surgery__patient_id",
    )
