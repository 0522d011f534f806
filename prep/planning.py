"""Pure planning: from a booking's facts and the catalogue, the items a checklist must hold.

No database access here, so ``preview_checklist`` and ``checklist_generate`` share one code path
and the rules can be tested table-driven. All wall-clock arithmetic happens in the clinic's zone:
"7 days before" keeps the local time across a daylight-saving change, "2 hours before" is
elapsed time.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.utils.text import slugify

from prep import conditions
from prep.models import Drug, HoldMode, TemplateItem

UTC = dt.UTC
HOLD_PREFIX = "hold:"
APPROVAL_PREFIX = "hold_approval:"
HOLD_WILDCARD = "hold:*"
APPROVAL_WILDCARD = "hold_approval:*"


class PlanningError(ValueError):
    """The booking cannot be planned; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class MedicationFacts:
    name: str
    indication: str = ""
    drug: Drug | None = None
    is_blood_thinner: bool = False
    medication_id: int | None = None


@dataclass(frozen=True)
class BookingFacts:
    start_at: dt.datetime
    tz: zoneinfo.ZoneInfo
    birth_date: dt.date
    procedure_name: str
    risk: str
    region: str
    anaesthesia: str
    flags: frozenset[str] = frozenset()
    clinic_age_threshold: int = 65
    medications: Sequence[MedicationFacts] = ()


@dataclass
class PlannedItem:
    code: str
    template_item: TemplateItem
    title: str
    due_at: dt.datetime
    reason: str
    source: str
    sort_order: int
    drug: Drug | None = None
    drug_name: str = ""
    medication_id: int | None = None
    last_dose_at: dt.datetime | None = None
    restart_at: dt.datetime | None = None
    locked: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def category(self) -> str:
        return self.template_item.category

    @property
    def assignee(self) -> str:
        return self.template_item.assignee

    @property
    def required(self) -> bool:
        return self.template_item.required


def risk_phrase(risk: str) -> str:
    """ "a high-risk", "an intermediate-risk": the article read aloud, not "a intermediate-risk"."""
    article = "an" if risk[:1].lower() in tuple("aeiou") else "a"
    return f"{article} {risk}-risk"


def local_to_utc(naive: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """A local wall time as an aware UTC instant.

    In the spring-forward gap the wall time does not exist; fold=0 reads it with the offset in
    force before the change, which lands it just after the gap (02:30 -> 03:30). In the
    autumn overlap fold=0 takes the first occurrence, the earlier instant: safer for deadlines.
    """
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def shift(start_at: dt.datetime, tz: zoneinfo.ZoneInfo, *, days: int = 0, minutes: int = 0) -> dt.datetime:
    """``days`` calendar days in local wall time, then ``minutes`` of elapsed time."""
    local = start_at.astimezone(tz).replace(tzinfo=None)
    moved = local_to_utc(local + dt.timedelta(days=days), tz)
    return moved + dt.timedelta(minutes=minutes)


def due_time(template_item: TemplateItem, start_at: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    if template_item.at_local_time is not None:
        day = start_at.astimezone(tz).date() + dt.timedelta(days=template_item.offset_days)
        return local_to_utc(dt.datetime.combine(day, template_item.at_local_time), tz)
    return shift(start_at, tz, days=template_item.offset_days, minutes=template_item.offset_minutes)


def hold_last_dose(start_at: dt.datetime, tz: zoneinfo.ZoneInfo, hours: int) -> dt.datetime:
    # Whole days are counted on the calendar, so "5 days" stays at the same local hour across DST.
    if hours % 24 == 0:
        return shift(start_at, tz, days=-(hours // 24))
    return start_at - dt.timedelta(hours=hours)


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def match_drug(name: str, indication: str, drugs: Iterable[Drug]) -> tuple[Drug | None, str]:
    """The catalogue rule for a free-text medication, or None with why not."""
    key = name.strip().lower()
    candidates = [d for d in drugs if d.substance == key or key in d.aliases or d.slug == key]
    if not candidates:
        return None, "not in the catalogue"
    exact = [d for d in candidates if d.indication == indication]
    if len(exact) == 1:
        return exact[0], ""
    if len(candidates) == 1 and not candidates[0].indication:
        return candidates[0], ""
    return None, "its indication is needed to choose the rule (" + ", ".join(d.indication for d in candidates) + ")"


def _fmt_hours(hours: int) -> str:
    return f"{hours // 24} days" if hours % 24 == 0 else f"{hours} hours"


def plan_items(
    facts: BookingFacts, template_items: Sequence[TemplateItem], drugs: Sequence[Drug] = ()
) -> list[PlannedItem]:
    """The checklist for one booking, sorted by due time. Deterministic for equal inputs."""
    try:
        return _plan_items(facts, template_items, drugs)
    except OverflowError:
        raise PlanningError("start_at", "The surgery date is too far from today to plan around.") from None


def _plan_items(
    facts: BookingFacts, template_items: Sequence[TemplateItem], drugs: Sequence[Drug]
) -> list[PlannedItem]:
    local_day = facts.start_at.astimezone(facts.tz).date()
    if facts.birth_date >= local_day:
        raise PlanningError("birth_date", "The birth date must be before the surgery date.")
    age = age_on(facts.birth_date, local_day)
    by_code = {ti.code: ti for ti in template_items}
    order = {ti.code: index for index, ti in enumerate(template_items)}
    planned: list[PlannedItem] = []

    # Blood thinners first: they decide whether the INR item applies.
    approvals, holds, inr_needed = _plan_blood_thinners(facts, by_code, order, drugs)

    cond_facts = conditions.Facts(
        age=age,
        risk=facts.risk,
        anaesthesia=facts.anaesthesia,
        region=facts.region,
        flags=facts.flags,
        clinic_age_threshold=facts.clinic_age_threshold,
        held_drug_needs_inr=inr_needed,
    )
    for ti in template_items:
        if ti.code in (HOLD_WILDCARD, APPROVAL_WILDCARD):
            continue
        reasons = conditions.evaluate(ti.conditions or {}, cond_facts)
        if reasons is None:
            continue
        reason = "; ".join(reasons) if reasons else f"standard preparation for {facts.procedure_name}"
        planned.append(
            PlannedItem(
                code=ti.code,
                template_item=ti,
                title=ti.title_en,
                due_at=due_time(ti, facts.start_at, facts.tz),
                reason=reason[:1].upper() + reason[1:],
                source=ti.source,
                sort_order=order[ti.code] * 100,
            )
        )
    planned.extend(approvals)
    planned.extend(holds)
    planned.sort(key=lambda p: (p.due_at, p.sort_order, p.code))
    return planned


def _plan_blood_thinners(
    facts: BookingFacts, by_code: dict[str, TemplateItem], order: dict[str, int], drugs: Sequence[Drug]
) -> tuple[list[PlannedItem], list[PlannedItem], bool]:
    approval_ti, hold_ti = by_code.get(APPROVAL_WILDCARD), by_code.get(HOLD_WILDCARD)
    approvals: list[PlannedItem] = []
    holds: list[PlannedItem] = []
    inr_needed = False
    if approval_ti is None or hold_ti is None:
        return approvals, holds, inr_needed
    seen: set[str] = set()
    for index, med in enumerate(facts.medications):
        drug, why_unmatched = (med.drug, "") if med.drug else match_drug(med.name, med.indication, drugs)
        if drug is None and not med.is_blood_thinner and why_unmatched == "not in the catalogue":
            continue  # not a blood thinner: nothing to hold
        key = drug.substance if drug else slugify(med.name) or f"drug-{index}"
        if key in seen:
            continue
        seen.add(key)
        name = drug.name if drug else med.name
        approval_due = due_time(approval_ti, facts.start_at, facts.tz)
        common = {"drug": drug, "drug_name": name, "medication_id": med.medication_id}
        approval = PlannedItem(
            code=f"{APPROVAL_PREFIX}{key}",
            template_item=approval_ti,
            title=approval_ti.title_en.replace("{drug}", name),
            due_at=approval_due,
            reason="",
            source=approval_ti.source + (f" Drug rule: {drug.source}" if drug else ""),
            sort_order=order[APPROVAL_WILDCARD] * 100 + index,
            **common,
        )
        approvals.append(approval)
        if drug is None:
            approval.reason = (
                f"{name} is taken as a blood thinner and {why_unmatched}: the prescriber decides; "
                "no hold dates until then"
            )
            continue
        mode, hours = drug.hold_for(facts.risk)
        tbc = " Rule to be confirmed by the clinic." if drug.to_be_confirmed else ""
        if mode == HoldMode.NONE:
            approvals.pop()
            continue
        if mode == HoldMode.SHARED:
            approval.reason = (
                f"{name}: shared assessment for {risk_phrase(facts.risk)} procedure; the prescriber decides "
                f"whether to hold it.{tbc}"
            )
            continue
        renal = ""
        if drug.renal_hold_hours and "impaired_renal_function" in facts.flags:
            hours, renal = drug.renal_hold_hours, " (longer: impaired renal function)"
        assert hours is not None
        last_dose = hold_last_dose(facts.start_at, facts.tz, hours)
        restart = facts.start_at + dt.timedelta(hours=drug.restart_hours or 24)
        approval.due_at = min(approval_due, last_dose - dt.timedelta(days=1))
        approval.reason = (
            f"{name} is held {_fmt_hours(hours)}{renal} before {risk_phrase(facts.risk)} procedure; every hold needs "
            f"the prescriber's approval.{tbc}"
        )
        inr = drug.needs_normal_inr
        inr_needed = inr_needed or inr
        holds.append(
            PlannedItem(
                code=f"{HOLD_PREFIX}{key}",
                template_item=hold_ti,
                title=hold_ti.title_en.replace("{drug}", name),
                due_at=last_dose,
                reason=f"{name}: hold {_fmt_hours(hours)}{renal} before {risk_phrase(facts.risk)} procedure"
                + (", then a normal INR" if inr else "")
                + f"; locked until the prescriber approves.{tbc}",
                source=hold_ti.source + f" Drug rule: {drug.source}",
                sort_order=order[HOLD_WILDCARD] * 100 + index,
                last_dose_at=last_dose,
                restart_at=restart,
                locked=True,
                **common,
            )
        )
    return approvals, holds, inr_needed
