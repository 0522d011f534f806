"""What the current request touched, noted by the permission-checked fetches (patients.access).

A context variable, so it is per request in threads and in async code alike; the middleware turns
it into exactly one access-log row per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class RequestAccess:
    patient_ids: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    denied: bool = False
    actor: object | None = None  # a portal patient, when the request is the patient's own
    actor_clinic_id: int | None = None  # that patient's clinic, noted by the caller (audit is below patients)
    actor_guardian_id: int | None = None  # the parent or guardian signed in for that patient


_current: ContextVar[RequestAccess | None] = ContextVar("audit_request_access", default=None)


def begin() -> object:
    return _current.set(RequestAccess())


def end(token: object) -> RequestAccess | None:
    value = _current.get()
    _current.reset(token)  # type: ignore[arg-type]
    return value


def note(*, kind: str, patient_id: int | None = None) -> None:
    access = _current.get()
    if access is None:
        return
    access.kinds.append(kind)
    if patient_id is not None and patient_id not in access.patient_ids:
        access.patient_ids.append(patient_id)


def note_shown(*, kind: str, patient_ids: Iterable[int | None]) -> None:
    """A list, page or export showed these patients (the access-log row counts them)."""
    access = _current.get()
    if access is None:
        return
    access.kinds.append(kind)
    seen = set(access.patient_ids)
    for patient_id in patient_ids:
        if patient_id is not None and patient_id not in seen:
            seen.add(patient_id)
            access.patient_ids.append(patient_id)


def note_denied(*, kind: str) -> None:
    access = _current.get()
    if access is None:
        return
    access.kinds.append(kind)
    access.denied = True


def note_portal_patient(*, patient_id: int, clinic_id: int | None, guardian_id: int | None = None) -> None:
    """The request is made by a signed-in patient about himself, or by their guardian for them."""
    access = _current.get()
    if access is None:
        return
    access.actor = patient_id
    access.actor_clinic_id = clinic_id
    access.actor_guardian_id = guardian_id
    note(kind="portal", patient_id=patient_id)
