from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from audit.models import AccessLog


def access_log_search(*, user: User, patient: str = "", staff: str = "") -> QuerySet[AccessLog]:
    """The clinic's access log, newest first; ``patient`` matches a record number, ``staff`` an email."""
    if user.clinic_id is None:  # an operator: no clinic, so no clinic's log (not the rows without one)
        return AccessLog.objects.none()
    qs = AccessLog.objects.filter(clinic_id=user.clinic_id).select_related("patient", "user")
    if patient:
        qs = qs.filter(patient__mrn__iexact=patient.strip())
    if staff:
        qs = qs.filter(user_email__icontains=staff.strip())
    return qs.order_by("-at", "-id")
