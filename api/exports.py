"""CSV export of the board for a date range, for the clinic's own spreadsheets."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable
from typing import TYPE_CHECKING

from api.serializers import READINESS_BY_RANK
from prep.selectors import Readiness

if TYPE_CHECKING:
    from prep.selectors import SurgeryWithReadiness

HEADER = [
    "Date",
    "Local time",
    "Time zone",
    "Patient",
    "MRN",
    "Procedure",
    "Level",
    "Side",
    "Surgeon",
    "Status",
    "Readiness",
    "Done",
    "Required",
    "Overdue",
    "Surgery id",
]
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def board_csv(*, surgeries: Iterable[SurgeryWithReadiness], tz: dt.tzinfo) -> str:
    """One row per surgery; ``surgeries`` come from ``api.selectors.surgeries_for_range``."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for surgery in surgeries:
        local = surgery.start_at.astimezone(tz)
        state = READINESS_BY_RANK[surgery.readiness_rank]
        writer.writerow(
            cell(v)
            for v in (
                local.date().isoformat(),
                local.strftime("%H:%M"),
                local.tzname(),
                surgery.patient.full_name,
                surgery.patient.mrn,
                surgery.procedure.name,
                surgery.level,
                surgery.get_side_display() if surgery.side else "",
                surgery.surgeon.display_name if surgery.surgeon else "",
                surgery.get_status_display(),
                Readiness.LABELS[state],
                surgery.done_count,
                surgery.required_count,
                surgery.overdue_count,
                surgery.uuid,
            )
        )
    return out.getvalue()
