"""Writes on checklists: generation, keeping them right when plans change, and item states.

Every function is keyword-only and runs in one transaction; a failure changes nothing. The reminder
plan is not touched here: the actions (``actions/``) that call these re-plan it explicitly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts import permissions as perms
from accounts.models import User
from core.clock import when_text
from patients.go_decisions import withdraw_go_if_needed
from patients.models import Clinic, Medication, Surgery
from prep import medicines, planning
from prep.models import (
    Checklist,
    ChecklistItem,
    ChecklistStatus,
    ChecklistSummary,
    ClinicTestPolicy,
    Drug,
    DrugFamily,
    ItemStatus,
    KnownMedicine,
    TemplateItem,
)
from prep.results import result_check, result_clean
from prep.selectors import READINESS_ITEM_FIELDS, ReadinessReport, readiness_compute, summary_due_q

# django-simple-history stores the change reason in a varchar(100); the item keeps the full text.
HISTORY_REASON_MAX = 100


class ItemConflict(Exception):
    """The item changed since the form was loaded, or is already in the asked-for state."""

    def __init__(self, message: str, *, item: ChecklistItem) -> None:
        super().__init__(message)
        self.item = item


def medication_facts(
    medications: Sequence[Medication], dictionary: medicines.Dictionary
) -> list[planning.MedicationFacts]:
    """The patient's current medicines as planning reads them, each read through the dictionary."""
    facts = []
    for m in medications:
        if m.stopped_at is not None:
            continue
        read = medicines.Resolution(text=m.name) if m.drug_id else dictionary.resolve(m.name)
        facts.append(
            planning.MedicationFacts(
                name=m.name,
                indication=m.indication,
                drug=m.drug,
                is_blood_thinner=m.is_blood_thinner,
                medication_id=m.pk,
                candidates=read.drugs,
                no_rule=m.no_rule_confirmed or read.known is not None,
                how=read.how,
            )
        )
    return facts


def clinic_policies(clinic_id: int) -> dict[str, planning.TestPolicy]:
    return {
        p.code: planning.TestPolicy(
            enabled=p.enabled,
            conditions=p.conditions,
            required=p.required,
            validity_days=p.validity_days,
            note=p.note,
            timing_option=p.timing_option,
        )
        for p in ClinicTestPolicy.objects.filter(clinic_id=clinic_id)
    }


def _decisions(checklist: Checklist | None) -> tuple[dict[str, planning.Decision], dict[str, dt.datetime]]:
    """The prescriber's recorded decisions, and the last-dose times already planned, by drug key."""
    if checklist is None:
        return {}, {}
    decisions: dict[str, planning.Decision] = {}
    last_doses: dict[str, dt.datetime] = {}
    items = checklist.items.filter(
        Q(code__startswith=planning.APPROVAL_PREFIX, status=ItemStatus.DONE) | Q(code__startswith=planning.HOLD_PREFIX)
    ).select_related("completed_by")
    for item in items:
        if item.code.startswith(planning.APPROVAL_PREFIX):
            key = item.code.removeprefix(planning.APPROVAL_PREFIX)
            by = item.completed_by.display_name if item.completed_by else ""
            decisions[key] = planning.Decision(choice=item.result_value, hold_hours=item.hold_hours, by_name=by)
        elif item.last_dose_at is not None and not item.locked and item.status != ItemStatus.NOT_APPLICABLE:
            # Only a hold the patient was told about can have been followed.
            last_doses[item.code.removeprefix(planning.HOLD_PREFIX)] = item.last_dose_at
    return decisions, last_doses


def booking_facts(
    *,
    surgery: Surgery,
    medications: Sequence[Medication] | None = None,
    checklist: Checklist | None = None,
    now: dt.datetime | None = None,
) -> planning.BookingFacts:
    patient = surgery.patient
    clinic = patient.clinic
    meds = medications if medications is not None else list(surgery.patient.medications.select_related("drug"))
    decisions, last_doses = _decisions(checklist)
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
        medications=medication_facts(meds, medicines.build(Drug.objects.all(), KnownMedicine.objects.all())),
        cardiac_risk=surgery.procedure.cardiac_risk,
        sex=patient.sex,
        conditions=patient.conditions,
        crcl=patient.crcl_ml_min,
        now=now or timezone.now(),
        decisions=decisions,
        previous_last_doses=last_doses,
        policies=clinic_policies(clinic.pk),
    )


def checklist_plan(*, surgery: Surgery, checklist: Checklist | None = None) -> planning.Plan:
    """What the checklist of this booking should hold now, with its alerts (nothing is saved)."""
    # The template rides along with its items (one query): its age bands choose the fasting rules.
    template_items = list(
        TemplateItem.objects.filter(template_id=surgery.procedure.template_id).select_related("template")
    )
    facts = booking_facts(surgery=surgery, checklist=checklist)
    if template_items:
        facts = dataclasses.replace(facts, age_bands=template_items[0].template.age_bands)
    return planning.plan_checklist(facts, template_items, list(Drug.objects.all()))


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
        hold_hours=planned.hold_hours,
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
    plan = checklist_plan(surgery=surgery)
    template = surgery.procedure.template
    checklist = Checklist.objects.create(
        surgery=surgery,
        template=template,
        catalogue_version=template.version,
        alerts=[a.as_dict() for a in plan.alerts],
    )
    items = [_item_from_plan(p, checklist, by) for p in plan.items]
    bulk_create_with_history(items, ChecklistItem, default_user=by, default_change_reason="generated")
    checklist_summary_refresh(checklist=checklist)
    return checklist


def _save(item: ChecklistItem, *, by: User | None, reason: str, fields: list[str]) -> None:
    item.version += 1
    item.updated_by = by
    item.change_reason = reason[:300]
    # Read by django-simple-history for the history row; set here so that services called outside a
    # request (API, tasks) still record who made the change.
    item._change_reason = reason[:HISTORY_REASON_MAX]
    item._history_user = by
    item.save(update_fields=[*fields, "version", "updated_by", "updated_at", "change_reason"])


def item_history_note(*, item: ChecklistItem, by: User | None, reason: str) -> None:
    """A line in the item's history that changes nothing of the item (e.g. a document attached).

    The row is not saved and its version stays: a form opened before the note still applies. The
    history row copies ``item`` as it is in memory, so pass one read from the database.
    """
    # Set on the instance: django-simple-history prefers these to the defaults, and a stale reason of
    # an earlier save of the same instance would otherwise be written again.
    item._change_reason = reason[:HISTORY_REASON_MAX]
    item._history_user = by
    ChecklistItem.history.bulk_history_create([item], update=True)


@transaction.atomic
def checklist_refresh(*, surgery: Surgery, by: User | None, reason: str) -> Checklist:
    """Bring an existing checklist in line with the booking after a change.

    Open items move with the surgery; done items whose result is too old for the new date reopen;
    items that no longer apply (a stopped medication) are closed as not applicable; new ones
    (a new medication) are added.
    """
    surgery = Surgery.objects.select_related("patient__clinic", "procedure__template").get(pk=surgery.pk)
    checklist = Checklist.objects.select_for_update().get(surgery=surgery)
    checklist.surgery = surgery  # loaded above with its clinic, which the summary reads
    full_plan = checklist_plan(surgery=surgery, checklist=checklist)
    planned = {p.code: p for p in full_plan.items}
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
            for name in ("due_at", "last_dose_at", "restart_at", "reason", "title", "required", "hold_hours")
            if getattr(item, name) != getattr(plan, name)
        ]
        for name in changed:
            setattr(item, name, getattr(plan, name))
        validity = plan.validity_days
        expired = (
            item.status in (ItemStatus.DONE, ItemStatus.ACCEPTED)
            and validity
            and item.result_at is not None
            and item.result_at.astimezone(tz).date() < surgery_day - dt.timedelta(days=validity)
        )
        if expired and item.result_at is not None:  # expired implies a result time; said for the checker
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
    alerts = [a.as_dict() for a in full_plan.alerts]
    new_blocks = [a["message"] for a in alerts if a["severity"] == "block" and a not in (checklist.alerts or [])]
    if more_work:
        titles = ", ".join(more_work[:3]) + ("…" if len(more_work) > 3 else "")
        withdraw_go_if_needed(surgery=surgery, reason=f"New required item after the Go ({reason}): {titles}")
    elif new_blocks:
        # A new safety alert after a Go takes it back too (the surgeon decides again, seeing it).
        withdraw_go_if_needed(surgery=surgery, reason=f"New safety alert after the Go: {new_blocks[0]}")
    checklist.alerts = alerts
    checklist.save(update_fields=["updated_at", "alerts"])
    checklist_summary_refresh(checklist=checklist)
    return checklist


@transaction.atomic
def checklist_close(*, surgery: Surgery, by: User | None, reason: str) -> None:
    Checklist.objects.filter(surgery=surgery).update(
        status=ChecklistStatus.CLOSED, closed_reason=reason[:200], updated_at=timezone.now()
    )
    checklist = Checklist.objects.filter(surgery=surgery).select_related("surgery__patient__clinic").first()
    if checklist:
        checklist_summary_refresh(checklist=checklist)


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


def _refuse_decision(item: ChecklistItem) -> None:
    """A decision item changes only through its decision service, which also unlocks or closes the hold
    it governs; ticking, closing or reopening it directly would leave that hold behind."""
    if item.code.startswith(planning.APPROVAL_PREFIX):
        raise ItemConflict("This is the prescriber's decision: record it with the decision form.", item=item)


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
    """Record the result and close the item, or keep it open with the reason the result gives.

    ``received_from``: the system the result came from (a lab through the results inbox), said in
    the history so that a reader tells a lab's result from a nurse's typing.
    """
    item = _locked_item(item, expected_version)
    perms.require(by, perms.COMPLETE, item.assignee)
    _refuse_decision(item)
    if item.status in (ItemStatus.DONE, ItemStatus.ACCEPTED):
        raise ItemConflict("This item is already done.", item=item)
    if item.locked:
        raise ItemConflict("This hold is waiting for the prescriber's approval.", item=item)
    now = timezone.now()
    value = result_clean(item.template_item, result, today=timezone.localdate(now, item.tz))
    if result_date and result_date > timezone.localdate(now, item.tz):
        raise ValidationError({"result_date": "The result date cannot be in the future."})
    keep_open, alert = result_check(item.template_item, value)
    item.result_value = value
    item.result_at = (
        planning.local_to_utc(dt.datetime.combine(result_date, dt.time(12, 0)), item.tz) if result_date else now
    )
    item.result_flag = (keep_open or alert)[:300]
    fields = ["status", "result_value", "result_at", "result_flag", "completed_at", "completed_by"]
    came = f" (received from {received_from})" if received_from else ""
    if keep_open:
        # The value is recorded (it is a fact) but the item is not done: it stays open and says why.
        item.status, item.completed_at, item.completed_by = ItemStatus.OPEN, None, None
        _save(item, by=by, reason=f"Result recorded{came}, item kept open: {keep_open}", fields=fields)
    else:
        item.status = ItemStatus.DONE
        item.completed_at, item.completed_by = now, by
        _save(item, by=by, reason=f"done{came}" + (f": {alert}" if alert else ""), fields=fields)
    checklist_summary_refresh(checklist=item.checklist)
    return item


@transaction.atomic
def item_mark_not_applicable(
    *, item: ChecklistItem, by: User, reason: str, expected_version: int | None = None
) -> ChecklistItem:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this item does not apply."})
    item = _locked_item(item, expected_version)
    perms.require(by, perms.NOT_APPLICABLE, item.assignee)
    _refuse_decision(item)
    if item.status == ItemStatus.NOT_APPLICABLE:
        raise ItemConflict("This item is already marked not applicable.", item=item)
    item.status, item.na_reason = ItemStatus.NOT_APPLICABLE, reason[:300]
    item.completed_at, item.completed_by = timezone.now(), by
    _save(
        item, by=by, reason=f"Not applicable: {reason}", fields=["status", "na_reason", "completed_at", "completed_by"]
    )
    checklist_summary_refresh(checklist=item.checklist)
    return item


@transaction.atomic
def item_patient_confirm(*, item: ChecklistItem, evidence: dict[str, Any], confirmed_by: str = "") -> ChecklistItem:
    """A patient's own confirmation: evidence for a nurse to accept, not a tick. ``confirmed_by``
    names a parent or guardian who confirmed for the patient (the history row says so)."""
    item = _locked_item(item, None)
    perms.require(None, perms.CONFIRM, item.assignee)
    if item.locked:
        raise ItemConflict("The clinic has not confirmed this instruction yet.", item=item)
    if item.is_closed:
        raise ItemConflict("This item is already done.", item=item)
    item.status, item.evidence, item.confirmed_at = ItemStatus.PATIENT_CONFIRMED, evidence, timezone.now()
    reason = f"Confirmed by {confirmed_by} for the patient" if confirmed_by else "Confirmed by the patient"
    _save(item, by=None, reason=reason[:HISTORY_REASON_MAX], fields=["status", "evidence", "confirmed_at"])
    checklist_summary_refresh(checklist=item.checklist)
    return item


@transaction.atomic
def item_accept(*, item: ChecklistItem, by: User, expected_version: int | None = None) -> ChecklistItem:
    item = _locked_item(item, expected_version)
    perms.require(by, perms.ACCEPT, item.assignee)
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
    checklist_summary_refresh(checklist=item.checklist)
    return item


@transaction.atomic
def item_undo(*, item: ChecklistItem, by: User, reason: str, expected_version: int | None = None) -> ChecklistItem:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the item is reopened."})
    item = _locked_item(item, expected_version)
    perms.require(by, perms.UNDO, item.assignee)
    _refuse_decision(item)
    if item.status == ItemStatus.OPEN:
        raise ItemConflict("This item is already open.", item=item)
    item.status = ItemStatus.OPEN
    item.result_value, item.result_at, item.completed_at, item.completed_by, item.na_reason = "", None, None, None, ""
    item.result_flag = ""
    fields = ["status", "result_value", "result_at", "completed_at", "completed_by", "na_reason", "result_flag"]
    _save(item, by=by, reason=f"Reopened: {reason}", fields=fields)
    if item.required:
        withdraw_go_if_needed(
            surgery=item.checklist.surgery, reason=f"{item.title} was reopened by {by.display_name}: {reason}"
        )
    checklist_summary_refresh(checklist=item.checklist)
    return item


DECISIONS = ("approve", "decline", "liquid_diet")


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
    """The prescriber's decision on a medicine (the ``hold_approval:<drug>`` item).

    ``choice``: ``approve`` (hold it: unlocks the catalogue's hold, or sets one of ``hold_days``
    where the catalogue gives no dates), ``decline`` (keep taking it), or ``liquid_diet`` (GLP-1
    agonists: keep taking it with a clear-liquid diet for 24 hours before). The decision is
    recorded on the item and the checklist is planned again from it, so a hold the prescriber set
    is kept and re-dated whenever the surgery moves.
    """
    if choice is None:
        choice = "approve" if approve else "decline"
    if choice not in DECISIONS:
        raise ValidationError({"decision": f"{choice!r} is not a decision; choose one of: {', '.join(DECISIONS)}."})
    item = _locked_item(item, expected_version)
    perms.require(by, perms.DECIDE, item.assignee)
    if not item.code.startswith(planning.APPROVAL_PREFIX):
        raise ItemConflict("This item is not a hold decision.", item=item)
    if item.is_closed:
        raise ItemConflict("The hold has already been decided.", item=item)
    if choice == "liquid_diet" and not (item.drug and item.drug.family == DrugFamily.GLP1):
        raise ValidationError(
            {"decision": "A clear-liquid diet instead of a hold is a choice for GLP-1 agonists only."}
        )
    key = item.code.removeprefix(planning.APPROVAL_PREFIX)
    hold = ChecklistItem.objects.select_for_update().filter(checklist_id=item.checklist_id, code=f"hold:{key}").first()
    hold_hours = None
    if choice == "approve" and (hold is None or hold.is_closed):
        if hold_days is None and item.drug and item.drug.suggested_hold_hours:
            hold_days = max(1, item.drug.suggested_hold_hours // 24)
        if not hold_days or not 1 <= hold_days <= 30:
            raise ValidationError({"hold_days": "Give the hold in days (1 to 30): the catalogue has no dates for it."})
        hold_hours = hold_days * 24
    now = timezone.now()
    if hold is not None and not hold.is_closed:
        if choice == "approve":
            hold.locked = False
            _save(hold, by=by, reason=f"Hold approved by {by.display_name}", fields=["locked"])
        else:
            hold.locked, hold.status = False, ItemStatus.NOT_APPLICABLE
            hold.na_reason = f"Prescriber declined the hold: keep taking {item.drug_name}"
            _save(hold, by=by, reason=hold.na_reason, fields=["locked", "status", "na_reason"])
    item.status = ItemStatus.DONE
    item.result_value = choice
    item.hold_hours = hold_hours
    item.na_reason = note[:300]
    item.result_at = item.completed_at = now
    item.completed_by = by
    label = {"approve": "approved", "decline": "declined", "liquid_diet": "replaced by a clear-liquid diet"}[choice]
    _save(
        item,
        by=by,
        reason=f"Hold {label}" + (f" ({hold_days} days)" if hold_hours else "") + (f": {note}" if note else ""),
        fields=["status", "result_value", "hold_hours", "na_reason", "result_at", "completed_at", "completed_by"],
    )
    surgery = item.checklist.surgery
    # Planned again from the recorded decision: a prescriber-set hold, keep-taking or diet items appear.
    # The refresh also rewrites the readiness summary (the unlock below changes nothing it counts).
    checklist_refresh(surgery=surgery, by=by, reason=f"prescriber's decision on {item.drug_name}")
    new_hold = ChecklistItem.objects.filter(checklist_id=item.checklist_id, code=f"hold:{key}", locked=True).first()
    if choice == "approve" and new_hold is not None:
        new_hold.locked = False
        _save(new_hold, by=by, reason=f"Hold set by {by.display_name}", fields=["locked"])
    item.refresh_from_db()
    return item


# --- Readiness summaries ------------------------------------------------------------------------


@transaction.atomic(savepoint=False)  # the caller's transaction; the row lock needs one
def checklist_summary_refresh(*, checklist: Checklist, now: dt.datetime | None = None) -> ReadinessReport:
    """Rewrite the checklist's ``ChecklistSummary`` from its items, in the caller's transaction.

    Every service that writes items calls it, explicitly, after its last item write. Reads
    ``checklist.surgery.patient.clinic``: select them with the checklist. The summary row is locked
    before the items are read, so that two changes to one checklist at the same moment are
    serialised here and the second one counts the first one's item (read committed).
    """
    now = now or timezone.now()
    exists = ChecklistSummary.objects.select_for_update().filter(pk=checklist.pk).values_list("pk", flat=True)
    found = bool(list(exists))
    surgery = checklist.surgery
    items = ChecklistItem.objects.filter(checklist_id=checklist.pk).only(*READINESS_ITEM_FIELDS)
    report = readiness_compute(surgery=surgery, items=items, clinic=surgery.patient.clinic, now=now)
    if found:
        ChecklistSummary.objects.filter(pk=checklist.pk).update(**report.summary_values())
    else:
        ChecklistSummary.objects.create(checklist_id=checklist.pk, **report.summary_values())
    return report


def readiness_refresh_due(*, surgeries: QuerySet[Surgery], now: dt.datetime | None = None) -> int:
    """Re-evaluate the stored readiness of ``surgeries`` that the clock has overtaken; return how many.

    Lists (the board, the API's readiness range, the nurses' digest) call it on the surgeries they
    are about to filter and sort, so that what they show is right at the moment they are read:
    a periodic task would leave a row wrong until its next run (an item falls due at 08:00 and
    the board still says "on track" until the beat comes round). Nothing due, the usual case:
    one query. Due rows: a fixed number more, whatever their number (bulk reads and writes).
    """
    now = now or timezone.now()
    due = list(
        Checklist.objects.filter(surgery__in=surgeries.values("pk"))
        .filter(summary_due_q(now=now))
        .values_list("pk", flat=True)
    )
    if not due:
        return 0
    with transaction.atomic():
        # Locked, then chosen again under the lock: an item change or another reader may have
        # rewritten some meanwhile, and theirs is as new as ours.
        list(ChecklistSummary.objects.select_for_update().filter(pk__in=due).values_list("pk", flat=True))
        checklists = list(
            Checklist.objects.filter(pk__in=due)
            .filter(summary_due_q(now=now))
            .select_related("surgery__patient__clinic", "summary")
            .prefetch_related(Prefetch("items", queryset=ChecklistItem.objects.only(*READINESS_ITEM_FIELDS)))
        )
        stale, missing = [], []
        for checklist in checklists:
            surgery = checklist.surgery
            report = readiness_compute(
                surgery=surgery, items=checklist.items.all(), clinic=surgery.patient.clinic, now=now
            )
            values = report.summary_values()
            if hasattr(checklist, "summary"):
                for name, value in values.items():
                    setattr(checklist.summary, name, value)
                stale.append(checklist.summary)
            else:
                missing.append(ChecklistSummary(checklist_id=checklist.pk, **values))
        if stale:
            ChecklistSummary.objects.bulk_update(stale, fields=list(values))
        if missing:
            # Another reader may insert the same rows at the same moment, computed the same way.
            ChecklistSummary.objects.bulk_create(missing, ignore_conflicts=True)
    return len(checklists)


def clinic_summaries_expire(*, clinic: Clinic, now: dt.datetime | None = None) -> int:
    """The clinic's go/no-go or escalation hours changed: every summary of the clinic is due now.

    The next list that shows one re-evaluates it with the new hours (``readiness_refresh_due``),
    rather than this change rewriting every checklist the clinic ever had.
    """
    now = now or timezone.now()
    return ChecklistSummary.objects.filter(checklist__surgery__clinic=clinic).update(changes_at=now)
