"""Structured item conditions: validated when the catalogue loads, evaluated without ``eval``.

A condition is a mapping whose keys must all hold; ``any_of`` nests alternatives. Evaluation
returns the reasons that made it hold, so every generated item can say why it is on the list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from patients.models import PATIENT_FLAGS

RISKS = ("low", "intermediate", "high")
ANAESTHESIA = ("general", "sedation", "local")
KEYS = ("min_age", "max_age", "risk_in", "anaesthesia_in", "regions_in", "flags_any", "held_drug_needs_inr", "any_of")


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
        elif key == "risk_in":
            _list_of(value, RISKS, key)
        elif key == "anaesthesia_in":
            _list_of(value, ANAESTHESIA, key)
        elif key == "regions_in":
            _list_of(value, regions, key)
        elif key == "flags_any":
            _list_of(value, PATIENT_FLAGS, key)
        elif key == "held_drug_needs_inr":
            if value is not True:
                raise ConditionError("held_drug_needs_inr must be true")
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
            reasons.append("a held anticoagulant needs a normal INR before the procedure")
        elif key == "any_of":
            for alternative in value:
                found = evaluate(alternative, facts)
                if found is not None:
                    reasons.extend(found)
                    break
            else:
                return None
    return reasons
