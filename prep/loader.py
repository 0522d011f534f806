"""Loading the versioned catalogue file into the database (``manage.py load_catalogue``).

Idempotent: a catalogue version that was loaded before is not loaded again, so the edits a clinic
made in the admin survive every restart; ``force`` reloads the file over them.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from django.db import models, transaction
from django.utils import timezone

from prep import conditions
from prep.models import (
    Assignee,
    CalendarEntry,
    CatalogueRelease,
    Category,
    ChecklistTemplate,
    ConfirmAs,
    Dosing,
    Drug,
    DrugFamily,
    HoldMode,
    KnownMedicine,
    ProcedureVariant,
    ReminderKind,
    ResultKind,
    RiskClass,
    ShowTime,
    TemplateItem,
    default_reminder_kind,
)

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEFAULT_PATH = Path(__file__).resolve().parent / "catalogue" / "rhizotomy.yaml"
ITEM_REQUIRED = (
    "code",
    "category",
    "assignee",
    "required",
    "title_en",
    "patient_title_en",
    "patient_title_es",
    "instructions_en",
    "instructions_es",
    "why_en",
    "why_es",
    "timing",
    "source",
)
ITEM_OPTIONAL = ("conditions", "result", "validity_days", "loinc", "reminders_hours", "clinic_policy", "timing_options")
# The texts addressed to a parent or guardian when the patient is a child (a ``parent`` age band).
ITEM_PARENT_TEXTS = (
    "patient_title_parent_en",
    "patient_title_parent_es",
    "instructions_parent_en",
    "instructions_parent_es",
    "why_parent_en",
    "why_parent_es",
)
AGE_BAND_KEYS = ("slug", "name", "name_es", "min_age", "max_age", "audience", "source")
AUDIENCES = ("patient", "parent")
# How an item behaves for the patient and the reminders (see the catalogue's README): never its code.
ITEM_BEHAVIOUR = ("confirm_as", "reminder_kind", "show_time", "calendar")
DRUG_KEYS = (
    "slug",
    "substance",
    "indication",
    "name",
    "name_es",
    "aliases",
    "class",
    "family",
    "dosing",
    "anaesthesia_in",
    "hold",
    "suggested_hold",
    "renal_hold",
    "renal_bands",
    "restart",
    "restart_note",
    "needs_normal_inr",
    "to_be_confirmed",
    "source",
)
_DURATION = re.compile(r"^(\d+)([dh])$")


class CatalogueError(ValueError):
    """The catalogue file is malformed; the message names the place."""


@dataclass
class LoadReport:
    version: str
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    already_loaded: bool = False

    def count(self, kind: str, created: bool) -> None:
        bucket = self.created if created else self.updated
        bucket[kind] = bucket.get(kind, 0) + 1


def _need(mapping: dict, key: str, where: str) -> Any:
    if key not in mapping or mapping[key] in (None, ""):
        raise CatalogueError(f"{where}: missing {key!r}")
    return mapping[key]


def _choice(value: Any, choices: type[models.Choices], where: str) -> str:
    if value not in choices.values:
        raise CatalogueError(f"{where}: {value!r} is not one of {list(choices.values)}")
    return value


def parse_duration_hours(value: Any, where: str) -> int:
    match = _DURATION.match(str(value))
    if not match:
        raise CatalogueError(f"{where}: {value!r} is not a duration such as 6d or 12h")
    number, unit = int(match.group(1)), match.group(2)
    return number * 24 if unit == "d" else number


def parse_hold(value: Any, where: str) -> tuple[str, int | None]:
    if value in ("none", "shared"):
        return value, None
    return HoldMode.HOLD, parse_duration_hours(value, where)


def parse_timing(timing: Any, where: str) -> dict[str, Any]:
    if not isinstance(timing, dict) or not timing or set(timing) - {"days", "minutes", "at"}:
        raise CatalogueError(f"{where}: timing must be a mapping of days, minutes and/or at")
    at = timing.get("at")
    if at is not None:
        if "minutes" in timing:
            raise CatalogueError(f"{where}: timing cannot combine 'at' with 'minutes'")
        try:
            at = dt.time.fromisoformat(str(at))
        except ValueError:
            raise CatalogueError(f"{where}: at {at!r} is not a time such as 18:00") from None
    for key in ("days", "minutes"):
        if not isinstance(timing.get(key, 0), int):
            raise CatalogueError(f"{where}: {key} must be a whole number")
    return {"offset_days": timing.get("days", 0), "offset_minutes": timing.get("minutes", 0), "at_local_time": at}


def parse_result(result: Any, where: str) -> dict[str, Any]:
    result = result or {"kind": "none"}
    kind = _choice(result.get("kind"), ResultKind, f"{where}.kind")
    values: dict[str, Any] = {
        "result_kind": kind,
        "result_choices": [],
        "result_unit": "",
        "result_min": None,
        "result_max": None,
    }
    if kind == ResultKind.CHOICE:
        choices = result.get("choices")
        if not isinstance(choices, list) or not choices:
            raise CatalogueError(f"{where}: a choice result needs a list of choices")
        values["result_choices"] = [str(c) for c in choices]
    thresholds = ("accept_min", "accept_max", "alert_min", "alert_max")
    unknown = set(result) - {"kind", "choices", "unit", "min", "max", "thresholds_to_be_confirmed", *thresholds}
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    values.update({f"result_{t}": None for t in thresholds})
    values["thresholds_to_be_confirmed"] = bool(result.get("thresholds_to_be_confirmed"))
    if kind == ResultKind.NUMBER:
        try:
            values["result_min"] = Decimal(str(_need(result, "min", where)))
            values["result_max"] = Decimal(str(_need(result, "max", where)))
            for key in thresholds:
                if result.get(key) is not None:
                    values[f"result_{key}"] = Decimal(str(result[key]))
        except ArithmeticError:
            raise CatalogueError(f"{where}: min, max and thresholds must be numbers") from None
        if values["result_min"] >= values["result_max"]:
            raise CatalogueError(f"{where}: min must be below max")
        for key in thresholds:
            value = values[f"result_{key}"]
            if value is not None and not values["result_min"] <= value <= values["result_max"]:
                raise CatalogueError(f"{where}: {key} {value} is outside the plausible range min-max")
        values["result_unit"] = str(result.get("unit", ""))
    elif any(result.get(key) is not None for key in thresholds):
        raise CatalogueError(f"{where}: thresholds apply to number results only")
    return values


def parse_behaviour(raw: dict, where: str) -> dict[str, str]:
    """How the patient confirms the item, what its reminders say, how the portal and calendar show it."""
    category = raw["category"]
    return {
        "confirm_as": _choice(raw.get("confirm_as", ConfirmAs.DONE), ConfirmAs, f"{where}.confirm_as"),
        "reminder_kind": _choice(
            raw.get("reminder_kind", default_reminder_kind(category)), ReminderKind, f"{where}.reminder_kind"
        ),
        "show_time": _choice(raw.get("show_time", ShowTime.DAY), ShowTime, f"{where}.show_time"),
        "calendar": _choice(raw.get("calendar", CalendarEntry.NONE), CalendarEntry, f"{where}.calendar"),
    }


def parse_age_bands(value: Any, where: str = "age_bands") -> list[dict[str, Any]]:
    """The catalogue's age bands: whole years on the surgery day, from 0 up with no gap or overlap."""
    if value in (None, []):
        return []
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: a list of bands {{slug, name, name_es, min_age, max_age, audience, source}}")
    bands: list[dict[str, Any]] = []
    for index, raw in enumerate(value):
        here = f"{where}[{index}] ({raw.get('slug', '?') if isinstance(raw, dict) else '?'})"
        if not isinstance(raw, dict):
            raise CatalogueError(f"{here}: a band must be a mapping")
        unknown = set(raw) - set(AGE_BAND_KEYS)
        if unknown:
            raise CatalogueError(f"{here}: unknown keys {sorted(unknown)}")
        for key in ("slug", "name", "name_es", "source"):
            _need(raw, key, here)
        audience = raw.get("audience")
        if audience not in AUDIENCES:
            raise CatalogueError(f"{here}.audience: {audience!r} is not one of {list(AUDIENCES)}")
        low, high = raw.get("min_age"), raw.get("max_age")
        if not isinstance(low, int) or isinstance(low, bool) or low < 0:
            raise CatalogueError(f"{here}.min_age: a whole number of years, 0 or more")
        if high is not None and (not isinstance(high, int) or isinstance(high, bool) or high < low):
            raise CatalogueError(f"{here}.max_age: a whole number of years, at least min_age (or omit it)")
        expected = 0 if not bands else int(bands[-1]["max_age"]) + 1
        if low != expected:
            raise CatalogueError(f"{here}.min_age: {low} leaves a gap or an overlap (expected {expected})")
        bands.append({**{key: raw.get(key) for key in AGE_BAND_KEYS}, "max_age": high})
        if high is None and index != len(value) - 1:
            raise CatalogueError(f"{here}: only the last band may have no max_age")
    if bands[-1]["max_age"] is not None:
        raise CatalogueError(f"{where}: the last band must have no max_age, so that every age has a band")
    slugs = [b["slug"] for b in bands]
    if len(set(slugs)) != len(slugs):
        raise CatalogueError(f"{where}: band slugs must be unique ({slugs})")
    return bands


def parse_timing_options(value: Any, where: str, age_bands: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``{name: {timing: {...}, age_band_in: [...], note: "..."}}``: timings a clinic may choose."""
    if not value:
        return {}
    if not isinstance(value, dict):
        raise CatalogueError(f"{where}: a mapping of option name -> {{timing, age_band_in, note}}")
    options: dict[str, dict[str, Any]] = {}
    for name, raw in value.items():
        here = f"{where}.{name}"
        if not isinstance(raw, dict) or set(raw) - {"timing", "age_band_in", "note"}:
            raise CatalogueError(f"{here}: needs timing, age_band_in and note, nothing else")
        timing = parse_timing(_need(raw, "timing", here), f"{here}.timing")
        try:
            conditions.validate({"age_band_in": _need(raw, "age_band_in", here)}, age_bands=age_bands)
        except conditions.ConditionError as exc:
            raise CatalogueError(f"{here}: {exc}") from None
        at = timing["at_local_time"]
        options[str(name)] = {
            "offset_days": timing["offset_days"],
            "offset_minutes": timing["offset_minutes"],
            "at_local_time": at.isoformat(timespec="minutes") if at is not None else None,
            "age_band_in": list(raw["age_band_in"]),
            "note": str(_need(raw, "note", here)).strip(),
        }
    return options


def _item_fields(
    raw: dict, where: str, regions: tuple[str, ...], age_bands: tuple[str, ...] | None = None
) -> dict[str, Any]:
    for key in ITEM_REQUIRED:
        if key != "required":
            _need(raw, key, where)
    unknown = set(raw) - set(ITEM_REQUIRED) - set(ITEM_OPTIONAL) - set(ITEM_BEHAVIOUR) - set(ITEM_PARENT_TEXTS)
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    condition = raw.get("conditions") or {}
    try:
        conditions.validate(condition, regions=regions, age_bands=age_bands)
    except conditions.ConditionError as exc:
        raise CatalogueError(f"{where}.conditions: {exc}") from None
    parent_texts = {key: str(raw.get(key) or "").strip() for key in ITEM_PARENT_TEXTS}
    reminders = raw.get("reminders_hours") or []
    if not isinstance(reminders, list) or not all(isinstance(h, int) and h > 0 for h in reminders):
        raise CatalogueError(f"{where}.reminders_hours: must be a list of positive whole hours")
    return {
        "category": _choice(raw["category"], Category, f"{where}.category"),
        "assignee": _choice(raw["assignee"], Assignee, f"{where}.assignee"),
        "required": bool(raw.get("required", True)),
        "title_en": raw["title_en"],
        "patient_title_en": raw["patient_title_en"],
        "patient_title_es": raw["patient_title_es"],
        "instructions_en": raw["instructions_en"].strip(),
        "instructions_es": raw["instructions_es"].strip(),
        "why_en": raw["why_en"].strip(),
        "why_es": raw["why_es"].strip(),
        "conditions": condition,
        "validity_days": raw.get("validity_days"),
        "loinc": str(raw.get("loinc") or ""),
        "reminder_offsets_hours": sorted(reminders, reverse=True),
        "source": raw["source"].strip(),
        "clinic_policy": bool(raw.get("clinic_policy")),
        "timing_options": parse_timing_options(raw.get("timing_options"), f"{where}.timing_options", age_bands or ()),
        **parent_texts,
        **parse_timing(raw["timing"], f"{where}.timing"),
        **parse_result(raw.get("result"), f"{where}.result"),
        **parse_behaviour(raw, where),
    }


def parse_restart(value: Any, where: str) -> tuple[int | None, dict[str, int]]:
    """``24h``, or per bleeding-risk class ``{low: 4h, default: 24h}``."""
    if value in (None, ""):
        return None, {}
    if not isinstance(value, dict):
        return parse_duration_hours(value, where), {}
    unknown = set(value) - {"default", *RiskClass.values}
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}; use default, low, intermediate, high")
    default = parse_duration_hours(_need(value, "default", where), f"{where}.default")
    by_risk = {risk: parse_duration_hours(value[risk], f"{where}.{risk}") for risk in RiskClass.values if risk in value}
    return default, by_risk


def parse_renal_bands(value: Any, where: str) -> list[dict[str, int]]:
    if not value:
        return []
    if not isinstance(value, list):
        raise CatalogueError(f"{where}: a list of {{crcl_below: N, hold: 6d}}")
    bands = []
    for index, band in enumerate(value):
        if not isinstance(band, dict) or set(band) != {"crcl_below", "hold"}:
            raise CatalogueError(f"{where}[{index}]: needs exactly crcl_below and hold")
        if not isinstance(band["crcl_below"], int) or not 1 <= band["crcl_below"] <= 250:
            raise CatalogueError(f"{where}[{index}].crcl_below: a clearance in mL/min (1-250)")
        bands.append({"crcl_below": band["crcl_below"], "hours": parse_duration_hours(band["hold"], where)})
    return bands


def _drug_fields(raw: dict, where: str) -> dict[str, Any]:
    unknown = set(raw) - set(DRUG_KEYS)
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    holds = _need(raw, "hold", where)
    anaesthesia = raw.get("anaesthesia_in") or []
    if not isinstance(anaesthesia, list) or set(anaesthesia) - set(conditions.ANAESTHESIA):
        raise CatalogueError(f"{where}.anaesthesia_in: a list of {list(conditions.ANAESTHESIA)}")
    restart, restart_by_risk = parse_restart(raw.get("restart"), f"{where}.restart")
    values: dict[str, Any] = {
        "substance": str(_need(raw, "substance", where)).lower(),
        "indication": raw.get("indication") or "",
        "name": _need(raw, "name", where),
        "name_es": raw.get("name_es") or "",
        "aliases": [str(a).lower() for a in raw.get("aliases") or []],
        "drug_class": _need(raw, "class", where),
        "family": _choice(_need(raw, "family", where), DrugFamily, f"{where}.family"),
        "dosing": _choice(raw.get("dosing") or "", Dosing, f"{where}.dosing"),
        "anaesthesia_in": anaesthesia,
        "suggested_hold_hours": (
            parse_duration_hours(raw["suggested_hold"], where) if raw.get("suggested_hold") else None
        ),
        "renal_hold_hours": parse_duration_hours(raw["renal_hold"], where) if raw.get("renal_hold") else None,
        "renal_bands": parse_renal_bands(raw.get("renal_bands"), f"{where}.renal_bands"),
        "restart_hours": restart,
        "restart_by_risk": restart_by_risk,
        "restart_note": raw.get("restart_note") or "",
        "needs_normal_inr": bool(raw.get("needs_normal_inr")),
        "to_be_confirmed": bool(raw.get("to_be_confirmed")),
        "source": _need(raw, "source", where),
    }
    for risk in RiskClass.values:
        mode, hours = parse_hold(_need(holds, risk, f"{where}.hold"), f"{where}.hold.{risk}")
        values[f"hold_{risk}"], values[f"hold_{risk}_hours"] = mode, hours
    return values


def read_catalogue(path: Path = DEFAULT_PATH) -> dict[str, Any]:
    try:
        # A safe loader (libyaml's when built in: the same documents, 12 times faster, 1.2 s -> 0.1 s).
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)  # noqa: S506  # nosec B506
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"{path}: cannot be read as YAML ({exc})") from None
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: the top level must be a mapping")
    for key in ("version", "procedures", "templates", "items", "drugs"):
        _need(data, key, str(path.name))
    return data


def _upsert(model: type[models.Model], lookup: dict, values: dict, report: LoadReport, kind: str) -> Any:
    obj, created = model._default_manager.update_or_create(**lookup, defaults=values)
    report.count(kind, created)
    return obj


@transaction.atomic
def catalogue_load(*, path: Path = DEFAULT_PATH, force: bool = False) -> LoadReport:
    """Load (or reload) the catalogue file. All or nothing: a bad file changes nothing."""
    data = read_catalogue(path)
    version = str(data["version"])
    report = LoadReport(version=version)
    if CatalogueRelease.objects.filter(version=version).exists() and not force:
        report.already_loaded = True
        return report
    regions = tuple(sorted({str(p.get("region")) for p in data["procedures"]}))
    bands = parse_age_bands(data.get("age_bands"))
    band_slugs = tuple(b["slug"] for b in bands)

    raw_items: dict[str, dict] = {}
    library: dict[str, dict[str, Any]] = {}
    for index, raw in enumerate(data["items"]):
        where = f"items[{index}] ({raw.get('code', '?')})"
        code = _need(raw, "code", where)
        raw_items[code], library[code] = raw, _item_fields(raw, where, regions, band_slugs)

    for index, raw in enumerate(data["drugs"]):
        where = f"drugs[{index}] ({raw.get('slug', '?')})"
        _upsert(Drug, {"slug": _need(raw, "slug", where)}, _drug_fields(raw, where), report, "drugs")
    for index, raw in enumerate(data.get("medicines") or []):
        where = f"medicines[{index}] ({raw.get('slug', '?')})"
        unknown = set(raw) - {"slug", "name", "aliases", "class", "source"}
        if unknown:
            raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
        values = {
            "name": _need(raw, "name", where),
            "aliases": [str(a).lower() for a in raw.get("aliases") or []],
            "drug_class": _need(raw, "class", where),
            "source": _need(raw, "source", where),
        }
        _upsert(KnownMedicine, {"slug": _need(raw, "slug", where)}, values, report, "medicines")

    templates: dict[str, ChecklistTemplate] = {}
    for index, raw in enumerate(data["templates"]):
        slug = _need(raw, "slug", f"templates[{index}]")
        where = f"templates[{index}] ({slug})"
        template = _upsert(
            ChecklistTemplate,
            {"slug": slug},
            {
                "name": _need(raw, "name", where),
                "version": version,
                "source": _need(raw, "source", where),
                "age_bands": bands,
            },
            report,
            "templates",
        )
        templates[slug] = template
        overrides = raw.get("overrides") or {}
        codes = _need(raw, "items", where)
        for code in list(overrides) + list(codes):
            if code not in library:
                raise CatalogueError(f"{where}: item {code!r} is not in the items library")
        for order, code in enumerate(codes):
            fields = library[code]
            if code in overrides:
                merged = {**raw_items[code], **overrides[code]}
                fields = _item_fields(merged, f"{where}.overrides.{code}", regions, band_slugs)
            _upsert(
                TemplateItem, {"template": template, "code": code}, {**fields, "sort_order": order}, report, "items"
            )
        TemplateItem.objects.filter(template=template).exclude(code__in=codes).delete()

    for index, raw in enumerate(data["procedures"]):
        slug = _need(raw, "slug", f"procedures[{index}]")
        where = f"procedures[{index}] ({slug})"
        template_slug = _need(raw, "template", where)
        if template_slug not in templates:
            raise CatalogueError(f"{where}: template {template_slug!r} is not defined")
        anaesthesia = _need(raw, "default_anaesthesia", where)
        if anaesthesia not in conditions.ANAESTHESIA:
            raise CatalogueError(f"{where}: default_anaesthesia {anaesthesia!r} is not one of {conditions.ANAESTHESIA}")
        values = {
            "name": _need(raw, "name", where),
            "name_es": raw.get("name_es") or "",
            "risk": _choice(raw.get("risk"), RiskClass, f"{where}.risk"),
            "risk_note": raw.get("risk_note") or "",
            "risk_to_be_confirmed": bool(raw.get("risk_to_be_confirmed")),
            "cardiac_risk": _choice(raw.get("cardiac_risk"), RiskClass, f"{where}.cardiac_risk"),
            "cardiac_risk_to_be_confirmed": bool(raw.get("cardiac_risk_to_be_confirmed", True)),
            "cardiac_risk_note": raw.get("cardiac_risk_note") or "",
            "default_anaesthesia": anaesthesia,
            "region": _need(raw, "region", where),
            "template": templates[template_slug],
            "source": _need(raw, "source", where),
        }
        _upsert(ProcedureVariant, {"slug": slug}, values, report, "procedures")
    CatalogueRelease.objects.update_or_create(version=version, defaults={"loaded_at": timezone.now()})
    return report
