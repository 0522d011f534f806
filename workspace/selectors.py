"""Reads for the staff pages. Each page runs a fixed number of queries, whatever the data size."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, Max, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.functional import cached_property

from accounts.models import Role, User
from audit import context as audit
from documents.models import Document
from documents.selectors import documents_by_item
from patients.access import surgeries_for_user, surgery_get_for_user
from patients.models import ACTIVE_SURGERY_STATUSES, Clinic, GoDecision, Guardian, Medication, Patient, Surgery
from patients.staff import ClinicStaff
from prep import planning
from prep.models import CLOSED_STATUSES, Assignee, ChecklistItem, ChecklistStatus, ItemStatus
from prep.selectors import (
    OPEN_STATUSES,
    PHASES,
    READINESS_ITEM_FIELDS,
    Readiness,
    ReadinessReport,
    item_phase,
    readiness_compute,
    summary_due_q,
    surgeries_with_summary,
)
from prep.services import readiness_refresh_due
from workspace.models import NoteKind, PatientNote

if TYPE_CHECKING:
    from prep.selectors import SurgeryWithReadiness

BOARD_PAGE_SIZE = 25
BOARD_DEFAULT_DAYS = 14
ACTIVE_SURGERY = ACTIVE_SURGERY_STATUSES


@dataclass(frozen=True)
class BoardFilters:
    date_from: dt.date
    date_to: dt.date
    readiness: str = ""
    surgeon: str = ""  # the surgeon's email: staff users have no UUID and ids never go in URLs
    decision: str = ""  # "needed" | "go" | "no_go"
    q: str = ""


@dataclass
class GuardianPanel:
    """The patient's parents or guardians as the staff pages show them, with what staff must know."""

    guardians: list[Guardian]
    required: bool  # a guardian, not the patient, is the contact today
    notices: list[str]


def guardian_panel(*, patient: Patient, surgery: Surgery | None, now: dt.datetime | None = None) -> GuardianPanel:
    """The notices: nobody to reach; the patient turns 18 before the surgery. One query (the guardians)
    while the patient needs one; none for an adult who is their own contact (most patients): their
    guardians, if any were recorded before the 18th birthday, receive nothing and are not listed."""
    now = now or timezone.now()
    today = now.astimezone(patient.tz).date()
    required = patient.guardian_required_on(today)
    guardians = list(patient.guardians.all()) if required else []
    notices: list[str] = []
    if required and not any(g.reachable for g in guardians):
        notices.append(
            "This patient needs a parent or guardian and none can be reached: no reminder or sign-in link is "
            "sent (not to the patient either). Add a guardian with an email address or mobile number."
        )
    if surgery is not None and surgery.is_active and not patient.needs_guardian:
        surgery_day = surgery.start_at.astimezone(patient.tz).date()
        if today < patient.adult_from <= surgery_day:
            notices.append(
                f"{patient.first_name} turns 18 on {patient.adult_from:%-d %b %Y}, before the surgery on "
                f"{surgery_day:%-d %b %Y}. From that day the patient is their own contact: reminders and sign-in "
                "links go to the patient's own email and mobile, no longer to the guardians. Tick \"Needs a parent "
                "or guardian\" in the patient's details to keep the guardians as contacts."
            )
    return GuardianPanel(guardians=guardians, required=required, notices=notices)


@dataclass
class BoardRow:
    surgery: Surgery
    report: ReadinessReport
    age: int
    last_contact: PatientNote | None = None
    next_required: ChecklistItem | None = None
    age_label: str = ""  # "34 y"; under 2, years and months ("1 y 4 m", "9 m")


@dataclass
class BoardPage:
    page: Page
    rows: list[BoardRow]
    filters: BoardFilters
    surgeons: list[User]


def next_required(items: Sequence[ChecklistItem]) -> ChecklistItem | None:
    """The next required item to chase (overdue ones first); an open optional item is not it."""
    return min((i for i in items if i.required and i.status in OPEN_STATUSES), key=lambda i: i.due_at, default=None)


def board_default_filters(*, clinic: Clinic, now: dt.datetime | None = None) -> BoardFilters:
    today = timezone.localdate(now or timezone.now(), clinic.tz)
    return BoardFilters(date_from=today, date_to=today + dt.timedelta(days=BOARD_DEFAULT_DAYS))


def clinic_surgeons(*, clinic: Clinic) -> list[User]:
    return list(
        User.objects.filter(clinic=clinic, is_active=True, role__in=(Role.SURGEON, Role.CLINIC_ADMIN)).order_by(
            "last_name", "first_name", "email"
        )
    )


def _local_midnight(day: dt.date, clinic: Clinic) -> dt.datetime:
    return planning.local_to_utc(dt.datetime.combine(day, dt.time()), clinic.tz)


def board_scope(*, user: ClinicStaff, filters: BoardFilters) -> QuerySet[Surgery]:
    """The board's surgeries before the readiness filter: dates, surgeon, search, decision."""
    clinic = user.clinic
    qs = surgeries_for_user(user).filter(
        status__in=ACTIVE_SURGERY,
        start_at__gte=_local_midnight(filters.date_from, clinic),
        start_at__lt=_local_midnight(filters.date_to + dt.timedelta(days=1), clinic),
    )
    if filters.surgeon:
        qs = qs.filter(surgeon__email=filters.surgeon)
    for term in filters.q.split()[:5]:
        qs = qs.filter(
            Q(patient__mrn__istartswith=term)
            | Q(patient__last_name__istartswith=term)
            | Q(patient__first_name__istartswith=term)
        )
    if filters.decision == "needed":
        qs = qs.filter(needs_decision_q())
    elif filters.decision in (GoDecision.GO, GoDecision.NO_GO):
        qs = qs.filter(go_decision=filters.decision)
    return qs


def board_readiness_q(filters: BoardFilters) -> Q:
    return Q(readiness_rank=Readiness.RANK[filters.readiness]) if filters.readiness in Readiness.RANK else Q()


def board_queryset(*, user: ClinicStaff, filters: BoardFilters) -> QuerySet[SurgeryWithReadiness]:
    """The board's surgeries on their stored readiness, sorted by readiness then time.

    The stored readiness is current once ``readiness_refresh_due`` has run on ``board_scope``
    (``board_page`` does).
    """
    qs = surgeries_with_summary(qs=board_scope(user=user, filters=filters))
    return qs.filter(board_readiness_q(filters)).order_by("readiness_rank", "start_at", "pk")


class _CountedPaginator(Paginator):
    """A paginator told its count (read with other figures in one query) instead of counting."""

    def __init__(self, object_list: QuerySet[Surgery], per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


def _board_count(*, scope: QuerySet[Surgery], filters: BoardFilters, now: dt.datetime) -> tuple[int, int]:
    """(rows the filters keep, stored summaries the clock has overtaken) in one query."""
    figures = surgeries_with_summary(qs=scope).aggregate(
        rows=Count("pk", filter=board_readiness_q(filters)),
        due=Count("pk", filter=summary_due_q(now=now, through="checklist__")),
    )
    return figures["rows"], figures["due"]


def open_decision_items() -> QuerySet[ChecklistItem]:
    """Open items that wait for the surgeon / prescriber: chosen by who they are assigned to, not by
    their code, so every kind of decision item (hold approvals, and the GLP-1 or diabetes decisions
    of other catalogues) is found the same way."""
    # "Not closed" rather than "open", as on the board: with ``status IN (open...)`` SQLite walks the
    # (status, due_at) index over every open item of the table (5,600 surgeon items among ~80,000
    # at 10,000 patients: 170 ms to count a worklist) instead of the clinic's checklists (25 ms).
    return ChecklistItem.objects.filter(
        assignee=Assignee.SURGEON, locked=False, checklist__status=ChecklistStatus.ACTIVE
    ).exclude(status__in=CLOSED_STATUSES)


def needs_decision_q() -> Q:
    """A surgery waits for a decision: no go / no-go yet, or an open decision item."""
    waiting = open_decision_items().filter(checklist__surgery=OuterRef("pk"))
    return Q(go_decision=GoDecision.PENDING) | Q(Exists(waiting))


# The columns a board row shows (and what the readiness reasons and the access log read).
BOARD_ROW_FIELDS = (
    *("id", "uuid", "patient_id", "procedure_id", "surgeon_id", "clinic_id", "start_at", "side", "status"),
    *("go_decision", "go_decision_note", "go_override_reason", "go_withdrawn_at", "go_withdrawn_reason"),
    *("patient__id", "patient__first_name", "patient__last_name", "patient__mrn", "patient__birth_date"),
    *("procedure__id", "procedure__name"),
    *("surgeon__id", "surgeon__first_name", "surgeon__last_name", "surgeon__email"),
    *("checklist__id", "checklist__surgery_id", "checklist__alerts", "checklist__status"),
)


def board_page(
    *,
    user: ClinicStaff,
    filters: BoardFilters,
    page_number: int | str = 1,
    surgeons: list[User] | None = None,
    now: dt.datetime | None = None,
) -> BoardPage:
    """One page of the board: count, rows, their items, the last calls, the surgeon list."""
    now = now or timezone.now()
    clinic = user.clinic
    # One query counts the rows and the stored summaries that the clock has overtaken since they
    # were written; only when there are some are they re-evaluated (and the rows counted again),
    # so the board sorts, filters and pages on readiness that is right at this moment.
    scope = board_scope(user=user, filters=filters)
    count, due = _board_count(scope=scope, filters=filters, now=now)
    if due:
        readiness_refresh_due(surgeries=scope, now=now)
        count, _ = _board_count(scope=scope, filters=filters, now=now)
    # A row shows its counts from the stored summary (current after the refresh above) and, for
    # the reasons and the next item to chase, the titles of its open required items: only those are
    # loaded, with the columns readiness reads, not every item of 25 checklists. "Not closed", not
    # "open": with ``status IN (...)`` SQLite walks the (status, due_at) index of the whole table
    # instead of the checklists' (96 ms instead of 1 at 10,000 patients); NOT IN uses no index.
    page_items = (
        ChecklistItem.objects.filter(required=True)
        .exclude(status__in=CLOSED_STATUSES)
        .only(*READINESS_ITEM_FIELDS)
        .order_by("due_at", "sort_order")
    )
    # The ranking sorts every surgery of the window (~2,000 at 10,000 patients): it picks the page's
    # ids on the lean join it sorts on (surgery, checklist, summary) in a subquery, and the columns a
    # row shows are joined for those 25 alone. One query as before, half its time (~7 -> ~4 ms).
    ranked = board_queryset(user=user, filters=filters)
    page = _CountedPaginator(ranked, BOARD_PAGE_SIZE, count=count).get_page(page_number)
    first = (page.number - 1) * BOARD_PAGE_SIZE
    page_ids = ranked.values("pk")[first : first + BOARD_PAGE_SIZE]
    surgeries = list(
        surgeries_with_summary(qs=Surgery.objects.filter(pk__in=page_ids))
        .select_related("patient", "procedure", "surgeon", "checklist")
        .only(*BOARD_ROW_FIELDS)
        .prefetch_related(Prefetch("checklist__items", queryset=page_items))
        .order_by("readiness_rank", "start_at", "pk")
    )
    page.object_list = surgeries
    last_calls = _last_contacts([s.patient_id for s in surgeries])
    today = timezone.localdate(now, clinic.tz)
    rows = []
    for surgery in surgeries:
        checklist = getattr(surgery, "checklist", None)
        items = list(checklist.items.all()) if checklist else []
        # State, reasons and overdue count read only open required items: the same as from all of
        # them. Done and required count closed items too: those come from the stored summary.
        report = readiness_compute(surgery=surgery, items=items, clinic=clinic, now=now)
        report.done, report.required = surgery.done_count, surgery.required_count
        rows.append(
            BoardRow(
                surgery=surgery,
                report=report,
                age=surgery.patient.age_on(today),
                age_label=surgery.patient.age_label_on(today),
                last_contact=last_calls.get(surgery.patient_id),
                next_required=next_required(items),
            )
        )
    surgeons = surgeons if surgeons is not None else clinic_surgeons(clinic=clinic)
    audit.note_shown(kind="board", patient_ids=[s.patient_id for s in surgeries])
    return BoardPage(page=page, rows=rows, filters=filters, surgeons=surgeons)


def _last_contacts(patient_ids: Sequence[int]) -> dict[int, PatientNote]:
    """The latest call per patient, in one query."""
    if not patient_ids:
        return {}
    latest = (
        PatientNote.objects.filter(patient_id__in=patient_ids, kind=NoteKind.CALL)
        .values("patient_id")
        .annotate(last=Max("at"))
    )
    at_by_patient = {row["patient_id"]: row["last"] for row in latest}
    notes = (
        PatientNote.objects.filter(
            Q(*(Q(patient_id=pid, at=at) for pid, at in at_by_patient.items()), _connector=Q.OR), kind=NoteKind.CALL
        )
        if at_by_patient
        else []
    )
    return {n.patient_id: n for n in notes}


# --- patient page --------------------------------------------------------------------------


@dataclass
class ItemView:
    """One checklist row with what the current user may do on it."""

    item: ChecklistItem
    phase: str
    hold_without_dates: bool = False
    forms: dict[str, object] = field(default_factory=dict)
    open_panel: str = ""
    message: str = ""
    message_level: str = "info"
    documents: list[Document] = field(default_factory=list)

    @property
    def is_hold_approval(self) -> bool:
        return self.item.code.startswith(planning.APPROVAL_PREFIX)

    @property
    def can_complete(self) -> bool:
        item = self.item
        return item.status in OPEN_STATUSES and not item.locked and not self.is_hold_approval

    @property
    def can_accept(self) -> bool:
        return self.item.status == ItemStatus.PATIENT_CONFIRMED

    @property
    def can_undo(self) -> bool:
        return self.item.status != ItemStatus.OPEN and not self.is_hold_approval

    @property
    def can_mark_na(self) -> bool:
        # A done item is reopened first (Undo): "not applicable" over a recorded result would hide it.
        return self.item.status in OPEN_STATUSES and not self.is_hold_approval

    @property
    def is_overdue(self) -> bool:
        return self.item.status in OPEN_STATUSES and self.item.due_at <= timezone.now()


@dataclass
class PhaseGroup:
    key: str
    label: str
    items: list[ItemView] = field(default_factory=list)


@dataclass
class SurgeryPage:
    surgery: Surgery
    patient: Patient
    clinic: Clinic
    report: ReadinessReport
    groups: list[PhaseGroup]
    medications: list[Medication]
    notes: list[PatientNote]
    other_surgeries: list[Surgery]
    age: int
    editable: bool
    guardians: GuardianPanel | None = None
    age_label: str = ""

    @property
    def items(self) -> list[ItemView]:
        return [view for group in self.groups for view in group.items]


SURGERY_PAGE_RELATED = ("patient__clinic", "procedure", "surgeon", "go_decided_by", "checklist")


def surgery_items(*, surgery: Surgery) -> list[ChecklistItem]:
    return list(
        ChecklistItem.objects.filter(checklist__surgery_id=surgery.pk)
        .select_related("template_item", "completed_by", "updated_by", "drug")
        .order_by("due_at", "sort_order")
    )


def item_views(*, surgery: Surgery, items: Sequence[ChecklistItem]) -> list[ItemView]:
    tz = surgery.patient.clinic.tz
    codes = {i.code for i in items}
    documents = documents_by_item(item_ids=[i.pk for i in items])
    views = []
    for item in items:
        view = ItemView(item=item, phase=item_phase(item, surgery, tz), documents=documents.get(item.pk, []))
        if view.is_hold_approval:
            key = item.code.removeprefix(planning.APPROVAL_PREFIX)
            view.hold_without_dates = f"{planning.HOLD_PREFIX}{key}" not in codes
        views.append(view)
    return views


def surgery_page(*, user: User, uuid: object, now: dt.datetime | None = None) -> SurgeryPage:
    """Everything the patient page shows, in a fixed number of queries (no item history here)."""
    now = now or timezone.now()
    surgery = surgery_get_for_user(user=user, uuid=uuid, qs=Surgery.objects.select_related(*SURGERY_PAGE_RELATED))
    patient, clinic = surgery.patient, surgery.patient.clinic
    items = surgery_items(surgery=surgery)
    report = readiness_compute(surgery=surgery, items=items, clinic=clinic, now=now)
    report.next_required = next_required(items)
    groups = {key: PhaseGroup(key=key, label=label) for key, label in PHASES}
    for view in item_views(surgery=surgery, items=items):
        groups[view.phase].items.append(view)
    checklist = getattr(surgery, "checklist", None)
    return SurgeryPage(
        surgery=surgery,
        patient=patient,
        clinic=clinic,
        report=report,
        groups=[g for g in groups.values() if g.items],
        medications=list(patient.medications.select_related("drug").order_by("stopped_at", "name")),
        notes=list(patient.notes.select_related("by", "surgery")[:30]),
        other_surgeries=list(
            patient.surgeries.exclude(pk=surgery.pk).select_related("procedure").order_by("-start_at")
        ),
        age=patient.age_on(timezone.localdate(now, clinic.tz)),
        age_label=patient.age_label_on(timezone.localdate(now, clinic.tz)),
        guardians=guardian_panel(patient=patient, surgery=surgery, now=now),
        editable=surgery.is_active and checklist is not None and checklist.status == ChecklistStatus.ACTIVE,
    )


def surgery_summary(*, surgery: Surgery, now: dt.datetime | None = None) -> ReadinessReport:
    """Readiness after an item change, for the out-of-band badge update (one query)."""
    items = list(
        ChecklistItem.objects.filter(checklist__surgery_id=surgery.pk).only(
            "id", "title", "required", "status", "due_at"
        )
    )
    report = readiness_compute(surgery=surgery, items=items, clinic=surgery.patient.clinic, now=now)
    report.next_required = next_required(items)
    return report


def patient_main_surgery(*, patient: Patient) -> Surgery | None:
    """The surgery the patient link opens: the next active one, else the latest."""
    upcoming = patient.surgeries.filter(status__in=ACTIVE_SURGERY).order_by("start_at").first()
    return upcoming or patient.surgeries.order_by("-start_at").first()


def patients_search(*, user: User, q: str, limit: int = 20) -> list[Patient]:
    from patients.access import patients_for_user

    qs = patients_for_user(user)
    terms = q.split()[:5]
    if not terms:
        return []
    for term in terms:
        qs = qs.filter(Q(mrn__istartswith=term) | Q(last_name__istartswith=term) | Q(first_name__istartswith=term))
    found = list(qs.order_by("last_name", "first_name")[:limit])
    audit.note_shown(kind="patient search", patient_ids=[p.pk for p in found])
    return found


def item_history(*, item: ChecklistItem) -> list[object]:
    return list(item.history.select_related("history_user").order_by("-history_date", "-history_id"))


# --- the surgeon's worklist ------------------------------------------------------------------------

WORKLIST_GO_DAYS = 3
# Decisions per worklist page: a surgeon's open decisions can run to the thousands in a busy clinic,
# and the page should cost what one screen of them costs (issue 18).
WORKLIST_PAGE_SIZE = 50
WORKLIST_DECISION_FIELDS = (
    *("id", "uuid", "code", "title", "reason", "due_at", "checklist_id"),
    *("checklist__id", "checklist__surgery_id"),
    *("checklist__surgery__id", "checklist__surgery__uuid", "checklist__surgery__start_at"),
    *("checklist__surgery__patient_id", "checklist__surgery__procedure_id"),
    *("checklist__surgery__patient__id", "checklist__surgery__patient__first_name"),
    *("checklist__surgery__patient__last_name", "checklist__surgery__patient__mrn"),
    *("checklist__surgery__procedure__id", "checklist__surgery__procedure__name"),
)


@dataclass
class GoRow:
    surgery: Surgery
    report: ReadinessReport


@dataclass
class Worklist:
    decisions: list[ChecklistItem]  # this page of them
    page: Page  # of the decisions: ``page.paginator.count`` is all of them
    go_rows: list[GoRow]
    go_days: int = WORKLIST_GO_DAYS


def surgeon_worklist(*, user: ClinicStaff, page_number: int | str = 1, now: dt.datetime | None = None) -> Worklist:
    """What waits for this surgeon: open decision items (oldest due first), a page of
    ``WORKLIST_PAGE_SIZE`` at a time, and the go / no-go of the coming days, with any Go that a
    later change withdrew.

    A surgeon sees their own surgeries and the unassigned ones; a nurse or admin, the clinic's (a
    nurse chases what waits for the surgeons). Five queries in all: the decisions counted, one page
    of them, the stored readiness checked, the coming surgeries and their open required items.
    """
    now = now or timezone.now()
    clinic = user.clinic
    surgeries = surgeries_for_user(user).filter(status__in=ACTIVE_SURGERY)
    if user.is_surgeon:
        surgeries = surgeries.filter(Q(surgeon=user) | Q(surgeon__isnull=True))
    # A clinic's open decisions can run to thousands: one page of them, with only the columns a row shows.
    decisions_qs = (
        open_decision_items()
        .filter(checklist__surgery__in=surgeries)
        .select_related("checklist__surgery__patient", "checklist__surgery__procedure")
        .only(*WORKLIST_DECISION_FIELDS)
        .order_by("due_at", "pk")
    )
    page = Paginator(decisions_qs, WORKLIST_PAGE_SIZE).get_page(page_number)
    decisions = list(page.object_list)
    horizon = _local_midnight(timezone.localdate(now, clinic.tz) + dt.timedelta(days=WORKLIST_GO_DAYS + 1), clinic)
    coming = Q(start_at__gte=now - dt.timedelta(hours=12), start_at__lt=horizon) | Q(go_withdrawn_at__isnull=False)
    scope = surgeries.filter(coming, go_decision=GoDecision.PENDING, start_at__gte=now - dt.timedelta(hours=12))
    # As on the board: done / required from the stored summary (made current first: one query when
    # nothing is due), the state from the open required items alone, not every item of every row.
    readiness_refresh_due(surgeries=scope, now=now)
    open_required = (
        ChecklistItem.objects.filter(required=True).exclude(status__in=CLOSED_STATUSES).only(*READINESS_ITEM_FIELDS)
    )
    undecided = (
        surgeries_with_summary(qs=scope)
        .select_related("patient", "procedure", "checklist")
        .prefetch_related(Prefetch("checklist__items", queryset=open_required))
        .order_by("start_at", "pk")
    )
    go_rows = []
    for surgery in undecided:
        checklist = getattr(surgery, "checklist", None)
        report = readiness_compute(
            surgery=surgery, items=list(checklist.items.all()) if checklist else [], clinic=clinic, now=now
        )
        report.done, report.required = surgery.done_count, surgery.required_count
        go_rows.append(GoRow(surgery=surgery, report=report))
    return Worklist(decisions=decisions, page=page, go_rows=go_rows)
