"""Who may change what: ONE table of role x action x kind, read by every service that changes data.

The kind of a checklist item is its ``assignee`` (nurse, patient, surgeon), never its code: a
decision item is assigned to the surgeon (the prescriber), so every decision item the catalogue
grows (``hold_approval:<drug>`` for any drug, other prescriber decisions) is covered without a
line here. A surgery's go / no-go decision has the kind ``surgery``.

The services call :func:`require`; pages and the API only ask :func:`allowed` to hide what the
user may not do. Hiding a button is a courtesy, the service is the lock.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

# Roles: the staff roles of ``accounts.models.Role``, the API token's service user and the patient
# signed in to the portal (who is not a ``User``).
NURSE = "nurse"
SURGEON = "surgeon"
CLINIC_ADMIN = "clinic_admin"
SYSTEM = "system"
PATIENT = "patient"
ROLES = (NURSE, SURGEON, CLINIC_ADMIN, SYSTEM, PATIENT)

# Actions that change data.
COMPLETE = "complete"
NOT_APPLICABLE = "not_applicable"
UNDO = "undo"
ACCEPT = "accept"  # a nurse accepts a patient's confirmation
CONFIRM = "confirm"  # a patient confirms an item of his own
DECIDE = "decide"  # the prescriber's decision (a hold approval, go / no-go)
ATTACH = "attach"  # a document (ECG tracing, imaging report, signed consent) attached to an item
SUBMIT = "submit"  # a patient sends their health questionnaire
RECONCILE = "reconcile"  # staff accept or reject each line of a submitted questionnaire
EDIT = "edit"  # staff add or change a patient's parent or guardian
ACTIONS = (EDIT, COMPLETE, NOT_APPLICABLE, UNDO, ACCEPT, CONFIRM, DECIDE, ATTACH, SUBMIT, RECONCILE)

# Kinds: an item's assignee, or the surgery itself.
KIND_NURSE = "nurse"
KIND_PATIENT = "patient"
KIND_SURGEON = "surgeon"
KIND_SURGERY = "surgery"
KIND_QUESTIONNAIRE = "questionnaire"  # a patient's health questionnaire (issue 20)
KIND_GUARDIAN = "guardian"  # a patient's parent or guardian (issue 22)
KINDS = (KIND_NURSE, KIND_PATIENT, KIND_SURGEON, KIND_SURGERY, KIND_QUESTIONNAIRE, KIND_GUARDIAN)

_CARE_TEAM = frozenset({NURSE, SURGEON, CLINIC_ADMIN, SYSTEM})
_PRESCRIBER = frozenset({SURGEON})
_STAFF = frozenset({NURSE, SURGEON, CLINIC_ADMIN})

# (action, kind) -> roles allowed. Anything missing is refused. A clinic admin works as a nurse on
# nurse and patient items (small clinics) but never takes a prescriber's decision; an API token
# acts as a nurse does.
TABLE: dict[tuple[str, str], frozenset[str]] = {
    (COMPLETE, KIND_NURSE): _CARE_TEAM,
    (NOT_APPLICABLE, KIND_NURSE): _CARE_TEAM,
    (UNDO, KIND_NURSE): _CARE_TEAM,
    (COMPLETE, KIND_PATIENT): _CARE_TEAM,
    (NOT_APPLICABLE, KIND_PATIENT): _CARE_TEAM,
    (UNDO, KIND_PATIENT): _CARE_TEAM,
    (ACCEPT, KIND_PATIENT): _CARE_TEAM,
    (CONFIRM, KIND_PATIENT): frozenset({PATIENT}),
    (COMPLETE, KIND_SURGEON): _PRESCRIBER,
    (NOT_APPLICABLE, KIND_SURGEON): _PRESCRIBER,
    (UNDO, KIND_SURGEON): _PRESCRIBER,
    (DECIDE, KIND_SURGEON): _PRESCRIBER,
    (DECIDE, KIND_SURGERY): _PRESCRIBER,
    # A document is evidence, not a decision: the care team files it on any item (a nurse scans the
    # signed consent of a surgeon's item); the patient does not upload through the portal.
    (ATTACH, KIND_NURSE): _CARE_TEAM,
    (ATTACH, KIND_PATIENT): _CARE_TEAM,
    (ATTACH, KIND_SURGEON): _CARE_TEAM,
    # Only the patient sends answers; a person of the care team (not an API token: nothing the patient
    # says changes the plan without a nurse's eyes) decides what of them enters the record.
    (SUBMIT, KIND_QUESTIONNAIRE): frozenset({PATIENT}),
    (RECONCILE, KIND_QUESTIONNAIRE): _STAFF,
    # Who receives a child's messages is the care team's to record (an API token books with one);
    # the guardian changes only their own channels and language, through the portal.
    (EDIT, KIND_GUARDIAN): _CARE_TEAM,
}

_WHO = {
    _CARE_TEAM: "the care team",
    _STAFF: "the clinic's staff",
    _PRESCRIBER: "the surgeon or prescriber",
    frozenset({PATIENT}): "the patient",
}
_WHAT = {
    COMPLETE: "mark this item done",
    NOT_APPLICABLE: "mark this item not applicable",
    UNDO: "reopen this item",
    ACCEPT: "accept this confirmation",
    CONFIRM: "confirm this item",
    DECIDE: "record this decision",
    ATTACH: "attach a document to this item",
    SUBMIT: "send this questionnaire",
    RECONCILE: "reconcile this questionnaire",
    EDIT: "change a parent or guardian",
}


class ActionForbidden(PermissionDenied):
    """The actor's role may not take this action on this kind of record (a 403 on pages and API)."""

    def __init__(self, *, role: str, action: str, kind: str) -> None:
        self.role, self.action, self.kind = role, action, kind
        roles = TABLE.get((action, kind))
        what = _WHAT.get(action, action)
        message = f"Only {_WHO[roles]} can {what}." if roles else f"Nobody can {what}: it does not apply here."
        super().__init__(message)


def role_of(actor: object | None) -> str:
    """The table's role of a user (``None`` is the patient acting through the portal)."""
    if actor is None:
        return PATIENT
    if not getattr(actor, "is_active", False):
        return ""
    return str(getattr(actor, "role", ""))


def allowed(actor: object | None, action: str, kind: str) -> bool:
    return role_of(actor) in TABLE.get((action, kind), frozenset())


def require(actor: object | None, action: str, kind: str) -> None:
    """Raise :class:`ActionForbidden` unless the table lets ``actor`` take ``action`` on ``kind``."""
    if not allowed(actor, action, kind):
        raise ActionForbidden(role=role_of(actor), action=action, kind=kind)


# --- Reading what is not one patient's record -----------------------------------------------------

# The clinic dashboard: figures over all of a clinic's surgeries, reminders and results (issue 21).
VIEW_CLINIC_DASHBOARD = "view_clinic_dashboard"
# Who may see each: a role, or a nurse flagged as lead nurse (``User.is_lead_nurse``).
VIEWS: dict[str, frozenset[str]] = {VIEW_CLINIC_DASHBOARD: frozenset({CLINIC_ADMIN})}
VIEWS_LEAD_NURSE: frozenset[str] = frozenset({VIEW_CLINIC_DASHBOARD})


def allowed_to_view(actor: object | None, what: str) -> bool:
    """True when ``actor`` (active staff of a clinic) may see ``what``; patients and API tokens never do."""
    role = role_of(actor) if actor is not None else ""
    if not role or getattr(actor, "clinic_id", None) is None:
        return False
    if role in VIEWS.get(what, frozenset()):
        return True
    return role == NURSE and bool(getattr(actor, "is_lead_nurse", False)) and what in VIEWS_LEAD_NURSE


class ViewForbidden(PermissionDenied):
    """The actor may not see this page (a 403)."""


def require_view(actor: object | None, what: str) -> None:
    if not allowed_to_view(actor, what):
        raise ViewForbidden("Only clinic admins and lead nurses can see the clinic dashboard.")
