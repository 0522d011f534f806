"""The inbox's reading table (``codes.yaml``): units converted to the catalogue's, and part-codes.

Read once per process; the file is data with a source on every line, reviewed like the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import yaml

PATH = Path(__file__).with_name("codes.yaml")


@dataclass(frozen=True)
class UnitTable:
    to: str
    factors: dict[str, Decimal]


@dataclass(frozen=True)
class Codes:
    units: dict[str, UnitTable]
    parts: dict[str, str]  # part code -> the code whose item it belongs to


@cache
def codes() -> Codes:
    data = yaml.safe_load(PATH.read_text(encoding="utf-8"))
    units = {
        code: UnitTable(
            to=str(entry["to"]),
            factors={str(unit).lower(): Decimal(str(factor)) for unit, factor in entry["factors"].items()},
        )
        for code, entry in (data.get("units") or {}).items()
    }
    parts = {code: str(entry["of"]) for code, entry in (data.get("parts") or {}).items()}
    return Codes(units=units, parts=parts)


class UnitError(ValueError):
    pass


def convert(*, code: str, value: Decimal, unit: str, to: str) -> Decimal:
    """``value`` in ``unit`` expressed in ``to`` (the catalogue item's unit), or UnitError naming both."""
    unit = (unit or "").strip()
    if unit.lower() == (to or "").lower():
        return value
    table = codes().units.get(code)
    if table is None or table.to.lower() != (to or "").lower() or unit.lower() not in table.factors:
        raise UnitError(f"the unit {unit or '(none)'!r} cannot be converted to {to!r}")
    return value * table.factors[unit.lower()]


def rh_sign(text: str) -> str:
    """'+' or '-' from an Rh result as labs write it (Positive, POS, Rh(D) negative, +), '' if unreadable."""
    low = (text or "").strip().lower()
    if low in ("+", "pos") or "positive" in low or low.endswith(" pos"):
        return "+"
    if low in ("-", "neg") or "negative" in low or low.endswith(" neg"):
        return "-"
    return ""
