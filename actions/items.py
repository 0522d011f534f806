"""Checklist items: done, not applicable, the patient's confirmation, accepted, reopened.

Each changes what the patient is reminded of (a done item needs no more reminders, a reopened one
does), so each ends by planning the checklist's reminders again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from accounts.models import User
from prep import services
from prep.models import ChecklistItem
from reminders import planner


@transaction.atomic
def item_complete(
    *,
    item: ChecklistItem,
    by: User,
    result: str = "",
    result_date: dt.date | None = None,
    expected_version: int | None = None,
    received_from: str = "",
) -> ChecklistItem:
    item = services.item_complete(
        item=item,
        by=by,
        result=result,
        result_date=result_date,
        expected_version=expected_version,
        received_from=received_from,
    )
    planner.checklist_changed(checklist=item.checklist)
    return item


@transaction.atomic
def item_mark_not_applicable(
    *, item: ChecklistItem, by: User, reason: str, expected_version: int | None = None
) -> ChecklistItem:
    item = services.item_mark_not_applicable(item=item, by=by, reason=reason, expected_version=expected_version)
    planner.checklist_changed(checklist=item.checklist)
    return item


@transaction.atomic
def item_patient_confirm(*, item: ChecklistItem, evidence: dict[str, Any], confirmed_by: str = "") -> ChecklistItem:
    """The patient's own confirmation (portal, or staff recording what the patient said); a parent or
    guardian confirming for the patient is named in ``confirmed_by``."""
    item = services.item_patient_confirm(item=item, evidence=evidence, confirmed_by=confirmed_by)
    planner.checklist_changed(checklist=item.checklist)
    return item


@transaction.atomic
def item_accept(*, item: ChecklistItem, by: User, expected_version: int | None = None) -> ChecklistItem:
    item = services.item_accept(item=item, by=by, expected_version=expected_version)
    planner.checklist_changed(checklist=item.checklist)
    return item


@transaction.atomic
def item_undo(*, item: ChecklistItem, by: User, reason: str, expected_version: int | None = None) -> ChecklistItem:
    item = services.item_undo(item=item, by=by, reason=reason, expected_version=expected_version)
    planner.checklist_changed(checklist=item.checklist)
    return item
