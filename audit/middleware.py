"""One access-log row for every request that shows or changes patient data (and ``no-store``).

Views fetch patient data only through ``patients.access`` (staff) or the portal's own fetch, which
note what they touched in ``audit.context``; a request that noted something, or whose URL names
a record (a ``*uuid*`` or ``token`` argument), gets exactly one row, allowed or denied.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit import context
from audit.services import access_log_record


def _names_a_record(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    return bool(match and any("uuid" in key or key == "token" for key in match.kwargs))


class AccessLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = context.begin()
        try:
            response = self.get_response(request)
        finally:
            access = context.end(token)
        if access is not None and (access.kinds or _names_a_record(request)):
            # Patient data never sits in a browser's or a proxy's cache.
            response["Cache-Control"] = "no-store"
            match = getattr(request, "resolver_match", None)
            view = match.view_name if match else "unresolved"
            allowed = not access.denied and response.status_code < 400 and not _is_login_redirect(response)
            user = getattr(request, "user", None)
            patient_id = access.patient_ids[0] if len(access.patient_ids) == 1 else None
            role = "patient" if access.actor is not None and not getattr(user, "is_authenticated", False) else ""
            guardian_id = access.actor_guardian_id if role == "patient" else None
            if guardian_id is not None:
                role = "guardian"  # a parent or guardian signed in for the patient: the row names them
            clinic_id = None
            if role in ("patient", "guardian") and patient_id is not None:
                # A portal request shows only the patient's own records: the clinic is the actor's.
                clinic_id = access.actor_clinic_id
            access_log_record(
                request=request,
                path=_redacted_path(request),
                action=f"{request.method} {view}",
                allowed=allowed,
                user=user,
                role=role or ("anonymous" if not getattr(user, "is_authenticated", False) else ""),
                clinic_id=clinic_id,
                patient_id=patient_id,
                guardian_id=guardian_id,
                patients_count=len(access.patient_ids),
                status_code=response.status_code,
            )
        return response


def _redacted_path(request: HttpRequest) -> str:
    """The path without secrets: a portal sign-in token must not outlive its single use here."""
    path = request.path
    match = getattr(request, "resolver_match", None)
    if match is not None and match.kwargs.get("token"):
        path = path.replace(str(match.kwargs["token"]), "<token>")
    return path


def _is_login_redirect(response: HttpResponse) -> bool:
    return response.status_code in (301, 302) and "/login" in response.get("Location", "")
