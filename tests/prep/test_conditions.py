"""The condition language: one table of kinds, each validated, evaluated and described the same way everywhere."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from prep import conditions
from prep.conditions import KINDS, ConditionError, Facts

README = Path(conditions.__file__).resolve().parent / "catalogue" / "README.md"

FACTS = Facts(
    age=70,
    risk="high",
    anaesthesia="sedation",
    region="cervical",
    flags=frozenset({"cardiac_history"}),
    clinic_age_threshold=65,
    held_drug_needs_inr=True,
    conditions=frozenset({"atrial_fibrillation"}),
    cardiac_risk="intermediate",
    sex="female",
    has_unmatched_medication=True,
    age_band="adult",
)

# Per key: a value that holds for FACTS (with its reason and its words), and one that does not.
CASES = {
    "min_age": ("clinic", ["age 70 on the day of surgery (≥ 65)"], "age on the day of surgery at least 65", 71),
    "max_age": (80, ["age 70 on the day of surgery (≤ 80)"], "age on the day of surgery at most 80", 69),
    "risk_in": (["high"], ["high bleeding-risk procedure"], "bleeding-risk class of the procedure is high", ["low"]),
    "cardiac_risk_in": (
        ["intermediate", "high"],
        ["intermediate cardiovascular-risk procedure"],
        "cardiovascular-risk class of the procedure is intermediate or high",
        ["low"],
    ),
    "anaesthesia_in": (
        ["general", "sedation"],
        ["sedation anaesthesia"],
        "anaesthesia is general or sedation",
        ["local"],
    ),
    "regions_in": (["cervical"], ["cervical procedure"], "procedure region is cervical", ["lumbar"]),
    "flags_any": (
        ["cardiac_history", "latex_allergy"],
        ["patient flagged cardiac history"],
        "patient is flagged cardiac history or latex allergy",
        ["claustrophobic"],
    ),
    "conditions_any": (
        ["atrial_fibrillation", "vte"],
        ["patient has atrial fibrillation"],
        "patient has atrial fibrillation or vte",
        ["stroke"],
    ),
    "sex_in": (["female"], ["sex recorded as female"], "sex is recorded as female", ["male"]),
    "held_drug_needs_inr": (
        True,
        ["a vitamin K antagonist (warfarin, acenocoumarol) needs a normal INR before the procedure"],
        "a vitamin K antagonist needs a normal INR before the procedure",
        None,
    ),
    "has_unmatched_medication": (
        True,
        ["a medicine the dictionary could not read"],
        "a medicine could not be read by the dictionary",
        None,
    ),
    "age_band_in": (
        ["adult"],
        ["age band adult on the day of surgery"],
        "age band on the day of surgery is adult",
        ["infant", "child"],
    ),
    "any_of": (
        [{"risk_in": ["low"]}, {"min_age": 65}],
        ["age 70 on the day of surgery (≥ 65)"],
        "(bleeding-risk class of the procedure is low) or (age on the day of surgery at least 65)",
        [{"risk_in": ["low"]}],
    ),
}


def test_the_table_the_readme_and_the_cases_name_the_same_keys() -> None:
    documented = set(re.findall(r"^\| `(\w+)` \|", README.read_text(encoding="utf-8"), flags=re.MULTILINE))
    assert set(KINDS) == set(CASES)
    assert set(KINDS) <= documented, set(KINDS) - documented


@pytest.mark.parametrize("key", list(CASES))
def test_each_kind_validates_evaluates_and_describes_its_value(key: str) -> None:
    holds, reasons, words, fails = CASES[key]
    conditions.validate({key: holds}, regions=("cervical", "lumbar"))
    assert conditions.evaluate({key: holds}, FACTS) == reasons
    assert conditions.describe({key: holds}, clinic_age="65") == words
    if fails is not None:
        conditions.validate({key: fails}, regions=("cervical", "lumbar"))
        assert conditions.evaluate({key: fails}, FACTS) is None
    else:
        assert conditions.evaluate({key: holds}, dataclasses.replace(FACTS, **{key: False})) is None


def test_all_keys_must_hold_and_the_reasons_add_up() -> None:
    both = {"risk_in": ["high"], "anaesthesia_in": ["sedation"]}
    assert conditions.evaluate(both, FACTS) == ["high bleeding-risk procedure", "sedation anaesthesia"]
    assert conditions.evaluate({**both, "max_age": 50}, FACTS) is None
    assert conditions.evaluate({}, FACTS) == []
    assert conditions.describe(both) == "bleeding-risk class of the procedure is high and anaesthesia is sedation"
    assert conditions.describe({"min_age": "clinic"}) == "age on the day of surgery at least the clinic's age threshold"


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ([], "a condition must be a mapping"),
        ({"eval": "True"}, "unknown condition key 'eval'"),
        ({"min_age": "old"}, "min_age must be an age in years or 'clinic'"),
        ({"max_age": "clinic"}, "max_age must be an age in years$"),
        ({"max_age": 200}, "max_age must be an age"),
        ({"risk_in": []}, "risk_in must be a non-empty list"),
        ({"sex_in": ["robot"]}, r"sex_in has unknown values \['robot'\]"),
        ({"regions_in": ["moon"]}, r"regions_in has unknown values \['moon'\]; allowed: \['cervical'\]"),
        ({"held_drug_needs_inr": "yes"}, "held_drug_needs_inr must be true"),
        ({"any_of": []}, "any_of must be a non-empty list of conditions"),
        ({"any_of": [{"min_age": 65}, {"flags_any": ["vampire"]}]}, r"any_of\[1\]: flags_any has unknown values"),
    ],
)
def test_a_malformed_condition_is_refused_with_the_key_named(condition, message: str) -> None:
    with pytest.raises(ConditionError, match=message):
        conditions.validate(condition, regions=("cervical",))


def test_age_bands_are_the_catalogues() -> None:
    with pytest.raises(
        ConditionError, match=r"age_band_in has unknown values \['teen'\]; allowed: \['infant', 'adult'\]"
    ):
        conditions.validate({"age_band_in": ["teen"]}, age_bands=("infant", "adult"))
    conditions.validate({"age_band_in": ["infant"]}, age_bands=("infant", "adult"))


def test_regions_are_free_where_no_catalogue_is_at_hand() -> None:
    conditions.validate({"regions_in": ["moon"]})  # a clinic policy edited in the admin
