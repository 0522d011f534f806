"""Writes on checklists: generation, keeping them right when plans change, and item states.

Every function is keyword-only and runs in one transaction; a failure changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.models import User
from core.clock import when_text
from patients.go_decisions import withdraw_go_if_needed
from patients.models import Medication, Surgery
from prep import planning
from prep.models import (
    Checklist,
    ChecklistItem,
    ChecklistStatus,
    Drug,
    ItemStatus,
    TemplateItem,
)
from prep.results import result_clean

# django-simple-history stores the change reason in a varchar(100); the item keeps the full text.
HISTORY_REASON_MAX = 100


class ItemConflict(Exception):
    """The item changed since the form was loaded, or is already in the asked-for state."""

    def __init__(self, message: str, *, item: ChecklistItem) -> None:
        super().__init__(message)
        self.item = item


def booking_facts(*, surgery: Surgery, medications: Sequence[Medication] | None = None) -> planning.BookingFacts:
    patient = surgery.patient
    clinic = patient.clinic
    meds = medications if medications is not None else list(surgery.patient.medications.select_related("drug"))
    return planning.BookingFacts(
        start_at=surgery.start_at,
        tz=clinic.tz,
        birth_date=patient.birth_date,
        procedure_name=surgery.procedure.name,
        risk=surgery.procedure.risk,
        region=surgery.procedure.region,
        anaesthesia=surgery.anaesthesia,
        flags=patient.flags,
        clinic_age_threshold=clinic.cardiac_age_threshold,
        medications=[
            planning.MedicationFacts(
                name=m.name,
                indication=m.indication,
                drug=m.drug,
                is_blood_thinner=m.is_blood_thinner,
                medication_id=m.pk,
            )
            for m in meds
            if m.stopped_at is None
        ],
    )


def checklist_plan(*, surgery: Surgery) -> list[planning.PlannedItem]:
    """What the checklist of this booking should hold now (nothing is saved)."""
    template_items = list(TemplateItem.objects.filter(template_id=surgery.procedure.template_id))
    return planning.plan_items(booking_facts(surgery=surgery), template_items, list(Drug.objects.all()))


def _item_from_plan(planned: planning.PlannedItem, checklist: Checklist, by: User | None) -> ChecklistItem:
    return ChecklistItem(
        checklist=checklist,
        template_item=planned.template_item,
        drug=planned.drug,
        drug_name=planned.drug_name,
        medication_id=planned.medication_id,
        code=planned.code,
        category=planned.category,
        assignee=planned.assignee,
        required=planned.required,
        title=planned.title,
        due_at=planned.due_at,
        last_dose_at=planned.last_dose_at,
        restart_at=planned.restart_at,
        locked=planned.locked,
        reason=planned.reason,
        source=planned.source,
        sort_order=planned.sort_order,
        created_by=by,
        updated_by=by,
    )


@transaction.atomic
def checklist_generate(*, surgery: Surgery, by: User | None = None) -> Checklist:
    """Build the checklist of a new booking from its procedure's template and the patient's facts.

    A bounded number of queries whatever the number of items: the template, the drug rules and
    the medications are read once, items and their history rows are written in bulk.
    """
    surgery = Surgery.objects.select_related("patient__clinic", "procedure__template").get(pk=surgery.pk)
    planned = checklist_plan(surgery=surgery)
    template = surgery.procedure.template
    checklist = Checklist.objects.create(surgery=surgery, template=template, catalogue_version=template.version)
    items = [_item_from_plan(p, checklist, by) for p in planned]
    bulk_create_with_history(items, ChecklistItem, default_user=by, default_change_reason="generated")
    _after_change(checklist)
    return checklist


@transaction.atomic
def checklist_patient_changed(*, surgery: Surgery) -> None:
    """The patient's contact details, channels or consent changed, not the items: what hangs on
    the checklist (the reminder plan) follows, in the caller's transaction."""
    checklist = Checklist.objects.select_for_update().filter(surgery=surgery).first()
    if checklist is not None:
        _after_change(checklist)


def _after_change(checklist: Checklist) -> None:
    """Hook for what follows every checklist change (the reminder planner plugs in here)."""
    from prep import hooks

    for hook in hooks.CHECKLIST_CHANGED:
        hook(checklist=checklist)


def _save(item: ChecklistItem, *, by: User | None, reason: str, fields: list[str]) -> None:
    item.version += 1
    item.updated_by = by
    item.change_reason = reason[:300]
    # Read by django-simple-history for the history row; set here so that services called outside a
    # request (API, tasks) still record who made the change.
    item._change_reason = reason[:HISTORY_REASON_MAX]
    item._history_user = by
    item.save(update_fields=[*fields, "version", "updated_by", "updated_at", "change_reason"])


@transaction.atomic
def checklist_refresh(*, surgery: Surgery, by: User | None, reason: str) -> Checklist:
    """Bring an existing checklist in line with the booking after a change.

    Open items move with the surgery; done items whose result is too old for the new date reopen;
    items that no longer apply (a stopped medication) are closed as not applicable; new ones
    (a new medication) are added.
    """
    surgery = Surgery.objects.select_related("patient__clinic", "procedure__template").get(pk=surgery.pk)
    checklist = Checklist.objects.select_for_update().get(surgery=surgery)
    planned = {p.code: p for p in checklist_plan(surgery=surgery)}
    existing = {i.code: i for i in checklist.items.select_related("template_item")}
    tz = surgery.patient.clinic.tz
    surgery_day = surgery.start_at.astimezone(tz).date()

    new = [_item_from_plan(p, checklist, by) for code, p in planned.items() if code not in existing]
    if new:
        bulk_create_with_history(new, ChecklistItem, default_user=by, default_change_reason=reason[:HISTORY_REASON_MAX])
    # Required work that was not there at a Go (new, back again, reopened) takes the Go back.
    more_work = [i.title for i in new if i.required]

    for code, item in existing.items():
        plan = planned.get(code)
        if plan is None:
            if not item.is_closed:
                item.status = ItemStatus.NOT_APPLICABLE
                item.na_reason = f"No longer applies: {reason}"
                _save(item, by=by, reason=item.na_reason, fields=["status", "na_reason"])
            continue
        if item.status == ItemStatus.NOT_APPLICABLE and item.na_reason.startswith("No longer applies"):
            item.status, item.na_reason = ItemStatus.OPEN, ""
            _save(item, by=by, reason=f"Applies again: {reason}", fields=["status", "na_reason"])
            if plan.required:
                more_work.append(plan.title)
        changed = [
            name
            for name in ("due_at", "last_dose_at", "restart_at", "reason", "title", "required")
            if getattr(item, name) != getattr(plan, name)
        ]
        for name in changed:
            setattr(item, name, getattr(plan, name))
        validity = item.template_item.validity_days if item.template_item else None
        expired = (
            item.status in (ItemStatus.DONE, ItemStatus.ACCEPTED)
            and validity
            and item.result_at is not None
            and item.result_at.astimezone(tz).date() < surgery_day - dt.timedelta(days=validity)
        )
        if expired:
            if item.required:
                more_work.append(item.title)
            when = item.result_at.astimezone(tz).date().isoformat()
            item.status = ItemStatus.OPEN
            changed += ["status"]
            _save(
                item,
                by=by,
                reason=f"Reopened: the result of {when} is older than {validity} days before the surgery "
                f"on {surgery_day.isoformat()} ({reason})",
                fields=changed,
            )
        elif changed:
            _save(item, by=by, reason=reason, fields=changed)
    if more_work:
        titles = ", ".join(more_work[:3]) + ("…" if len(more_work) > 3 else "")
        withdraw_go_if_needed(surgery=surgery, reason=f"New required item after the Go ({reason}): {titles}")
    checklist.save(update_fields=["updated_at"])
    _after_change(checklist)
    return checklist


@transaction.atomic
def checklist_close(*, surgery: Surgery, by: User | None, reason: str) -> None:
    Checklist.objects.filter(surgery=surgery).update(
        status=ChecklistStatus.CLOSED, closed_reason=reason[:200], updated_at=timezone.now()
    )
    checklist = Checklist.objects.filter(surgery=surgery).first()
    if checklist:
        _after_change(checklist)


def _locked_item(item: ChecklistItem, expected_version: int | None) -> ChecklistItem:
    fresh = (
        ChecklistItem.objects.select_for_update(of=("self",))
        .select_related("template_item", "checklist__surgery__patient__clinic", "updated_by")
        .get(pk=item.pk)
    )
    if expected_version is not None and fresh.version != expected_version:
        who = fresh.updated_by.display_name if fresh.updated_by_id and fresh.updated_by else "someone"
        raise ItemConflict(
            f"This item was changed by {who} at {when_text(fresh.updated_at, 'H:i')} after you opened it; "
            "nothing was saved. Review its new state and try again.",
            item=fresh,
        )
    return fresh


@transaction.atomic
def item_complete(
    *,
    item: ChecklistItem,
    by: User,
    result: str = "",
    result_date: dt.date | None = None,
    expected_version: int | None = None,
) -> ChecklistItem:
    item = _locked_item(item, expected_version)
    if item.status in (ItemStatus.DONE, ItemStatus.ACCEPTED):
        raise ItemConflict("This item is already done.", item=item)
    if item.locked:
        raise ItemConflict("This hold is waiting for the prescriber's approval.", item=item)
    now = timezone.now()
    value = result_clean(item.template_item, result, today=timezone.localdate(now, item.tz))
    if result_date and result_date > timezone.localdate(now, item.tz):
        raise ValidationError({"result_date": "The result date cannot be in the future."})
    item.status = ItemStatus.DONE
    item.result_value = value
    item.result_at = (
        planning.local_to_utc(dt.datetime.combine(result_date, dt.time(12, 0)), item.tz) if result_date else now
    )
    item.completed_at, item.completed_by = now, by
    _save(item, by=by, reason="done", fields=["status", "result_value", "result_at", "completed_at", "completed_by"])
    _after_change(item.checklist)
    return item


@transaction.atomic
def item_mark_not_applicable(
    *, item: ChecklistItem, by: User, reason: str, expected_version: int | None = None
) -> ChecklistItem:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this item does not apply."})
    item = _locked_item(item, expected_version)
    if item.status == ItemStatus.NOT_APPLICABLE:
        raise ItemConflict("This item is already marked not applicable.", item=item)
    item.status, item.na_reason = ItemStatus.NOT_APPLICABLE, reason[:300]
    item.completed_at, item.completed_by = timezone.now(), by
    _save(
        item, by=by, reason=f"Not applicable: {reason}", fields=["status", "na_reason", "completed_at", "completed_by"]
    )
    _after_change(item.checklist)
    return item


@transaction.atomic
def item_patient_confirm(*, item: ChecklistItem, evidence: dict[str, Any]) -> ChecklistItem:
    """A patient's own confirmation: evidence for a nurse to accept, not a tick."""
    item = _locked_item(item, None)
    if item.assignee != "patient":
        raise ItemConflict("Only items assigned to the patient can be confirmed by the patient.", item=item)
    if item.locked:
        raise ItemConflict("The clinic has not confirmed this instruction yet.", item=item)
    if item.is_closed:
        raise ItemConflict("This item is already done.", item=item)
    item.status, item.evidence, item.confirmed_at = ItemStatus.PATIENT_CONFIRMED, evidence, timezone.now()
    _save(item, by=None, reason="Confirmed by the patient", fields=["status", "evidence", "confirmed_at"])
    _after_change(item.checklist)
    return item


@transaction.atomic
def item_accept(*, item: ChecklistItem, by: User, expected_version: int | None = None) -> ChecklistItem:
    item = _locked_item(item, expected_version)
    if item.status != ItemStatus.PATIENT_CONFIRMED:
        raise ItemConflict("Only a patient's confirmation can be accepted.", item=item)
    item.status = ItemStatus.ACCEPTED
    item.completed_at, item.completed_by = timezone.now(), by
    item.result_at = item.confirmed_at
    _save(
        item,
        by=by,
        reason="Patient's confirmation accepted",
        fields=["status", "completed_at", "completed_by", "result_at"],
    )
    _after_change(item.checklist)
    return item


@transaction.atomic
def item_undo(*, item: ChecklistItem, by: User, reason: str, expected_version: int | None = None) -> ChecklistItem:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the item is reopened."})
    item = _locked_item(item, expected_version)
    if item.status == ItemStatus.OPEN:
        raise ItemConflict("This item is already open.", item=item)
    item.status = ItemStatus.OPEN
    item.result_value, item.result_at, item.completed_at, item.completed_by, item.na_reason = "", None, None, None, ""
    fields = ["status", "result_value", "result_at", "completed_at", "completed_by", "na_reason"]
    _save(item, by=by, reason=f"Reopened: {reason}", fields=fields)
    if item.required:
        withdraw_go_if_needed(
            surgery=item.checklist.surgery, reason=f"{item.title} was reopened by {by.display_name}: {reason}"
        )
    _after_change(item.checklist)
    return item


@transaction.atomic
def hold_decide(
    *,
    item: ChecklistItem,
    by: User,
    approve: bool,
    note: str = "",
    hold_days: int | None = None,
    expected_version: int | None = None,
) -> ChecklistItem:
    """The prescriber's decision on a blood-thinner hold (the ``hold_approval:<drug>`` item).

    Approving unlocks the patient's hold instructions. Where the catalogue gives no dates (shared
    assessment, unknown drug) the prescriber sets the hold in days and the instructions are made.
    Declining closes the hold: the patient keeps taking the drug.
    """
    if not by.is_surgeon and not by.is_clinic_admin:
        raise PermissionError("Only a surgeon or prescriber can decide on a hold.")
    item = _locked_item(item, expected_version)
    if not item.code.startswith(planning.APPROVAL_PREFIX):
        raise ItemConflict("This item is not a hold decision.", item=item)
    if item.is_closed:
        raise ItemConflict("The hold has already been decided.", item=item)
    key = item.code.removeprefix(planning.APPROVAL_PREFIX)
    hold = ChecklistItem.objects.select_for_update().filter(checklist_id=item.checklist_id, code=f"hold:{key}").first()
    now = timezone.now()
    if approve and hold is None:
        if not hold_days or not 1 <= hold_days <= 30:
            raise ValidationError({"hold_days": "Give the hold in days (1 to 30): the catalogue has no dates for it."})
        surgery = Surgery.objects.select_related("patient__clinic").get(checklist__pk=item.checklist_id)
        tz = surgery.patient.clinic.tz
        hold_ti = TemplateItem.objects.get(template_id=item.checklist.template_id, code=planning.HOLD_WILDCARD)
        last_dose = planning.hold_last_dose(surgery.start_at, tz, hold_days * 24)
        restart_hours = item.drug.restart_hours if item.drug and item.drug.restart_hours else 24
        hold = ChecklistItem(
            checklist_id=item.checklist_id,
            template_item=hold_ti,
            drug=item.drug,
            drug_name=item.drug_name,
            medication_id=item.medication_id,
            code=f"hold:{key}",
            category=hold_ti.category,
            assignee=hold_ti.assignee,
            required=True,
            title=hold_ti.title_en.replace("{drug}", item.drug_name),
            due_at=last_dose,
            last_dose_at=last_dose,
            restart_at=surgery.start_at + dt.timedelta(hours=restart_hours),
            reason=f"{item.drug_name}: hold of {hold_days} days set by {by.display_name}",
            source=item.source,
            sort_order=item.sort_order + 1,
            created_by=by,
            updated_by=by,
        )
        hold._change_reason = f"Hold of {hold_days} days set by the prescriber"[:HISTORY_REASON_MAX]
        hold._history_user = by
        hold.save()
        withdraw_go_if_needed(surgery=surgery, reason=f"New required item after the Go: {hold.title}")
    elif hold is not None:
        if approve:
            hold.locked = False
            _save(hold, by=by, reason=f"Hold approved by {by.display_name}", fields=["locked"])
        else:
            hold.locked, hold.status = False, ItemStatus.NOT_APPLICABLE
            hold.na_reason = f"Prescriber declined the hold: keep taking {item.drug_name}"
            _save(hold, by=by, reason=hold.na_reason, fields=["locked", "status", "na_reason"])
    item.status = ItemStatus.DONE
    item.result_value = "approve" if approve else "decline"
    item.na_reason = note[:300]
    item.result_at = item.completed_at = now
    item.completed_by = by
    _save(
        item,
        by=by,
        reason=f"Hold {'approved' if approve else 'declined'}" + (f": {note}" if note else ""),
        fields=["status", "result_value", "na_reason", "result_at", "completed_at", "completed_by"],
    )
    _after_change(item.checklist)
    return item
