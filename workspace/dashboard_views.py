"""The clinic dashboard (issue 21): clinic admins and lead nurses, their own clinic only.

Thin: the filter form, ``insights.selectors.dashboard_figures`` (a fixed number of queries), and
the charts and tables built from its result. Each chart's numbers are in a table under it and in a
CSV file. There is no way to name a clinic: the figures are always the signed-in user's clinic's.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from accounts import permissions as perms
from audit import context as audit
from insights import selectors as figures
from insights.models import SNAPSHOT_OFFSETS_HOURS
from patients.models import Clinic
from patients.staff import StaffRequest
from prep.models import ProcedureVariant
from reminders.models import Status
from workspace import forms as wf
from workspace.charts import Series, chart_stylesheet, chart_svg, count_text, percent_text
from workspace.views import staff_view


@dataclass
class Cell:
    text: str
    raw: object = ""
    serie: int | None = None  # plotted: the chart's series index (the browser test compares them)
    label: str = ""  # plotted: the chart's x label


@dataclass
class Block:
    slug: str
    title: str
    description: str
    svg: SafeString
    columns: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    csv_url: str = ""


def _plain(value: object) -> Cell:
    return Cell(text=str(value), raw=value)


def _count(value: int, *, serie: int | None = None, label: str = "") -> Cell:
    return Cell(text=count_text(value), raw=value, serie=serie, label=label)


def _percent(value: float | None, *, serie: int | None = None, label: str = "") -> Cell:
    return Cell(
        text=percent_text(value),
        raw="" if value is None else value,
        serie=None if value is None else serie,
        label=label,
    )


def _duration(value: dt.timedelta | None) -> str:
    if value is None:
        return "—"
    hours = value.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def _week_label(week: dt.date) -> str:
    return f"{week.day} {week:%b}"


def _readiness_block(d: figures.Dashboard) -> Block:
    labels = [_week_label(w.week) for w in d.readiness]
    series = [Series(f"{h} h before", [w.by_offset[h].percent for w in d.readiness]) for h in SNAPSHOT_OFFSETS_HOURS]
    rows = []
    for w, label in zip(d.readiness, labels, strict=True):
        row = [Cell(text=f"{w.week:%a %d %b %Y}", raw=w.week.isoformat())]
        for n, h in enumerate(SNAPSHOT_OFFSETS_HOURS):
            share = w.by_offset[h]
            row += [
                Cell(text=f"{share.part} of {share.total}", raw=share.total),
                _percent(share.percent, serie=n, label=label),
            ]
        row.append(_count(sum(w.by_offset[h].late for h in SNAPSHOT_OFFSETS_HOURS)))
        rows.append(row)
    columns = ["Week of"]
    for h in SNAPSHOT_OFFSETS_HOURS:
        columns += [f"{h} h before: surgeries", f"{h} h before: ready"]
    columns.append("Recorded late")
    late = sum(r[-1].raw for r in rows)  # type: ignore[misc]
    notes = [
        "Readiness as the product showed it at each moment (recorded then), by the week of the surgery; "
        "a surgery moved counts in its new week."
    ]
    if late:
        notes.append(
            f"{late} of these figures were recorded late (the recorder was down at the moment): they show the "
            "readiness at the time of recording."
        )
    return Block(
        slug="readiness",
        title="Ready in time",
        description="Share of surgeries whose preparation was ready 72, 48 and 24 hours before, week by week.",
        svg=chart_svg(
            kind="line",
            dom_id="chart-readiness",
            title="Ready 72, 48 and 24 hours before (% of surgeries)",
            description="Share of surgeries ready at each moment, week by week; the table below has the numbers.",
            labels=labels,
            series=series,
            formatter=percent_text,
            range=(0, 100),
            x_label_rotation=0,
        ),
        columns=columns,
        rows=rows,
        notes=notes,
    )


def _outcomes_block(d: figures.Dashboard) -> Block:
    outcomes = d.outcomes
    labels = [("Preparation: " if r.preparation else "") + r.label for r in outcomes.rows]
    kinds = (("cancelled", "Cancelled"), ("no_go", "No go"), ("postponed", "Postponed"))
    series = [Series(name, [getattr(r, kind) for r in outcomes.rows]) for kind, name in kinds]
    rows = []
    for r, label in zip(outcomes.rows, labels, strict=True):
        group = "Preparation" if r.preparation else ("Not recorded" if r.code == figures.UNRECORDED else "Other")
        row = [Cell(text=r.label, raw=r.code), _plain(group)]
        row += [_count(getattr(r, kind), serie=n, label=label) for n, (kind, _name) in enumerate(kinds)]
        row.append(_count(r.total))
        rows.append(row)
    notes = [
        f"{outcomes.preparation} of {outcomes.surgeries} surgeries in the period were cancelled, given a No go or "
        f"postponed for a preparation reason; {outcomes.other} for other reasons."
    ]
    return Block(
        slug="cancellations",
        title="Cancelled, No go or postponed",
        description="Surgeries of the period that did not go ahead as booked, by the reason recorded.",
        svg=chart_svg(
            kind="hstacked",
            dom_id="chart-cancellations",
            truncate_label=34,
            title="Surgeries not going ahead, by reason",
            description="Cancelled, No go and postponed surgeries by reason; preparation reasons are labelled so.",
            labels=labels,
            series=series,
        ),
        columns=["Reason", "Group", "Cancelled", "No go", "Postponed", "Total"],
        rows=rows,
        notes=notes,
    )


def _items_block(d: figures.Dashboard) -> Block:
    labels = [r.title for r in d.items]
    series = [Series("Overdue", [r.overdue for r in d.items]), Series("Reopened", [r.reopened for r in d.items])]
    rows = [
        [
            Cell(text=r.title, raw=r.title),
            _plain(r.code),
            _count(r.overdue, serie=0, label=label),
            _count(r.reopened, serie=1, label=label),
        ]
        for r, label in zip(d.items, labels, strict=True)
    ]
    notes = [
        f"Median time from booking to ready: {_duration(d.booking_to_ready)} "
        f"(over {d.booking_to_ready_count} surgeries whose required items were all done)."
    ]
    return Block(
        slug="items",
        title="Items most often overdue or reopened",
        description="Required checklist items of the period's surgeries done late, still open past their time, "
        "or reopened.",
        svg=chart_svg(
            kind="hbar",
            dom_id="chart-items",
            truncate_label=34,
            title="Items overdue or reopened",
            description="The required items most often overdue or reopened, with how many times.",
            labels=labels,
            series=series,
        ),
        columns=["Item", "Code", "Overdue", "Reopened"],
        rows=rows,
        notes=notes,
    )


def _reminders_block(d: figures.Dashboard) -> Block:
    labels = [r.label for r in d.reminders]
    plotted = (
        ("Planned", lambda r: r.planned),
        ("Reached", lambda r: r.reached),
        ("Delivered", lambda r: r[Status.DELIVERED]),
        ("Failed", lambda r: r[Status.FAILED]),
        ("Suppressed", lambda r: r[Status.SUPPRESSED]),
    )
    series = [Series(name, [get(r) for r in d.reminders]) for name, get in plotted]
    rows = []
    for r, label in zip(d.reminders, labels, strict=True):
        row = [Cell(text=r.label, raw=r.channel)]
        row += [_count(get(r), serie=n, label=label) for n, (_name, get) in enumerate(plotted)]
        row += [
            _count(r.stopped),
            _count(r.quiet_hours),
            _count(r.daily_limit),
            _count(r[Status.PENDING] + r[Status.SENDING]),
            _count(r[Status.CANCELLED]),
            _count(r[Status.EXPIRED]),
        ]
        rows.append(row)
    reached = d.headline.reminders_reached
    notes = [
        "Reached: handed to the provider and not reported failed (email has no delivery report). "
        f"{reached.part} of {reached.total} reminders that were due reached the patient "
        f"({percent_text(reached.percent)}).",
        "Held by quiet hours or the daily limit: postponed for that reason and still waiting, or expired so. "
        "Cancelled: no longer needed (item done, surgery moved or cancelled).",
    ]
    return Block(
        slug="reminders",
        title="Reminders",
        description="Reminders planned for the period, by channel and what became of them.",
        svg=chart_svg(
            kind="bar",
            dom_id="chart-reminders",
            title="Reminders by channel",
            description="Planned, reached, delivered, failed and suppressed reminders, by channel.",
            labels=labels,
            series=series,
        ),
        columns=[
            "Channel",
            "Planned",
            "Reached",
            "Delivered",
            "Failed",
            "Suppressed",
            "Suppressed: STOP or no consent",
            "Held: quiet hours",
            "Held: daily limit",
            "Waiting",
            "Cancelled",
            "Expired",
        ],
        rows=rows,
        notes=notes,
    )


def _portal_block(d: figures.Dashboard) -> Block:
    total = d.portal["surgeries"]
    measures = (("Opened the portal", d.portal["opened"]), ("Confirmed an item", d.portal["confirmed"]))
    shares = [figures.Share(part=n, total=total).percent for _label, n in measures]
    rows = [
        [Cell(text=label, raw=label), _count(n), _percent(share, serie=0, label=label)]
        for (label, n), share in zip(measures, shares, strict=True)
    ]
    return Block(
        slug="portal",
        title="Patients in the portal",
        description=f"Of the {total} surgeries of the period, at their latest readiness snapshot: whose patient had "
        "opened the portal, and had confirmed at least one item.",
        svg=chart_svg(
            kind="bar",
            dom_id="chart-portal",
            title="Patients who used the portal (%)",
            description="Share of the period's patients who opened the portal, and who confirmed an item.",
            labels=[label for label, _n in measures],
            series=[Series("% of patients", shares)],
            formatter=percent_text,
            range=(0, 100),
        ),
        columns=["", "Patients", "Share"],
        rows=rows,
        notes=[f"{total} surgeries in the period with a readiness snapshot."],
    )


def _results_block(d: figures.Dashboard) -> Block:
    r = d.results
    measures = (("By interface", r.by_interface), ("Typed by hand", r.by_hand))
    rows = [[Cell(text=label, raw=label), _count(n, serie=0, label=label)] for label, n in measures]
    received = sum(r.received.values())
    notes = [
        "By interface: recorded by a lab or imaging system (HL7, FHIR) or an API token; by hand: by a person.",
        f"Inbox: {received} messages received in the period, {r.received.get('review', 0)} of them still in the review "
        f"queue. The queue now: {r.waiting} waiting, the oldest for {_duration(r.oldest_wait)}, median "
        f"{_duration(r.median_wait)}.",
    ]
    return Block(
        slug="results",
        title="Results: by interface or by hand",
        description="Results recorded on the period's checklists (by each surgery's latest snapshot), by how "
        "they arrived.",
        svg=chart_svg(
            kind="bar",
            dom_id="chart-results",
            title="Results by how they arrived",
            description="Results recorded by an interface and typed by hand.",
            labels=[label for label, _n in measures],
            series=[Series("Results", [n for _label, n in measures])],
        ),
        columns=["How", "Results"],
        rows=rows,
        notes=notes,
    )


BLOCKS = {
    "readiness": _readiness_block,
    "cancellations": _outcomes_block,
    "items": _items_block,
    "reminders": _reminders_block,
    "portal": _portal_block,
    "results": _results_block,
}


def _allowed(request: StaffRequest) -> None:
    if not perms.allowed_to_view(request.user, perms.VIEW_CLINIC_DASHBOARD):
        audit.note_denied(kind="clinic_dashboard")
        perms.require_view(request.user, perms.VIEW_CLINIC_DASHBOARD)
    audit.note(kind="clinic_dashboard")


def _filters(request: StaffRequest, clinic: Clinic) -> tuple[wf.DashboardFilterForm, figures.Period, figures.Filters]:
    default = figures.Period.last_weeks(clinic=clinic)
    form = wf.DashboardFilterForm(
        request.GET or None,
        initial={"start": default.start, "end": default.end},
        procedures=list(ProcedureVariant.objects.filter(active=True).order_by("name")),
        surgeons=list(figures.clinic_surgeons(clinic=clinic)),
    )
    if not form.is_bound or not form.is_valid():
        return form, default, figures.Filters()
    data = form.cleaned_data
    period = figures.Period(start=data["start"] or default.start, end=data["end"] or default.end)
    procedure = form.procedures.get(data["procedure"])
    surgeon = form.surgeons.get(data["surgeon"])
    return (
        form,
        period,
        figures.Filters(procedure_id=procedure.pk if procedure else None, surgeon_id=surgeon.pk if surgeon else None),
    )


@require_GET
@staff_view
def dashboard(request: StaffRequest) -> HttpResponse:
    _allowed(request)
    clinic = request.user.clinic
    form, period, filters = _filters(request, clinic)
    if form.errors:
        return render(request, "workspace/dashboard.html", {"form": form, "nav": "dashboard"}, status=400)
    d = figures.dashboard_figures(clinic=clinic, period=period, filters=filters, now=timezone.now())
    query = urlencode({k: str(v) for k, v in request.GET.items() if k in form.fields and v})
    blocks = [build(d) for build in BLOCKS.values()]
    for block in blocks:
        block.csv_url = reverse("workspace:dashboard_csv", args=[block.slug]) + (f"?{query}" if query else "")
    headline = d.headline
    context = {
        "form": form,
        "nav": "dashboard",
        "clinic": clinic,
        "period": period,
        "headline": headline,
        "ready_72h": percent_text(headline.ready_72h.percent),
        "reached": percent_text(headline.reminders_reached.percent),
        "booking_to_ready": _duration(d.booking_to_ready),
        "blocks": blocks,
        "css_url": reverse("workspace:dashboard_css"),
    }
    return render(request, "workspace/dashboard.html", context)


@require_GET
@staff_view
def dashboard_csv(request: StaffRequest, chart: str) -> HttpResponse:
    _allowed(request)
    build = BLOCKS.get(chart)
    clinic = request.user.clinic
    form, period, filters = _filters(request, clinic)
    if build is None or form.errors:
        message = (
            f"No chart named {chart!r}."
            if build is None
            else "; ".join(f"{name}: {' '.join(str(e) for e in errors)}" for name, errors in form.errors.items())
        )
        return HttpResponse(message, status=404 if build is None else 400, content_type="text/plain; charset=utf-8")
    block = build(figures.dashboard_figures(clinic=clinic, period=period, filters=filters, now=timezone.now()))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"{clinic.slug}-{chart}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(block.columns)
    for row in block.rows:
        writer.writerow([_csv_safe(cell.raw) for cell in row])
    return response


def _csv_safe(value: object) -> object:
    """A text a spreadsheet would run as a formula (a drug name typed as ``=HYPERLINK(...)``) is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@require_GET
@cache_control(max_age=86400, public=True)
def dashboard_css(request: StaffRequest) -> HttpResponse:
    """The charts' stylesheet (no data: the same for everyone), served so the CSP needs no inline style."""
    return HttpResponse(chart_stylesheet(), content_type="text/css; charset=utf-8")
