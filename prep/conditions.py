"""Structured item conditions: validated when the catalogue loads, evaluated without ``eval``.

A condition is a mapping whose keys must all hold; ``any_of`` nests alternatives. Evaluation
returns the reasons that made it hold, so every generated item can say why it is on the list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from patients.models import CONDITION_CODES, PATIENT_FLAGS, Sex

RISKS = ("low", "intermediate", "high")
ANAESTHESIA = ("general", "sedation", "local")
KEYS = (
    "min_age", "max_age", "risk_in", "cardiac_risk_in", "anaesthesia_in", "regions_in", "flags_any",
    "conditions_any", "sex_in", "held_drug_needs_inr", "has_unmatched_medication", "any_of",
)  # fmt: skip


class ConditionError(ValueError):
    """A catalogue condition is malformed."""


@dataclass(frozen=True)
class Facts:
    """What generation knows about one booking, in the terms conditions use."""

    age: int
    risk: str
    anaesthesia: str
    region: str
    flags: frozenset[str]
    clinic_age_threshold: int
    held_drug_needs_inr: bool
    conditions: frozenset[str] = frozenset()
    cardiac_risk: str = "low"
    sex: str = "unknown"
    has_unmatched_medication: bool = False


def _list_of(value: Any, allowed: tuple[str, ...] | None, key: str) -> None:
    if not isinstance(value, list) or not value:
        raise ConditionError(f"{key} must be a non-empty list")
    if allowed is not None:
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise ConditionError(f"{key} has unknown values {unknown}; allowed: {list(allowed)}")


def validate(condition: Any, *, regions: tuple[str, ...] | None = None) -> None:
    if not isinstance(condition, Mapping):
        raise ConditionError("a condition must be a mapping")
    for key, value in condition.items():
        if key not in KEYS:
            raise ConditionError(f"unknown condition key {key!r}; allowed: {list(KEYS)}")
        if key in ("min_age", "max_age"):
            if not (value == "clinic" and key == "min_age") and not (isinstance(value, int) and 0 <= value <= 130):
                raise ConditionError(f"{key} must be an age in years" + (" or 'clinic'" if key == "min_age" else ""))
        elif key in ("risk_in", "cardiac_risk_in"):
            _list_of(value, RISKS, key)
        elif key == "conditions_any":
            _list_of(value, CONDITION_CODES, key)
        elif key == "sex_in":
            _list_of(value, tuple(Sex.values), key)
        elif key == "anaesthesia_in":
            _list_of(value, ANAESTHESIA, key)
        elif key == "regions_in":
            _list_of(value, regions, key)
        elif key == "flags_any":
            _list_of(value, PATIENT_FLAGS, key)
        elif key in ("held_drug_needs_inr", "has_unmatched_medication"):
            if value is not True:
                raise ConditionError(f"{key} must be true")
        elif key == "any_of":
            if not isinstance(value, list) or not value:
                raise ConditionError("any_of must be a non-empty list of conditions")
            for alternative in value:
                validate(alternative, regions=regions)


def evaluate(condition: Mapping[str, Any], facts: Facts) -> list[str] | None:
    """The reasons the condition holds, or None when it does not. ``{}`` holds with no reason."""
    reasons: list[str] = []
    for key, value in condition.items():
        if key == "min_age":
            threshold = facts.clinic_age_threshold if value == "clinic" else value
            if facts.age < threshold:
                return None
            reasons.append(f"age {facts.age} on the day of surgery (≥ {threshold})")
        elif key == "max_age":
            if facts.age > value:
                return None
            reasons.append(f"age {facts.age} on the day of surgery (≤ {value})")
        elif key == "risk_in":
            if facts.risk not in value:
                return None
            reasons.append(f"{facts.risk} bleeding-risk procedure")
        elif key == "cardiac_risk_in":
            if facts.cardiac_risk not in value:
                return None
            reasons.append(f"{facts.cardiac_risk} cardiovascular-risk procedure")
        elif key == "conditions_any":
            present = sorted(facts.conditions.intersection(value))
            if not present:
                return None
            reasons.append("patient has " + ", ".join(p.replace("_", " ") for p in present))
        elif key == "sex_in":
            if facts.sex not in value:
                return None
            reasons.append(f"sex recorded as {facts.sex}")
        elif key == "has_unmatched_medication":
            if not facts.has_unmatched_medication:
                return None
            reasons.append("a medicine the dictionary could not read")
        elif key == "anaesthesia_in":
            if facts.anaesthesia not in value:
                return None
            reasons.append(f"{facts.anaesthesia} anaesthesia")
        elif key == "regions_in":
            if facts.region not in value:
                return None
            reasons.append(f"{facts.region} procedure")
        elif key == "flags_any":
            present = sorted(facts.flags.intersection(value))
            if not present:
                return None
            reasons.append("patient flagged " + ", ".join(p.replace("_", " ") for p in present))
        elif key == "held_drug_needs_inr":
            if not facts.held_drug_needs_inr:
                return None
            reasons.append("a vitamin K antagonist (warfarin, acenocoumarol) needs a normal INR before the procedure")
        elif key == "any_of":
            for alternative in value:
                found = evaluate(alternative, facts)
                if found is not None:
                    reasons.extend(found)
                    break
            else:
                return None
    return reasons


def describe(condition: Mapping[str, Any], *, clinic_age: str = "the clinic's age threshold") -> str:
    """A condition in words (FHIR and staff get text, never something to execute)."""
    parts: list[str] = []
    for key, value in condition.items():
        if key == "min_age":
            parts.append(f"age on the day of surgery at least {clinic_age if value == 'clinic' else value}")
        elif key == "max_age":
            parts.append(f"age on the day of surgery at most {value}")
        elif key == "risk_in":
            parts.append("bleeding-risk class of the procedure is " + " or ".join(value))
        elif key == "cardiac_risk_in":
            parts.append("cardiovascular-risk class of the procedure is " + " or ".join(value))
        elif key == "anaesthesia_in":
            parts.append("anaesthesia is " + " or ".join(value))
        elif key == "regions_in":
            parts.append("procedure region is " + " or ".join(value))
        elif key == "flags_any":
            parts.append("patient is flagged " + " or ".join(v.replace("_", " ") for v in value))
        elif key == "conditions_any":
            parts.append("patient has " + " or ".join(v.replace("_", " ") for v in value))
        elif key == "sex_in":
            parts.append("sex is recorded as " + " or ".join(value))
        elif key == "held_drug_needs_inr":
            parts.append("a vitamin K antagonist needs a normal INR before the procedure")
        elif key == "has_unmatched_medication":
            parts.append("a medicine could not be read by the dictionary")
        elif key == "any_of":
            parts.append("(" + ") or (".join(describe(alt, clinic_age=clinic_age) for alt in value) + ")")
    return " and ".join(parts)
