"""Reads on checklists: readiness (one function, stored per checklist by the services) and phases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

from django.db.models import F, IntegerField, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from patients.models import ACTIVE_SURGERY_STATUSES, Clinic, Surgery
from prep import planning
from prep.models import ChecklistItem, ItemStatus, Readiness, TemplateItem

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

OPEN_STATUSES = (ItemStatus.OPEN, ItemStatus.PATIENT_CONFIRMED)
# What readiness reads of an item: lists load only these.
READINESS_ITEM_FIELDS = ("id", "checklist_id", "title", "required", "status", "due_at")


@dataclass
class ReadinessReport:
    state: str
    reasons: list[str] = field(default_factory=list)
    done: int = 0
    required: int = 0
    overdue: int = 0
    next_due: ChecklistItem | None = None
    # The first moment after ``at`` when the clock alone changes state, done, required or overdue.
    changes_at: dt.datetime | None = None
    at: dt.datetime | None = None
    # The staff pages add the next required item to chase (workspace.selectors.next_required).
    next_required: ChecklistItem | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        return Readiness.LABELS[self.state]

    def summary_values(self) -> dict[str, Any]:
        """The ``ChecklistSummary`` columns this report stands for."""
        return {
            "state": self.state,
            "rank": Readiness.RANK[self.state],
            "required": self.required,
            "done": self.done,
            "overdue": self.overdue,
            "next_due_at": self.next_due.due_at if self.next_due else None,
            "changes_at": self.changes_at,
            "computed_at": self.at,
        }


def readiness_compute(
    *, surgery: Surgery, items: Iterable[ChecklistItem], clinic: Clinic, now: dt.datetime | None = None
) -> ReadinessReport:
    """Readiness of one surgery from its items (already loaded: no query here).

    ready: every required item closed. not_ready: required items open at the go/no-go cut-off.
    at_risk: a required item overdue, or open within the clinic's escalation window of its due
    time. on_track: required items open, none of them late or close.

    The one place readiness is decided: pages label with it, and the stored ``ChecklistSummary``
    the lists sort on is its ``summary_values``, rewritten once ``changes_at`` has passed.
    """
    now = now or timezone.now()
    items = list(items)
    required = [i for i in items if i.required]
    open_required = [i for i in required if i.status in OPEN_STATUSES]
    overdue = [i for i in open_required if i.due_at <= now]
    escalation = dt.timedelta(hours=clinic.escalation_hours)
    escalating = [i for i in open_required if i.due_at <= now + escalation]
    upcoming = sorted((i for i in items if i.status in OPEN_STATUSES), key=lambda i: i.due_at)
    report = ReadinessReport(
        state=Readiness.READY,
        done=len(required) - len(open_required),
        required=len(required),
        overdue=len(overdue),
        next_due=upcoming[0] if upcoming else None,
        at=now,
    )
    if not open_required:
        report.reasons = ["All required items are done."]
        return report
    cutoff = surgery.start_at - dt.timedelta(hours=clinic.go_no_go_hours)
    titles = lambda rows: ", ".join(i.title for i in rows[:4]) + ("…" if len(rows) > 4 else "")  # noqa: E731
    if now >= cutoff:
        report.state = Readiness.NOT_READY
        report.reasons.append(
            f"{len(open_required)} required item(s) open at the go/no-go cut-off: {titles(open_required)}"
        )
    elif escalating:
        report.state = Readiness.AT_RISK
    else:
        report.state = Readiness.ON_TRACK
        report.reasons.append(f"{len(open_required)} required item(s) still to do, none late.")
    if overdue:
        report.reasons.append(f"Overdue: {titles(overdue)}")
    soon = [i for i in escalating if i not in overdue]
    if soon and report.state != Readiness.ON_TRACK:
        report.reasons.append(f"Due within {clinic.escalation_hours} h: {titles(soon)}")
    awaiting = [i for i in open_required if i.status == ItemStatus.PATIENT_CONFIRMED]
    if awaiting:
        report.reasons.append(f"Patient confirmation to accept: {titles(awaiting)}")
    # Every test above is "now >= a time": each such time still ahead is when a stored value can
    # change, and only those that change one are kept (the tests check both directions).
    changes = [i.due_at for i in open_required if i.due_at > now]  # the overdue count rises
    if now < cutoff:
        changes.append(cutoff)  # not ready
    if report.state == Readiness.ON_TRACK:
        changes += [i.due_at - escalation for i in open_required]  # at risk (all still ahead here)
    report.changes_at = min(changes, default=None)
    return report


def summary_due_q(*, now: dt.datetime, through: str = "") -> Q:
    """Rows whose stored readiness the clock has overtaken, or that have none yet.

    ``through``: the path from the queried model to the checklist ("checklist__" from a surgery);
    a surgery without a checklist has nothing to re-evaluate.
    """
    missing = Q(**{f"{through}summary__isnull": True})
    if through:
        missing &= Q(**{f"{through.removesuffix('__')}__isnull": False})
    return Q(**{f"{through}summary__changes_at__lte": now}) | missing


class ReadinessColumns(TypedDict):
    """What :func:`surgeries_with_summary` annotates on each surgery."""

    readiness_rank: int
    required_count: int
    done_count: int
    overdue_count: int
    next_due_at: dt.datetime | None


if TYPE_CHECKING:
    SurgeryWithReadiness: TypeAlias = WithAnnotations[Surgery, ReadinessColumns]


def surgeries_with_summary(*, qs: QuerySet[Surgery]) -> QuerySet[SurgeryWithReadiness]:
    """Surgeries annotated with their stored readiness (plain columns: the lists sort and page on them).

    Current only once ``prep.services.readiness_refresh_due`` has run on the same surgeries: the
    callers do that first. A surgery without a checklist has nothing to do, as ``readiness_compute``
    says of no items: ready.
    """
    summary = "checklist__summary__"
    return qs.annotate(
        readiness_rank=Coalesce(
            F(f"{summary}rank"), Value(Readiness.RANK[Readiness.READY]), output_field=IntegerField()
        ),
        required_count=Coalesce(F(f"{summary}required"), Value(0), output_field=IntegerField()),
        done_count=Coalesce(F(f"{summary}done"), Value(0), output_field=IntegerField()),
        overdue_count=Coalesce(F(f"{summary}overdue"), Value(0), output_field=IntegerField()),
        next_due_at=F(f"{summary}next_due_at"),
    )


def surgeries_upcoming(
    *, clinic: Clinic, days: int = 14, now: dt.datetime | None = None
) -> QuerySet[SurgeryWithReadiness]:
    """Active surgeries of the coming days, most urgent first (run ``readiness_refresh_due`` on them first)."""
    now = now or timezone.now()
    qs = Surgery.objects.filter(
        clinic=clinic,
        status__in=ACTIVE_SURGERY_STATUSES,
        start_at__gte=now - dt.timedelta(hours=12),
        start_at__lt=now + dt.timedelta(days=days),
    )
    return surgeries_with_summary(qs=qs).order_by("readiness_rank", "start_at")


PHASES = (
    ("weeks_before", "Weeks before"),
    ("days_before", "Days before"),
    ("day_before", "The day before"),
    ("day_of", "The day of surgery"),
    ("after", "After"),
)


def item_phase(item: ChecklistItem, surgery: Surgery, tz: dt.tzinfo) -> str:
    day = item.due_at.astimezone(tz).date()
    surgery_day = surgery.start_at.astimezone(tz).date()
    delta = (surgery_day - day).days
    if item.due_at > surgery.start_at:
        return "after"
    if delta == 0:
        return "day_of"
    if delta == 1:
        return "day_before"
    if delta <= 7:
        return "days_before"
    return "weeks_before"


# --- Texts for a patient or, for a child, a parent or guardian ---------------------------------

TEXT_FIELDS = ("patient_title", "instructions", "why")
# What ``{first_name}`` and ``{time}`` read when the caller has no value for them.
_NO_NAME = {"en": "your child", "es": "su hijo o hija"}
_NO_TIME = {"en": "the time shown", "es": "la hora indicada"}


def surgery_age_band(*, surgery: Surgery) -> dict[str, Any] | None:
    """The catalogue age band the patient is in on the surgery day (clinic's calendar), or None.

    Reads the bands of the checklist's template (else the procedure's): callers load
    ``patient__clinic`` and ``checklist__template`` / ``procedure__template`` with the surgery.
    """
    checklist = getattr(surgery, "checklist", None)
    template = checklist.template if checklist is not None else surgery.procedure.template
    day = surgery.start_at.astimezone(surgery.patient.clinic.tz).date()
    band = planning.age_band_for(template.age_bands, surgery.patient.age_on(day))
    return dict(band) if band is not None else None


def surgery_texts_for_parent(*, surgery: Surgery) -> bool:
    """True when the patient is a child on the surgery day: the texts are addressed to a parent."""
    band = surgery_age_band(surgery=surgery)
    return band is not None and band.get("audience") == "parent"


def item_text(
    item: ChecklistItem | TemplateItem,
    *,
    field: str,
    language: str,
    for_parent: bool,
    first_name: str = "",
    time_text: str = "",
) -> str:
    """One patient text of an item (``field``: patient_title, instructions or why) in ``language``.

    ``for_parent`` (see :func:`surgery_texts_for_parent`) picks the catalogue's parent wording
    ("Stop giving {first_name} food at {time}") where the item has one, else the patient's own.
    ``{first_name}`` (the child's) and ``{time}`` (the due time as the reader's clock shows it) are
    filled here; ``{drug}``, ``{last_dose}`` and ``{restart}`` are left to the caller. A generated
    item without a catalogue entry gives its staff title as its title and no other text.
    """
    if field not in TEXT_FIELDS:
        raise ValueError(f"field must be one of {TEXT_FIELDS}, not {field!r}")
    lang = language if language in ("en", "es") else "en"
    if isinstance(item, TemplateItem):
        ti = item
    elif item.template_item is None:
        return item.title if field == "patient_title" else ""
    else:
        ti = item.template_item
    text = ""
    if for_parent:
        text = getattr(ti, f"{field}_parent_{lang}", "") or ""
    text = text or getattr(ti, f"{field}_{lang}", "") or getattr(ti, f"{field}_en", "")
    return text.replace("{first_name}", first_name or _NO_NAME[lang]).replace("{time}", time_text or _NO_TIME[lang])
