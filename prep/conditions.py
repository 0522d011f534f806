"""Structured item conditions: one table of condition kinds, each validated, evaluated and described.

A condition is a mapping whose keys must all hold; ``any_of`` nests alternatives. Each key is a
:class:`ConditionKind` in :data:`KINDS` that knows three things about its value: whether it is
well formed (the catalogue loader and the clinic-policy admin), whether it holds for a booking
(checklist generation, with the reasons that made it hold, so every generated item can say why
it is on the list) and how it reads in words (the FHIR export, staff screens). Adding a key means
adding one row here and one line to ``prep/catalogue/README.md``; nothing is ever ``eval``-ed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from patients.models import CONDITION_CODES, PATIENT_FLAGS, Sex

RISKS = ("low", "intermediate", "high")
ANAESTHESIA = ("general", "sedation", "local")
CLINIC_AGE_WORDS = "the clinic's age threshold"


class ConditionError(ValueError):
    """A catalogue condition is malformed; the message names the key."""


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
    # The slug of the catalogue age band the patient is in on the surgery day ("" when the
    # template has no bands): see ``prep.planning.age_band_for``.
    age_band: str = ""


@dataclass(frozen=True)
class Context:
    """What validation and description need beyond the value itself."""

    # The catalogue's regions (``regions_in`` values); None accepts any (a clinic policy edited
    # in the admin has no catalogue file at hand).
    regions: tuple[str, ...] | None = None
    # The catalogue's age bands (``age_band_in`` values); None accepts any.
    age_bands: tuple[str, ...] | None = None
    # How ``min_age: clinic`` reads in words: a clinic's number where one is known.
    clinic_age: str = CLINIC_AGE_WORDS


@dataclass(frozen=True)
class ConditionKind:
    """One key of the condition language.

    ``validate`` raises :class:`ConditionError`; ``evaluate`` returns the reasons the key holds
    (possibly none) or None when it does not; ``describe`` returns the key in words.
    """

    key: str
    validate: Callable[[Any, Context], None]
    evaluate: Callable[[Any, Facts], list[str] | None]
    describe: Callable[[Any, Context], str]


def _words(values: list[str]) -> str:
    return " or ".join(v.replace("_", " ") for v in values)


def _list_of(key: str, allowed: Callable[[Context], tuple[str, ...] | None]) -> Callable[[Any, Context], None]:
    def check(value: Any, ctx: Context) -> None:
        if not isinstance(value, list) or not value:
            raise ConditionError(f"{key} must be a non-empty list")
        choices = allowed(ctx)
        if choices is not None:
            unknown = [v for v in value if v not in choices]
            if unknown:
                raise ConditionError(f"{key} has unknown values {unknown}; allowed: {list(choices)}")

    return check


def _true(key: str) -> Callable[[Any, Context], None]:
    def check(value: Any, ctx: Context) -> None:
        if value is not True:
            raise ConditionError(f"{key} must be true")

    return check


def _one_of(
    key: str, allowed: Callable[[Context], tuple[str, ...] | None], fact: str, reason: str, words: str
) -> ConditionKind:
    """A key whose value lists the accepted values of one booking fact (``risk_in: [high]``)."""

    def evaluate(value: list[str], facts: Facts) -> list[str] | None:
        found = getattr(facts, fact)
        return [reason.format(found)] if found in value else None

    return ConditionKind(key, _list_of(key, allowed), evaluate, lambda value, ctx: words + " or ".join(value))


def _any_present(key: str, allowed: tuple[str, ...], fact: str, reason: str, words: str) -> ConditionKind:
    """A key that holds when the patient has at least one of the listed flags or conditions."""

    def evaluate(value: list[str], facts: Facts) -> list[str] | None:
        present = sorted(getattr(facts, fact).intersection(value))
        return [reason + ", ".join(p.replace("_", " ") for p in present)] if present else None

    return ConditionKind(key, _list_of(key, lambda ctx: allowed), evaluate, lambda value, ctx: words + _words(value))


def _fact_true(key: str, reason: str, words: str) -> ConditionKind:
    """A key written ``key: true`` that holds when the booking fact of the same name is true."""
    return ConditionKind(
        key, _true(key), lambda value, facts: [reason] if getattr(facts, key) else None, lambda value, ctx: words
    )


def _validate_age(key: str, *, clinic_allowed: bool) -> Callable[[Any, Context], None]:
    def check(value: Any, ctx: Context) -> None:
        is_age = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 130
        if not is_age and not (clinic_allowed and value == "clinic"):
            raise ConditionError(f"{key} must be an age in years" + (" or 'clinic'" if clinic_allowed else ""))

    return check


def _min_age(value: int | str, facts: Facts) -> list[str] | None:
    threshold = facts.clinic_age_threshold if value == "clinic" else int(value)
    return [f"age {facts.age} on the day of surgery (≥ {threshold})"] if facts.age >= threshold else None


def _max_age(value: int, facts: Facts) -> list[str] | None:
    return [f"age {facts.age} on the day of surgery (≤ {value})"] if facts.age <= value else None


def _validate_any_of(value: Any, ctx: Context) -> None:
    if not isinstance(value, list) or not value:
        raise ConditionError("any_of must be a non-empty list of conditions")
    for index, alternative in enumerate(value):
        try:
            _validate(alternative, ctx)
        except ConditionError as exc:
            raise ConditionError(f"any_of[{index}]: {exc}") from None


def _any_of(value: list[Mapping[str, Any]], facts: Facts) -> list[str] | None:
    # The first alternative that holds gives the reasons: one "why" per item, not every match.
    for alternative in value:
        found = evaluate(alternative, facts)
        if found is not None:
            return found
    return None


KINDS: dict[str, ConditionKind] = {
    kind.key: kind
    for kind in (
        ConditionKind(
            "min_age",
            _validate_age("min_age", clinic_allowed=True),
            _min_age,
            lambda value, ctx: f"age on the day of surgery at least {ctx.clinic_age if value == 'clinic' else value}",
        ),
        ConditionKind(
            "max_age",
            _validate_age("max_age", clinic_allowed=False),
            _max_age,
            lambda value, ctx: f"age on the day of surgery at most {value}",
        ),
        _one_of(
            "risk_in",
            lambda ctx: RISKS,
            "risk",
            "{} bleeding-risk procedure",
            "bleeding-risk class of the procedure is ",
        ),
        _one_of(
            "cardiac_risk_in",
            lambda ctx: RISKS,
            "cardiac_risk",
            "{} cardiovascular-risk procedure",
            "cardiovascular-risk class of the procedure is ",
        ),
        _one_of("anaesthesia_in", lambda ctx: ANAESTHESIA, "anaesthesia", "{} anaesthesia", "anaesthesia is "),
        _one_of("regions_in", lambda ctx: ctx.regions, "region", "{} procedure", "procedure region is "),
        _one_of(
            "age_band_in",
            lambda ctx: ctx.age_bands,
            "age_band",
            "age band {} on the day of surgery",
            "age band on the day of surgery is ",
        ),
        _any_present("flags_any", PATIENT_FLAGS, "flags", "patient flagged ", "patient is flagged "),
        _any_present("conditions_any", CONDITION_CODES, "conditions", "patient has ", "patient has "),
        _one_of("sex_in", lambda ctx: tuple(Sex.values), "sex", "sex recorded as {}", "sex is recorded as "),
        _fact_true(
            "held_drug_needs_inr",
            "a vitamin K antagonist (warfarin, acenocoumarol) needs a normal INR before the procedure",
            "a vitamin K antagonist needs a normal INR before the procedure",
        ),
        _fact_true(
            "has_unmatched_medication",
            "a medicine the dictionary could not read",
            "a medicine could not be read by the dictionary",
        ),
        ConditionKind(
            "any_of",
            _validate_any_of,
            _any_of,
            lambda value, ctx: "(" + ") or (".join(_describe(alt, ctx) for alt in value) + ")",
        ),
    )
}
KEYS = tuple(KINDS)


def _validate(condition: Any, ctx: Context) -> None:
    if not isinstance(condition, Mapping):
        raise ConditionError("a condition must be a mapping")
    for key, value in condition.items():
        kind = KINDS.get(key)
        if kind is None:
            raise ConditionError(f"unknown condition key {key!r}; allowed: {list(KEYS)}")
        kind.validate(value, ctx)


def validate(
    condition: Any, *, regions: tuple[str, ...] | None = None, age_bands: tuple[str, ...] | None = None
) -> None:
    """Raise :class:`ConditionError` naming the first key that is unknown or malformed."""
    _validate(condition, Context(regions=regions, age_bands=age_bands))


def evaluate(condition: Mapping[str, Any], facts: Facts) -> list[str] | None:
    """The reasons the condition holds, or None when it does not. ``{}`` holds with no reason.

    Conditions are validated where they are written (loader, admin); a key this table does not
    know is skipped here, as before the table existed, rather than failing a booking.
    """
    reasons: list[str] = []
    for key, value in condition.items():
        kind = KINDS.get(key)
        if kind is None:
            continue
        found = kind.evaluate(value, facts)
        if found is None:
            return None
        reasons.extend(found)
    return reasons


def _describe(condition: Mapping[str, Any], ctx: Context) -> str:
    return " and ".join(KINDS[key].describe(value, ctx) for key, value in condition.items() if key in KINDS)


def describe(condition: Mapping[str, Any], *, clinic_age: str = CLINIC_AGE_WORDS) -> str:
    """A condition in words (FHIR and staff get text, never something to execute)."""
    return _describe(condition, Context(clinic_age=clinic_age))
