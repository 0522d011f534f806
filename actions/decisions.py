"""Decisions: the prescriber's on a medicine hold, the surgeon's go / no go."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from patients import services as patient_services
from patients.models import Surgery
from prep import services as prep_services
from prep.models import ChecklistItem
from reminders import planner


@transaction.atomic
def hold_decide(
    *,
    item: ChecklistItem,
    by: User,
    approve: bool | None = None,
    choice: str | None = None,
    note: str = "",
    hold_days: int | None = None,
    expected_version: int | None = None,
) -> ChecklistItem:
    """Record the prescriber's decision; the checklist is planned again from it, then its reminders
    (an approved hold is one the patient is now reminded of)."""
    item = prep_services.hold_decide(
        item=item,
        by=by,
        approve=approve,
        choice=choice,
        note=note,
        hold_days=hold_days,
        expected_version=expected_version,
    )
    planner.checklist_changed(checklist=item.checklist)
    return item


@transaction.atomic
def surgery_record_go_decision(
    *, surgery: Surgery, by: User, decision: str, note: str = "", override: str = "", no_go_reason: str = ""
) -> Surgery:
    """Go / no go. No re-planning: the reminder plan does not read the decision, and a No go
    leaves the booking (and its reminders) as it is until the surgery is moved or cancelled."""
    return patient_services.surgery_record_go_decision(
        surgery=surgery, by=by, decision=decision, note=note, override=override, no_go_reason=no_go_reason
    )
