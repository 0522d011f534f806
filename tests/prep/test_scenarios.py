"""Table-driven scenarios pinning exact local due times of generated checklists.

Times are in America/Los_Angeles with their UTC offset, so a daylight-saving mistake shows as a
wrong offset or hour. Expectations come from the clinical reference, not from the code.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

import pytest
from django.utils.text import slugify

from prep import planning
from prep.models import Drug, ProcedureVariant, TemplateItem

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
pytestmark = pytest.mark.django_db


def plan(
    procedure: str,
    at: str,
    *,
    birth: str = "1960-06-01",
    anaesthesia: str = "",
    meds: tuple[str, ...] = (),
    flags: tuple[str, ...] = (),
    threshold: int = 65,
) -> dict[str, planning.PlannedItem]:
    proc = ProcedureVariant.objects.get(slug=procedure)
    drugs = list(Drug.objects.all())
    medications = []
    for med in meds:
        name, _, indication = med.partition(":")
        drug, _ = planning.match_drug(name, indication, drugs)
        medications.append(planning.MedicationFacts(name=name, indication=indication, drug=drug, is_blood_thinner=True))
    facts = planning.BookingFacts(
        start_at=planning.local_to_utc(dt.datetime.fromisoformat(at), LA),
        tz=LA,
        birth_date=dt.date.fromisoformat(birth),
        procedure_name=proc.name,
        risk=proc.risk,
        region=proc.region,
        anaesthesia=anaesthesia or proc.default_anaesthesia,
        flags=frozenset(flags),
        clinic_age_threshold=threshold,
        medications=medications,
    )
    items = planning.plan_items(facts, list(TemplateItem.objects.filter(template=proc.template)), drugs)
    return {p.code: p for p in items}


def local(value: dt.datetime | None) -> str | None:
    return value.astimezone(LA).isoformat(timespec="minutes") if value else None


@dataclass
class Scenario:
    name: str
    procedure: str
    at: str
    expect: dict[str, str | None]  # code -> local due time; None: the item must be absent
    kwargs: dict = field(default_factory=dict)
    last_dose: dict[str, str] = field(default_factory=dict)  # hold code -> local last-dose time


SCENARIOS = [
    # --- each anaesthesia type
    Scenario(
        "general anaesthesia: overnight fast, admission, arrival 2 h before",
        "trigeminal-rf",
        "2026-06-15T08:00",
        {
            "fasting_solids": "2026-06-15T02:00-07:00",
            "fasting_clear_liquids": "2026-06-15T06:00-07:00",
            "arrival": "2026-06-15T06:00-07:00",
            "admission": "2026-06-14T12:00-07:00",
            "consent": "2026-06-14T17:00-07:00",
            "hemoglobin": "2026-06-08T08:00-07:00",
            "follow_up": "2026-06-29T10:00-07:00",
        },
    ),
    Scenario(
        "IV sedation (glycerol): fasting, no admission",
        "trigeminal-glycerol",
        "2026-06-15T13:30",
        {
            "fasting_solids": "2026-06-15T07:30-07:00",
            "fasting_clear_liquids": "2026-06-15T11:30-07:00",
            "admission": None,
            "arrival": "2026-06-15T11:30-07:00",
        },
    ),
    Scenario(
        "local anaesthesia (lumbar facet): no fasting, no admission",
        "lumbar-facet-rf",
        "2026-06-15T09:00",
        {
            "fasting_solids": None,
            "fasting_clear_liquids": None,
            "admission": None,
            "arrival": "2026-06-15T07:00-07:00",
            "blood_group": "2026-06-08T09:00-07:00",
        },
    ),
    Scenario(
        "general anaesthesia booked for a facet procedure overrides its usual local",
        "lumbar-facet-rf",
        "2026-06-15T09:00",
        {"fasting_solids": "2026-06-15T03:00-07:00", "admission": "2026-06-14T12:00-07:00"},
        {"anaesthesia": "general"},
    ),
    # --- bleeding-risk classes with aspirin for primary prevention
    Scenario(
        "low risk: aspirin (primary) is not held",
        "lumbar-facet-rf",
        "2026-06-15T08:00",
        {"hold:aspirin": None, "hold_approval:aspirin": None},
        {"meds": ("aspirin:primary",)},
    ),
    Scenario(
        "intermediate risk: aspirin (primary) is a shared assessment",
        "cervical-facet-rf",
        "2026-06-15T08:00",
        {"hold:aspirin": None, "hold_approval:aspirin": "2026-06-05T08:00-07:00"},
        {"meds": ("aspirin:primary",)},
    ),
    Scenario(
        "high risk: aspirin (primary) held 6 days",
        "endoscopic-rhizotomy",
        "2026-06-15T08:00",
        {"hold:aspirin": "2026-06-09T08:00-07:00", "hold_approval:aspirin": "2026-06-05T08:00-07:00"},
        {"meds": ("aspirin:primary",)},
        {"hold:aspirin": "2026-06-09T08:00-07:00"},
    ),
    Scenario(
        "high risk: aspirin (secondary) is a shared assessment",
        "trigeminal-rf",
        "2026-06-15T08:00",
        {"hold:aspirin": None, "hold_approval:aspirin": "2026-06-05T08:00-07:00"},
        {"meds": ("aspirin:secondary",)},
    ),
    Scenario(
        "aspirin without indication: approval only, no dates",
        "trigeminal-rf",
        "2026-06-15T08:00",
        {"hold:aspirin": None, "hold_approval:aspirin": "2026-06-05T08:00-07:00"},
        {"meds": ("aspirin",)},
    ),
    # --- anticoagulants and the INR
    Scenario(
        "warfarin, high risk: 5 days and a normal INR the day before",
        "trigeminal-rf",
        "2026-06-15T08:00",
        {"hold:warfarin": "2026-06-10T08:00-07:00", "inr": "2026-06-14T12:00-07:00"},
        {"meds": ("warfarin",)},
        {"hold:warfarin": "2026-06-10T08:00-07:00"},
    ),
    # clinical-reference 5c (corrected): warfarin always brings an INR item, whoever sets the hold.
    Scenario(
        "warfarin, low risk: shared assessment, still an INR item",
        "lumbar-facet-rf",
        "2026-06-15T08:00",
        {"hold:warfarin": None, "inr": "2026-06-14T12:00-07:00", "hold_approval:warfarin": "2026-06-05T08:00-07:00"},
        {"meds": ("coumadin",)},
    ),
    Scenario(
        "acenocoumarol, intermediate risk: 3 days and an INR",
        "cervical-facet-rf",
        "2026-06-15T08:00",
        {"hold:acenocoumarol": "2026-06-12T08:00-07:00", "inr": "2026-06-14T12:00-07:00"},
        {"meds": ("acenocoumarol",)},
    ),
    Scenario(
        "enoxaparin prophylactic: last dose 12 h before",
        "lumbar-facet-rf",
        "2026-06-15T08:00",
        {"hold:enoxaparin": "2026-06-14T20:00-07:00"},
        {"meds": ("enoxaparin:prophylactic",)},
    ),
    Scenario(
        "enoxaparin therapeutic: last dose 24 h before",
        "lumbar-facet-rf",
        "2026-06-15T08:00",
        {"hold:enoxaparin": "2026-06-14T08:00-07:00"},
        {"meds": ("lovenox:therapeutic",)},
    ),
    Scenario(
        "dabigatran: 5 days",
        "trigeminal-rf",
        "2026-06-15T08:00",
        {"hold:dabigatran": "2026-06-10T08:00-07:00"},
        {"meds": ("dabigatran",)},
    ),
    Scenario(
        "dabigatran with impaired renal function: 6 days",
        "trigeminal-rf",
        "2026-06-15T08:00",
        {"hold:dabigatran": "2026-06-09T08:00-07:00"},
        {"meds": ("pradaxa",), "flags": ("impaired_renal_function",)},
    ),
    Scenario(
        "clopidogrel, low risk: to be confirmed, shared",
        "thoracic-facet-rf",
        "2026-06-15T08:00",
        {"hold:clopidogrel": None, "hold_approval:clopidogrel": "2026-06-05T08:00-07:00"},
        {"meds": ("plavix",)},
    ),
    Scenario(
        "a drug not in the catalogue: approval only",
        "trigeminal-rf",
        "2026-06-15T08:00",
        {"hold_approval:heparin-drip": "2026-06-05T08:00-07:00", "hold:heparin-drip": None},
        {"meds": ("Heparin drip",)},
    ),
    # --- cardiac evaluation: age on the day and procedure risk
    # clinical-reference 5 (corrected): age counts with sedation or anaesthesia, never with the bleeding risk.
    Scenario(
        "65 on the day, sedation booked: cardiac evaluation",
        "cervical-facet-rf",
        "2026-06-15T08:00",
        {"cardiac_evaluation": "2026-06-05T08:00-07:00"},
        {"birth": "1961-06-15", "anaesthesia": "sedation"},
    ),
    Scenario(
        "64 on the day (65 the day after): no cardiac evaluation",
        "cervical-facet-rf",
        "2026-06-15T08:00",
        {"cardiac_evaluation": None},
        {"birth": "1961-06-16", "anaesthesia": "sedation"},
    ),
    Scenario(
        "70 but a low-risk procedure: no cardiac evaluation",
        "lumbar-facet-rf",
        "2026-06-15T08:00",
        {"cardiac_evaluation": None},
        {"birth": "1956-01-01"},
    ),
    Scenario(
        "cardiac history at any age: cardiac evaluation",
        "lumbar-facet-rf",
        "2026-06-15T08:00",
        {"cardiac_evaluation": "2026-06-05T08:00-07:00"},
        {"birth": "1990-01-01", "flags": ("cardiac_history",)},
    ),
    Scenario(
        "a clinic threshold of 60 applies",
        "trigeminal-rf",
        "2026-06-15T08:00",
        {"cardiac_evaluation": "2026-06-05T08:00-07:00"},
        {"birth": "1964-01-01", "threshold": 60},
    ),
    # --- MRI
    Scenario(
        "claustrophobic: MRI comfort tips",
        "trigeminal-rf",
        "2026-06-15T08:00",
        {"mri": "2026-06-01T08:00-07:00", "mri_comfort": "2026-06-01T08:00-07:00"},
        {"flags": ("claustrophobic",)},
    ),
    Scenario(
        "not claustrophobic: no MRI tips",
        "trigeminal-rf",
        "2026-06-15T08:00",
        {"mri": "2026-06-01T08:00-07:00", "mri_comfort": None},
    ),
    # --- daylight saving, 2026 in America/Los_Angeles: 8 March (02:00 -> 03:00), 1 November (02:00 -> 01:00)
    Scenario(
        "surgery on 8 March (spring forward): 6 h fast spans the gap",
        "trigeminal-rf",
        "2026-03-08T08:00",
        {
            "fasting_solids": "2026-03-08T01:00-08:00",
            "fasting_clear_liquids": "2026-03-08T06:00-07:00",
            "hemoglobin": "2026-03-01T08:00-08:00",
            "consent": "2026-03-07T17:00-08:00",
            "follow_up": "2026-03-22T10:00-07:00",
        },
    ),
    Scenario(
        "surgery on 9 March (just after): wall times kept",
        "trigeminal-rf",
        "2026-03-09T08:00",
        {
            "fasting_solids": "2026-03-09T02:00-07:00",
            "hemoglobin": "2026-03-02T08:00-08:00",
            "admission": "2026-03-08T12:00-07:00",
            "consent": "2026-03-08T17:00-07:00",
        },
    ),
    Scenario(
        "hold counted in calendar days across spring forward",
        "trigeminal-rf",
        "2026-03-10T08:00",
        {"hold:clopidogrel": "2026-03-03T08:00-08:00"},
        {"meds": ("clopidogrel",)},
    ),
    Scenario(
        "surgery on 1 November (fall back): fast lands on the repeated hour",
        "trigeminal-rf",
        "2026-11-01T07:00",
        {
            "fasting_solids": "2026-11-01T01:00-08:00",
            "fasting_clear_liquids": "2026-11-01T05:00-08:00",
            "hemoglobin": "2026-10-25T07:00-07:00",
            "consent": "2026-10-31T17:00-07:00",
        },
    ),
    Scenario(
        "surgery on 2 November (just after)",
        "endoscopic-rhizotomy",
        "2026-11-02T08:00",
        {
            "fasting_solids": "2026-11-02T02:00-08:00",
            "hemoglobin": "2026-10-26T08:00-07:00",
            "admission": "2026-11-01T12:00-08:00",
            "arrival": "2026-11-02T06:00-08:00",
        },
    ),
    Scenario(
        "enoxaparin 12 h across fall back is elapsed time",
        "trigeminal-rf",
        "2026-11-01T08:00",
        {"hold:enoxaparin": "2026-10-31T21:00-07:00"},
        {"meds": ("enoxaparin:prophylactic",)},
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(catalogue: None, scenario: Scenario) -> None:
    items = plan(scenario.procedure, scenario.at, **scenario.kwargs)
    got = {code: local(items[code].due_at) if code in items else None for code in scenario.expect}
    assert got == scenario.expect
    for code, expected in scenario.last_dose.items():
        assert local(items[code].last_dose_at) == expected


# Every drug rule of the catalogue at every risk class: (drug input, risk) -> hold in hours,
# "shared" (approval only) or None (nothing). From clinical-reference.md section 3.
DRUG_TABLE = {
    "aspirin:primary": (144, "shared", None),
    "aspirin:secondary": ("shared", "shared", None),
    "ibuprofen": (24, None, None),
    "diclofenac": (24, None, None),
    "ketorolac": (24, None, None),
    "etodolac": (48, None, None),
    "indomethacin": (48, None, None),
    "naproxen": (96, None, None),
    "meloxicam": (96, None, None),
    "nabumetone": (144, None, None),
    "oxaprozin": (240, None, None),
    "piroxicam": (240, None, None),
    "cilostazol": (48, None, None),
    "dipyridamole": (48, None, None),
    "warfarin": (120, 120, "shared"),
    "acenocoumarol": (72, 72, "shared"),
    "enoxaparin:prophylactic": (12, 12, 12),
    "enoxaparin:therapeutic": (24, 24, 24),
    "dalteparin": (24, 24, 24),
    "clopidogrel": (168, 168, "shared"),
    "prasugrel": (240, 240, "shared"),
    "ticagrelor": (120, 120, "shared"),
    "dabigatran": (120, 120, "shared"),
    "rivaroxaban": (72, 72, "shared"),
    "apixaban": (120, 120, "shared"),
    "edoxaban": (72, 72, "shared"),
    "heparin:therapeutic": (6, 6, 6),
    "heparin:prophylactic": (24, 6, 6),
    "fondaparinux": ("shared",) * 3,
    "vorapaxar": ("shared",) * 3,
    "fish oil": ("shared",) * 3,
    "ginkgo": ("shared",) * 3,
    "garlic": ("shared",) * 3,
    "vitamin e": ("shared",) * 3,
    # Metabolic medicines apply with sedation or general anaesthesia only (RISK_PROCEDURE: general for
    # high, local for the others): a decision or an SGLT2 hold, else "keep taking it".
    "semaglutide-weekly": ("shared", None, None),
    "semaglutide-oral": ("shared", None, None),
    "tirzepatide": ("shared", None, None),
    "dulaglutide": ("shared", None, None),
    "liraglutide": ("shared", None, None),
    "exenatide": ("shared", None, None),
    "exenatide-weekly": ("shared", None, None),
    "canagliflozin": (72, None, None),
    "dapagliflozin": (72, None, None),
    "empagliflozin": (72, None, None),
    "ertugliflozin": (96, None, None),
    "insulin": ("shared", None, None),
    "metformin": ("shared", None, None),
    "glipizide": ("shared", None, None),
    "glimepiride": ("shared", None, None),
    "glyburide": ("shared", None, None),
    "sitagliptin": ("shared", None, None),
    "pioglitazone": ("shared", None, None),
}


def drug_key(drug: Drug) -> str:
    """The table's key: substance[:indication], or the slug where that is not unique (dosing)."""
    key = drug.substance + (f":{drug.indication}" if drug.indication else "")
    same = Drug.objects.filter(substance=drug.substance, indication=drug.indication).count()
    return key if same == 1 else drug.slug


RISK_PROCEDURE = {"high": "trigeminal-rf", "intermediate": "cervical-facet-rf", "low": "lumbar-facet-rf"}


@pytest.mark.parametrize("med", sorted(DRUG_TABLE))
def test_every_drug_rule_at_every_risk(catalogue: None, med: str) -> None:
    name, _, indication = med.partition(":")
    drug, _ = planning.match_drug(name, indication, list(Drug.objects.all()))
    assert drug is not None, med
    substance = slugify(drug.substance)
    surgery = dt.datetime(2026, 6, 15, 8, 0, tzinfo=LA)
    for risk, expected in zip(("high", "intermediate", "low"), DRUG_TABLE[med], strict=True):
        items = plan(RISK_PROCEDURE[risk], "2026-06-15T08:00", meds=(med,))
        hold, approval = items.get(f"hold:{substance}"), items.get(f"hold_approval:{substance}")
        if expected is None:
            assert hold is None and approval is None, (risk, med)
        elif expected == "shared":
            assert hold is None and approval is not None, (risk, med)
        else:
            assert approval is not None and hold is not None, (risk, med)
            assert hold.locked
            assert surgery - hold.last_dose_at.astimezone(LA) == dt.timedelta(hours=expected), (risk, med)
            assert hold.restart_at > surgery


def test_every_drug_in_the_catalogue_is_in_the_table(catalogue: None) -> None:
    catalogue_keys = {drug_key(d) for d in Drug.objects.all()}
    assert catalogue_keys == set(DRUG_TABLE)


def test_generation_is_deterministic(catalogue: None) -> None:
    kwargs = {"meds": ("warfarin", "aspirin:primary"), "flags": ("claustrophobic",), "birth": "1950-01-01"}
    first = plan("trigeminal-rf", "2026-06-15T08:00", **kwargs)
    second = plan("trigeminal-rf", "2026-06-15T08:00", **kwargs)
    assert [(p.code, p.due_at, p.reason) for p in first.values()] == [
        (p.code, p.due_at, p.reason) for p in second.values()
    ]


def test_birth_date_after_surgery_is_refused(catalogue: None) -> None:
    with pytest.raises(planning.PlanningError) as info:
        plan("trigeminal-rf", "2026-06-15T08:00", birth="2026-07-01")
    assert info.value.field == "birth_date"
