"""Pure planning: from a booking's facts and the catalogue, the items a checklist must hold.

No database access here, so ``preview_checklist`` and ``checklist_generate`` share one code path
and the rules can be tested table-driven. All wall-clock arithmetic happens in the clinic's zone:
"7 days before" keeps the local time across a daylight-saving change, "2 hours before" is
elapsed time.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from django.utils.text import slugify

from prep import conditions
from prep.models import Drug, DrugFamily, HoldMode, TemplateItem

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
    # What the medicine dictionary read from the name (see prep.medicines): the catalogue rule rows
    # it may be, or a known medicine with no rule.
    candidates: tuple[Drug, ...] = ()
    no_rule: bool = False
    how: str = ""


@dataclass(frozen=True)
class Decision:
    """A prescriber's recorded decision on a medicine (the ``hold_approval:<drug>`` item)."""

    choice: str  # approve | decline | liquid_diet
    hold_hours: int | None = None  # set by the prescriber when the catalogue gave no dates
    by_name: str = ""


@dataclass(frozen=True)
class TestPolicy:
    """A clinic's policy for one catalogue test; None keeps the catalogue's default."""

    enabled: bool = True
    conditions: dict | None = None
    required: bool | None = None
    validity_days: int | None = None
    note: str = ""
    # The name of one of the item's ``timing_options`` the clinic chose ("": the catalogue's timing).
    timing_option: str = ""


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
    cardiac_risk: str = "low"
    sex: str = "unknown"
    # Condition code (patients.models.CONDITION_CODES) -> its date, None when the date is not known.
    conditions: Mapping[str, dt.date | None] = field(default_factory=dict)
    crcl: int | None = None
    # When the plan is made (the booking or the change): a hold whose last dose is already past
    # cannot be met.
    now: dt.datetime | None = None
    decisions: Mapping[str, Decision] = field(default_factory=dict)
    # The last-dose times of holds already planned: a patient who stopped on the old date has not
    # taken the drug since.
    previous_last_doses: Mapping[str, dt.datetime] = field(default_factory=dict)
    policies: Mapping[str, TestPolicy] = field(default_factory=dict)
    # The template's age bands (``ChecklistTemplate.age_bands``, from the catalogue's ``age_bands``).
    age_bands: Sequence[Mapping[str, Any]] = ()


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
    hold_hours: int | None = None
    required_override: bool | None = None
    validity_override: int | None = None
    extra: dict = field(default_factory=dict)

    @property
    def category(self) -> str:
        return self.template_item.category

    @property
    def assignee(self) -> str:
        return self.template_item.assignee

    @property
    def required(self) -> bool:
        return self.template_item.required if self.required_override is None else self.required_override

    @property
    def validity_days(self) -> int | None:
        return self.validity_override if self.validity_override is not None else self.template_item.validity_days


@dataclass(frozen=True)
class Alert:
    """A safety alert for staff: ``block`` stops the patient's instructions until someone decides."""

    code: str
    severity: str  # block | warn
    message: str
    source: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message, "source": self.source}


@dataclass
class Plan:
    items: list[PlannedItem]
    alerts: list[Alert]
    unmatched: list[str]
    # The patient's age on the surgery day and the catalogue band it falls in ("" without bands);
    # ``audience`` is "parent" for a band whose texts are addressed to a parent or guardian.
    age: int = 0
    age_band: str = ""
    audience: str = "patient"


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
    return _due_from(template_item.offset_days, template_item.offset_minutes, template_item.at_local_time, start_at, tz)


def _due_from(
    offset_days: int, offset_minutes: int, at: dt.time | None, start_at: dt.datetime, tz: zoneinfo.ZoneInfo
) -> dt.datetime:
    if at is not None:
        day = start_at.astimezone(tz).date() + dt.timedelta(days=offset_days)
        return local_to_utc(dt.datetime.combine(day, at), tz)
    return shift(start_at, tz, days=offset_days, minutes=offset_minutes)


def age_band_for(bands: Sequence[Mapping[str, Any]], age: int) -> Mapping[str, Any] | None:
    """The band (``ChecklistTemplate.age_bands``) an age on the surgery day falls in, or None."""
    for band in bands:
        if band["min_age"] <= age and (band.get("max_age") is None or age <= band["max_age"]):
            return band
    return None


def _timing_option(ti: TemplateItem, policy: TestPolicy | None, band: str) -> dict[str, Any] | None:
    """The clinic's chosen timing option for this item, when it applies to the patient's age band."""
    if policy is None or not policy.timing_option:
        return None
    option = (ti.timing_options or {}).get(policy.timing_option)
    if option is None or band not in option.get("age_band_in", ()):
        return None
    return dict(option)


def hours_before(when: dt.datetime, tz: zoneinfo.ZoneInfo, hours: int) -> dt.datetime:
    """``hours`` before ``when``: the calendar-day rule of holds and reminders.

    Whole days (24, 72, 120 h) are counted on the calendar in ``tz``, so "5 days before" stays at
    the same local hour across a daylight-saving change; any other number is elapsed hours.
    """
    if hours % 24 == 0:
        return shift(when, tz, days=-(hours // 24))
    return when - dt.timedelta(hours=hours)


def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def match_drug(name: str, indication: str, drugs: Iterable[Drug]) -> tuple[Drug | None, str]:
    """The catalogue rule for a free-text medication, or None with why not."""
    key = name.strip().lower()
    by_slug = [d for d in drugs if d.slug == key]
    if by_slug:
        return by_slug[0], ""
    candidates = [d for d in drugs if d.substance == key or key in d.aliases]
    if not candidates:
        return None, "not in the catalogue"
    exact = [d for d in candidates if d.indication == indication]
    if len(exact) == 1:
        return exact[0], ""
    if len(candidates) == 1 and not candidates[0].indication:
        return candidates[0], ""
    return None, "its indication is needed to choose the rule (" + ", ".join(d.indication for d in candidates) + ")"


def _fmt_hours(hours: int) -> str:
    if hours % 24:
        return f"{hours} hours"
    return "1 day" if hours == 24 else f"{hours // 24} days"


KEEP_PREFIX = "keep:"
LIQUID_DIET_PREFIX = "liquid_diet:"
MED_REVIEW = "med_review"
# Library texts that generated items take their words from (never planned by themselves): the
# decision and hold texts per medicine family, "keep taking it", the clear-liquid diet.
DECISION_TEXT = "hold_approval:{family}"
HOLD_TEXT = "hold:{family}"
KEEP_TEXT = "keep:*"
LIQUID_DIET_TEXT = "liquid_diet:*"
METABOLIC = (DrugFamily.GLP1, DrugFamily.SGLT2, DrugFamily.DIABETES)


def is_text_template(code: str) -> bool:
    """Library entries with a ``:`` are texts for generated items, not items to plan."""
    return ":" in code


def plan_items(
    facts: BookingFacts, template_items: Sequence[TemplateItem], drugs: Sequence[Drug] = ()
) -> list[PlannedItem]:
    """The checklist for one booking, sorted by due time. Deterministic for equal inputs."""
    return plan_checklist(facts, template_items, drugs).items


def plan_checklist(facts: BookingFacts, template_items: Sequence[TemplateItem], drugs: Sequence[Drug] = ()) -> Plan:
    """The items, the safety alerts and the medicines nobody could read, for one booking."""
    try:
        return _plan(facts, template_items, drugs)
    except OverflowError:
        raise PlanningError("start_at", "The surgery date is too far from today to plan around.") from None


def months_before(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    last = (dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def _plan(facts: BookingFacts, template_items: Sequence[TemplateItem], drugs: Sequence[Drug]) -> Plan:
    local_day = facts.start_at.astimezone(facts.tz).date()
    if facts.birth_date >= local_day:
        raise PlanningError("birth_date", "The birth date must be before the surgery date.")
    age = age_on(facts.birth_date, local_day)
    band = age_band_for(facts.age_bands, age)
    band_slug = str(band["slug"]) if band else ""
    by_code = {ti.code: ti for ti in template_items}
    order = {ti.code: index for index, ti in enumerate(template_items)}
    alerts = _thrombotic_alerts(facts, local_day)
    meds = _MedicinePlanner(facts, by_code, order, drugs, alerts, local_day)
    meds.plan()

    cond_facts = conditions.Facts(
        age=age,
        risk=facts.risk,
        anaesthesia=facts.anaesthesia,
        region=facts.region,
        flags=facts.flags,
        clinic_age_threshold=facts.clinic_age_threshold,
        held_drug_needs_inr=meds.inr_needed,
        conditions=frozenset(facts.conditions),
        cardiac_risk=facts.cardiac_risk,
        sex=facts.sex,
        has_unmatched_medication=bool(meds.unmatched),
        age_band=band_slug,
    )
    planned: list[PlannedItem] = []
    for ti in template_items:
        if is_text_template(ti.code):
            continue
        option = _timing_option(ti, facts.policies.get(ti.code), band_slug)
        policy = facts.policies.get(ti.code) if ti.clinic_policy else None
        if policy is not None and not policy.enabled:
            continue
        condition = policy.conditions if policy is not None and policy.conditions is not None else ti.conditions
        reasons = conditions.evaluate(condition or {}, cond_facts)
        if reasons is None:
            continue
        reason = "; ".join(reasons) if reasons else f"standard preparation for {facts.procedure_name}"
        reason = reason[:1].upper() + reason[1:]
        if ti.clinic_policy:
            reason += (
                f". Clinic policy: {policy.note}"
                if policy is not None and policy.note
                else ". The clinic's policy (the source document's standard tests), not a guideline"
            )
        due_at = due_time(ti, facts.start_at, facts.tz)
        if option is not None:
            at = dt.time.fromisoformat(option["at_local_time"]) if option.get("at_local_time") else None
            due_at = _due_from(option["offset_days"], option["offset_minutes"], at, facts.start_at, facts.tz)
            reason += f". Clinic policy for age band {band_slug}: {option['note']}"
        item = PlannedItem(
            code=ti.code,
            template_item=ti,
            title=ti.title_en,
            due_at=due_at,
            reason=reason,
            source=ti.source,
            sort_order=order[ti.code] * 100,
            required_override=policy.required if policy is not None else None,
            validity_override=policy.validity_days if policy is not None else None,
        )
        if ti.code == MED_REVIEW:
            names = ", ".join(repr(n) for n in meds.unmatched)
            item.title = f"{ti.title_en}: {names}"[:200]
            item.reason = f"The medicine dictionary could not read {names}: say what each is before any hold is planned"
        planned.append(item)
    planned.extend(meds.items)
    if meds.unmatched:
        names = ", ".join(repr(n) for n in meds.unmatched)
        alerts.append(
            Alert(
                "unmatched_medication",
                "warn",
                f"Medicine(s) not recognised: {names}. A nurse must say what each is; no hold is planned until then.",
                "clinical-reference 3: an unknown drug gets no automatic dates",
            )
        )
    planned.sort(key=lambda p: (p.due_at, p.sort_order, p.code))
    return Plan(
        items=planned,
        alerts=alerts,
        unmatched=list(meds.unmatched),
        age=age,
        age_band=band_slug,
        audience=str(band.get("audience") or "patient") if band else "patient",
    )


def _thrombotic_alerts(facts: BookingFacts, surgery_day: dt.date) -> list[Alert]:
    alerts: list[Alert] = []
    src = "clinical-reference 5a (ACC/AHA 2016 DAPT update; ACC 2017 periprocedural anticoagulation): clinic_tbc"
    for kind, months, label in (("drug_eluting_stent", 6, "drug-eluting"), ("bare_metal_stent", 1, "bare-metal")):
        if kind not in facts.conditions:
            continue
        placed = facts.conditions[kind]
        if placed is None:
            message = (
                f"Coronary {label} stent with no date recorded: elective procedures wait {months} month(s) after "
                "it. Record the date; any antiplatelet hold is a cardiology decision."
            )
        elif placed > months_before(surgery_day, months):
            message = (
                f"Coronary {label} stent placed on {placed.isoformat()}, less than {months} month(s) before the "
                f"procedure on {surgery_day.isoformat()}: an elective procedure should wait; any antiplatelet hold "
                "is a cardiology decision."
            )
        else:
            continue
        alerts.append(Alert("recent_stent", "block", message, src))
    return alerts


def _high_clot_risk(facts: BookingFacts, surgery_day: dt.date) -> str:
    """Why stopping an anticoagulant needs a bridging decision, or ''."""
    if "mechanical_heart_valve" in facts.conditions:
        return "a mechanical heart valve"
    if "atrial_fibrillation" in facts.conditions and "stroke" in facts.conditions:
        return "atrial fibrillation with a prior stroke"
    clot = facts.conditions.get("vte")
    if "vte" in facts.conditions and (clot is None or clot > months_before(surgery_day, 3)):
        return "a blood clot in the last 3 months" if clot else "a blood clot (date not recorded)"
    return ""


class _DrugFields(TypedDict):
    """The fields every item planned for one medicine shares (see :class:`PlannedItem`)."""

    drug: Drug | None
    drug_name: str
    medication_id: int | None


class _MedicinePlanner:
    """The decision, hold, keep-taking and diet items for the patient's medicines."""

    def __init__(
        self,
        facts: BookingFacts,
        by_code: dict[str, TemplateItem],
        order: dict[str, int],
        drugs: Sequence[Drug],
        alerts: list[Alert],
        surgery_day: dt.date,
    ) -> None:
        self.facts, self.by_code, self.order, self.drugs = facts, by_code, order, drugs
        self.alerts, self.surgery_day = alerts, surgery_day
        self.items: list[PlannedItem] = []
        self.unmatched: list[str] = []
        self.inr_needed = False
        self.clot_risk = _high_clot_risk(facts, surgery_day)
        self.has_stent = any(k in facts.conditions for k in ("drug_eluting_stent", "bare_metal_stent"))
        self.recent_stent = any(a.code == "recent_stent" for a in alerts)

    def _text(self, pattern: str, family: str) -> TemplateItem | None:
        return self.by_code.get(pattern.format(family=family)) or self.by_code.get(pattern.format(family="*"))

    def _sort(self, pattern: str, family: str, index: int) -> int:
        code = (
            pattern.format(family=family) if pattern.format(family=family) in self.order else pattern.format(family="*")
        )
        return self.order.get(code, 0) * 100 + index

    def plan(self) -> None:
        if self.by_code.get(APPROVAL_WILDCARD) is None or self.by_code.get(HOLD_WILDCARD) is None:
            return
        seen: set[str] = set()
        for index, med in enumerate(self.facts.medications):
            rows = self._rows(med)
            if rows is None:
                continue
            key = slugify(rows[0].substance) if rows else slugify(med.name) or f"drug-{index}"
            if key in seen:
                continue
            seen.add(key)
            self._plan_one(med, rows, key, index)
        if self.clot_risk == "a mechanical heart valve" and not any(
            i.drug is not None and i.drug.family == DrugFamily.ANTICOAGULANT for i in self.items
        ):
            self.alerts.append(
                Alert(
                    "mechanical_valve_bridging",
                    "warn",
                    "Mechanical heart valve but no anticoagulant recorded: check the medication list.",
                    "clinical-reference 5a: clinic_tbc",
                )
            )

    def _rows(self, med: MedicationFacts) -> tuple[Drug, ...] | None:
        """The rule rows for one medicine; () for a blood thinner outside the catalogue; None: nothing to plan."""
        if med.drug is not None:
            return (med.drug,)
        if med.candidates:
            exact = tuple(d for d in med.candidates if med.indication and d.indication == med.indication)
            return exact or med.candidates
        if med.is_blood_thinner:  # the nurse's word that it thins the blood wins over "no rule"
            return ()
        if med.no_rule:
            return None
        self.unmatched.append(med.name)
        return None

    def _plan_one(self, med: MedicationFacts, rows: tuple[Drug, ...], key: str, index: int) -> None:
        facts = self.facts
        decision = facts.decisions.get(key)
        family = rows[0].family if rows else DrugFamily.ANTICOAGULANT
        rules = {(d.hold_for(facts.risk), d.suggested_hold_hours, d.restart_for(facts.risk)) for d in rows}
        drug = rows[0] if len(rows) == 1 else None
        name = rows[0].name if len(rows) == 1 else (rows[0].substance.title() if rows else med.name)
        common: _DrugFields = {"drug": drug, "drug_name": name, "medication_id": med.medication_id}
        read = f" (typed {med.name!r}: {med.how})" if med.how and "close spelling" in med.how else ""
        if rows and rows[0].anaesthesia_in and facts.anaesthesia not in rows[0].anaesthesia_in:
            self._keep(name, family, index, common, f"{name}: no change needed with {facts.anaesthesia} anaesthesia")
            return
        tbc = " Rule to be confirmed by the clinic." if any(d.to_be_confirmed for d in rows) else ""
        if rows and any(d.needs_normal_inr for d in rows):
            # Warfarin always brings an INR, whoever set the hold (clinical-reference 5c).
            self.inr_needed = True
        mode: str  # a HoldMode value: the drug rows hold plain strings
        if not rows:
            mode, hours, suggested, restart = HoldMode.SHARED, None, None, 24
            why = f"{name} is taken as a blood thinner and is not in the catalogue: the prescriber decides"
        elif len(rules) > 1:
            mode, hours, suggested, restart = HoldMode.SHARED, None, None, max(r[2] for r in rules)
            which = ", ".join(sorted({d.indication or d.dosing or d.slug for d in rows}))
            why = f"{name}: the rule depends on details not recorded ({which}): the prescriber decides"
        else:
            ((mode, hours), suggested, restart) = next(iter(rules))
            why = ""
        blocked = ""
        if mode == HoldMode.NONE:
            pass
        elif rows and rows[0].family == DrugFamily.ANTIPLATELET and self.has_stent:
            blocked = "coronary stent: any antiplatelet hold is a cardiology decision"
            if self.recent_stent:
                blocked = "recent coronary stent: an elective procedure should wait; any hold is a cardiology decision"
        elif rows and rows[0].family == DrugFamily.ANTICOAGULANT and self.clot_risk:
            blocked = f"{self.clot_risk}: stopping {name} needs a bridging decision by the prescriber or cardiology"
            self.alerts.append(
                Alert(
                    "mechanical_valve_bridging" if "valve" in self.clot_risk else "high_thrombotic_risk",
                    "block",
                    f"{name} with {blocked}.",
                    "clinical-reference 5a (ACC 2017 periprocedural anticoagulation): clinic_tbc",
                )
            )
        if mode == HoldMode.NONE and not blocked and (decision is None or decision.choice != "approve"):
            self._keep(name, family, index, common, f"{name}: no hold before {risk_phrase(facts.risk)} procedure{tbc}")
            return
        renal_note = ""
        if drug is not None and mode == HoldMode.HOLD:
            renal = drug.renal_hold_for(facts.crcl)
            if renal is not None and hours is not None and renal > hours:
                hours, renal_note = renal, f" (longer: creatinine clearance {facts.crcl} mL/min)"
            elif facts.crcl is None and drug.renal_hold_hours and "impaired_renal_function" in facts.flags:
                hours, renal_note = drug.renal_hold_hours, " (longer: impaired renal function)"
            elif facts.crcl is None and drug.renal_bands:
                self.alerts.append(
                    Alert(
                        "crcl_unknown",
                        "warn",
                        f"The {name} hold depends on kidney function and no creatinine clearance is recorded: "
                        f"the plan assumes normal kidney function.",
                        drug.source,
                    )
                )
        approval_ti = self._text(DECISION_TEXT, family)
        hold_ti = self._text(HOLD_TEXT, family)
        assert approval_ti is not None and hold_ti is not None
        approval_due = due_time(approval_ti, facts.start_at, facts.tz)
        approval = PlannedItem(
            code=f"{APPROVAL_PREFIX}{key}",
            template_item=approval_ti,
            title=approval_ti.title_en.replace("{drug}", name),
            due_at=approval_due,
            reason="",
            source=approval_ti.source + "".join(f" Drug rule: {d.source}" for d in rows[:1]),
            sort_order=self._sort(DECISION_TEXT, family, index),
            # The decision's own hold length stays on the decision item (it is what re-plans the hold).
            hold_hours=decision.hold_hours if decision is not None else None,
            **common,
        )
        self.items.append(approval)
        # The hold the plan gives: the prescriber's own (kept and re-dated on every change), else the
        # catalogue's, unless a shared assessment or a safety block leaves the dates to the prescriber.
        set_by = ""
        if decision is not None and decision.choice == "approve" and decision.hold_hours:
            hours, set_by = decision.hold_hours, decision.by_name or "the prescriber"
        elif blocked or mode != HoldMode.HOLD:
            hours = None
        if decision is not None and decision.choice in ("decline", "liquid_diet"):
            hours = None
        if hours is None:
            if blocked:
                approval.reason = f"{name}: blocked, {blocked}. No hold dates reach the patient until then.{tbc}"
            elif why:
                approval.reason = f"{why}; no hold dates until then.{read}{tbc}"
            else:
                offer = f" Suggested: last dose {_fmt_hours(suggested)} before." if suggested else ""
                approval.reason = self._decision_reason(name, family, rows) + offer + read + tbc
            if decision is not None and decision.choice in ("decline", "liquid_diet"):
                self._keep(name, family, index, common, f"{name}: the prescriber decided it is not stopped")
            if decision is not None and decision.choice == "liquid_diet":
                self._liquid_diet(name, index, common)
            return
        last_dose = hours_before(facts.start_at, facts.tz, hours)
        restart_at = facts.start_at + dt.timedelta(hours=restart)
        approval.due_at = min(approval_due, last_dose - dt.timedelta(days=1))
        inr = " then a normal INR;" if any(d.needs_normal_inr for d in rows) else ""
        if set_by:
            approval.reason = f"{name}: hold of {_fmt_hours(hours)} set by {set_by}.{tbc}"
            hold_reason = f"{name}: hold of {_fmt_hours(hours)} set by {set_by};{inr}"
        else:
            approval.reason = (
                f"{name} is held {_fmt_hours(hours)}{renal_note} before {risk_phrase(facts.risk)} procedure; "
                f"every hold needs the prescriber's approval.{read}{tbc}"
            )
            hold_reason = (
                f"{name}: hold {_fmt_hours(hours)}{renal_note} before {risk_phrase(facts.risk)} procedure;{inr}"
            )
        approved = decision is not None and decision.choice == "approve"
        hold_reason += " approved." if approved else " locked until the prescriber approves."
        hold = PlannedItem(
            code=f"{HOLD_PREFIX}{key}",
            template_item=hold_ti,
            title=hold_ti.title_en.replace("{drug}", name),
            due_at=last_dose,
            reason=hold_reason + tbc,
            source=hold_ti.source + "".join(f" Drug rule: {d.source}" for d in rows[:1]),
            sort_order=self._sort(HOLD_TEXT, family, index),
            last_dose_at=last_dose,
            restart_at=restart_at,
            locked=not approved,
            hold_hours=hours,
            **common,
        )
        self.items.append(hold)
        self._check_interval(name, key, hours, last_dose)

    @staticmethod
    def _decision_reason(name: str, family: str, rows: Sequence[Drug]) -> str:
        dosing = rows[0].dosing if len(rows) == 1 else ""
        if family == DrugFamily.GLP1:
            how = f"{dosing} dosing" if dosing else "dosing not recorded (daily or weekly)"
            return (
                f"{name} (GLP-1 agonist, {how}) with sedation or anaesthesia: the prescriber or anaesthetist "
                "decides: continue with a clear-liquid diet for 24 hours before, or hold."
            )
        if family == DrugFamily.DIABETES:
            return f"{name} on the fasting day: the prescriber decides the doses."
        return f"{name}: the prescriber decides whether to hold it (shared assessment)."

    def _keep(self, name: str, family: str, index: int, common: _DrugFields, reason: str) -> None:
        keep_ti = self.by_code.get(KEEP_TEXT)
        if keep_ti is None:
            return
        key = slugify(common["drug"].substance if common["drug"] else name)
        self.items.append(
            PlannedItem(
                code=f"{KEEP_PREFIX}{key}",
                template_item=keep_ti,
                title=keep_ti.title_en.replace("{drug}", name),
                due_at=due_time(keep_ti, self.facts.start_at, self.facts.tz),
                reason=reason,
                source=keep_ti.source,
                sort_order=self.order.get(KEEP_TEXT, 0) * 100 + index,
                **common,
            )
        )

    def _liquid_diet(self, name: str, index: int, common: _DrugFields) -> None:
        diet_ti = self.by_code.get(LIQUID_DIET_TEXT)
        if diet_ti is None:
            return
        key = slugify(common["drug"].substance if common["drug"] else name)
        self.items.append(
            PlannedItem(
                code=f"{LIQUID_DIET_PREFIX}{key}",
                template_item=diet_ti,
                title=diet_ti.title_en.replace("{drug}", name),
                due_at=due_time(diet_ti, self.facts.start_at, self.facts.tz),
                reason=f"{name}: the prescriber chose a clear-liquid diet for 24 hours before instead of a hold",
                source=diet_ti.source,
                sort_order=self.order.get(LIQUID_DIET_TEXT, 0) * 100 + index,
                **common,
            )
        )

    def _check_interval(self, name: str, key: str, hours: int, last_dose: dt.datetime) -> None:
        if self.facts.now is None:
            return
        previous = self.facts.previous_last_doses.get(key)
        # The last dose actually taken: now, or the old last-dose time if the patient already stopped.
        taken = min(self.facts.now, previous) if previous is not None else self.facts.now
        if taken <= last_dose:
            return
        local = last_dose.astimezone(self.facts.tz)
        self.alerts.append(
            Alert(
                "hold_interval_not_met",
                "block",
                f"{name}: the last dose should have been on {local:%Y-%m-%d %H:%M}, before this plan was made: the "
                f"{_fmt_hours(hours)} hold can no longer be met for the procedure on {self.surgery_day.isoformat()}. "
                "Move the procedure or have the prescriber decide.",
                "asra2018: hold intervals before the procedure",
            )
        )
