"""Preview: run the real action in a transaction that is always rolled back, and report what it did.

The preview therefore runs exactly the code the save runs (same validation, same planning,
same reminder plan), and nothing is saved or sent: the planner's on-commit work is dropped with
the rollback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import transaction

from patients.models import Surgery
from prep.models import ChecklistItem


@dataclass(frozen=True)
class ItemState:
    code: str
    title: str
    due_at: dt.datetime | None
    status: str
    locked: bool
    required: bool


@dataclass
class ItemChange:
    code: str
    title: str
    before: ItemState | None
    after: ItemState | None

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed"

    @property
    def due_moved(self) -> bool:
        return bool(self.before and self.after and self.before.due_at != self.after.due_at)

    @property
    def status_changed(self) -> bool:
        return bool(self.before and self.after and self.before.status != self.after.status)


@dataclass
class SurgeryChanges:
    surgery: Surgery
    start_before: dt.datetime
    start_after: dt.datetime
    items: list[ItemChange] = field(default_factory=list)


@dataclass
class DryRun:
    changes: list[SurgeryChanges]
    error: ValidationError | None = None


def _snapshot(surgery_ids: Sequence[int]) -> dict[int, dict[str, ItemState]]:
    states: dict[int, dict[str, ItemState]] = {sid: {} for sid in surgery_ids}
    rows = ChecklistItem.objects.filter(checklist__surgery_id__in=surgery_ids).values(
        "checklist__surgery_id", "code", "title", "due_at", "status", "locked", "required"
    )
    for row in rows:
        state = ItemState(
            code=row["code"],
            title=row["title"],
            due_at=row["due_at"],
            status=row["status"],
            locked=row["locked"],
            required=row["required"],
        )
        states[row["checklist__surgery_id"]][state.code] = state
    return states


class _Rollback(Exception):
    pass


def change_dry_run(*, surgeries: Sequence[Surgery], action: Callable[[], Any]) -> DryRun:
    """Run ``action`` (a real service call) in a transaction that is always rolled back, and report
    how the checklists of ``surgeries`` would change. Nothing is saved, nothing is sent: the
    reminder planner's on-commit work is dropped with the rollback."""
    ids = [s.pk for s in surgeries]
    starts_before = {s.pk: s.start_at for s in Surgery.objects.filter(pk__in=ids)}
    result: dict[str, Any] = {}
    try:
        with transaction.atomic():
            before = _snapshot(ids)
            try:
                action()
            except ValidationError as exc:
                result["error"] = exc
                raise _Rollback from None
            result["after"] = _snapshot(ids)
            result["starts_after"] = {s.pk: s.start_at for s in Surgery.objects.filter(pk__in=ids)}
            raise _Rollback
    except _Rollback:
        pass
    if "error" in result:
        return DryRun(changes=[], error=result["error"])
    changes = []
    for surgery in surgeries:
        old, new = before[surgery.pk], result["after"][surgery.pk]
        items = []
        for code in sorted(set(old) | set(new), key=lambda c: _due_key(old.get(c) or new.get(c))):
            a, b = old.get(code), new.get(code)
            if a != b:
                changed = cast(ItemState, b or a)  # they differ, so one of them is there
                items.append(ItemChange(code=code, title=changed.title, before=a, after=b))
        changes.append(
            SurgeryChanges(
                surgery=surgery,
                start_before=starts_before[surgery.pk],
                start_after=result["starts_after"][surgery.pk],
                items=items,
            )
        )
    return DryRun(changes=changes)


def _due_key(state: ItemState | None) -> dt.datetime:
    return state.due_at if state and state.due_at else dt.datetime.max.replace(tzinfo=dt.UTC)


def booking_dry_run(
    *, action: Callable[[], Surgery]
) -> tuple[Surgery | None, list[ChecklistItem], ValidationError | None]:
    """Book for real inside a rolled-back transaction and return the checklist it would get.

    The preview therefore runs exactly the code the save runs (same validation, same planning),
    and nothing is left half-saved."""
    result: dict[str, Any] = {"items": []}
    try:
        with transaction.atomic():
            try:
                surgery = action()
            except ValidationError as exc:
                result["error"] = exc
                raise _Rollback from None
            result["items"] = list(
                ChecklistItem.objects.filter(checklist__surgery=surgery)
                .select_related("template_item")
                .order_by("due_at", "sort_order")
            )
            result["surgery"] = surgery
            raise _Rollback
    except _Rollback:
        pass
    return result.get("surgery"), result["items"], result.get("error")
