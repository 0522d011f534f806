from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

from audit.models import AccessLog

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is trivially forged unless a trusted proxy rewrites it
    # (the proxy should set REMOTE_ADDR, e.g. gunicorn --forwarded-allow-ips).
    return request.META.get("REMOTE_ADDR") or None


def access_log_record(
    *,
    request: HttpRequest | None,
    action: str,
    allowed: bool,
    user: User | AnonymousUser | None = None,
    role: str = "",
    clinic_id: int | None = None,
    patient_id: int | None = None,
    guardian_id: int | None = None,
    patients_count: int = 0,
    status_code: int | None = None,
    email: str = "",
    path: str | None = None,
) -> AccessLog:
    if user is not None and user.is_authenticated:
        email = email or user.email
        role = role or getattr(user, "role", "")
        clinic_id = clinic_id or getattr(user, "clinic_id", None)
        user_id = user.pk
    else:
        user_id = None
    return AccessLog.objects.create(
        user_id=user_id,
        user_email=email[:254],
        role=role[:20],
        clinic_id=clinic_id,
        patient_id=patient_id,
        guardian_id=guardian_id,
        patients_count=patients_count,
        action=action[:120],
        path=(path if path is not None else (request.path if request is not None else ""))[:300],
        ip=client_ip(request) if request is not None else None,
        allowed=allowed,
        status_code=status_code,
    )
