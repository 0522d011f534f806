"""Reads for the patient portal: what one patient sees, in their language and time zone.

Every function takes the signed-in patient and reads only through them: there is no way to ask
for another patient's rows. What is shown is built here as plain data (``PortalItem``), so the
templates never reach staff-only fields (internal reasons, notes, who ticked what).
"""

from __future__ import annotations

import datetime as dt
import uuid as uuid_lib
import zoneinfo
from dataclasses import dataclass, field

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from patients.models import ACTIVE_SURGERY_STATUSES, Clinic, Patient, Surgery
from portal.formatting import local_when
from prep import selectors as prep_selectors
from prep.models import CalendarEntry, ChecklistItem, ConfirmAs, ItemStatus, ShowTime
from prep.planning import APPROVAL_PREFIX, HOLD_PREFIX

DONE_STATUSES = (ItemStatus.DONE, ItemStatus.ACCEPTED, ItemStatus.PATIENT_CONFIRMED)
# The last meal or drink can be confirmed from the day before; before that there is nothing to confirm yet.
FASTING_CONFIRM_FROM = dt.timedelta(hours=24)
FASTING_EVIDENCE = (ConfirmAs.LAST_MEAL, ConfirmAs.LAST_DRINK)

# How an item is confirmed, shown and put in the calendar is the catalogue's to say (``confirm_as``,
# ``show_time``, ``calendar`` on its template item), never a check on its code: an item renamed in
# the catalogue behaves the same. An item whose catalogue entry is gone gets the plain defaults.


def confirm_kind(item: ChecklistItem) -> str:
    """Which evidence the patient gives to confirm this item (see ``portal.forms.CONFIRM_FORMS``)."""
    return item.template_item.confirm_as if item.template_item is not None else ConfirmAs.DONE


def show_time(item: ChecklistItem) -> str:
    """How the due time is shown: the day only (a test's 08:00 is only the surgery's hour carried
    over, not an appointment), or the clock time under the label the catalogue names."""
    return item.template_item.show_time if item.template_item is not None else ShowTime.DAY


def calendar_entry(item: ChecklistItem) -> str:
    return item.template_item.calendar if item.template_item is not None else CalendarEntry.NONE


def item_confirmable(item: ChecklistItem, *, now: dt.datetime | None = None) -> bool:
    if item.assignee != "patient" or item.locked or item.status != ItemStatus.OPEN:
        return False
    if confirm_kind(item) == ConfirmAs.FORM:
        return False  # done by sending the questionnaire, never by a tick
    if confirm_kind(item) in FASTING_EVIDENCE:
        return (now or timezone.now()) >= item.due_at - FASTING_CONFIRM_FROM
    return True


@dataclass
class PortalTime:
    label: str
    text: str


@dataclass
class PortalItem:
    key: str
    title: str
    instructions: str = ""
    why: str = ""
    times: list[PortalTime] = field(default_factory=list)
    state: str = "todo"  # todo | clinic | confirmed | done | pending_decision | keep_taking
    state_label: str = ""
    uuid: str | None = None  # set only when the patient can confirm it
    questionnaire: bool = False  # done by answering the health questionnaire (its link instead of a tick)
    sort_at: dt.datetime | None = None
    overdue: bool = False


@dataclass
class Preparation:
    patient: Patient
    clinic: Clinic
    surgery: Surgery | None
    procedure_name: str = ""
    surgery_date: str = ""
    surgery_time: str = ""
    arrival_time: str = ""
    place: str = ""
    surgeon_name: str = ""
    overdue: list[PortalItem] = field(default_factory=list)
    today: list[PortalItem] = field(default_factory=list)
    upcoming: list[PortalItem] = field(default_factory=list)
    done: list[PortalItem] = field(default_factory=list)
    tz_name: str = ""


def portal_surgery_current(*, patient: Patient, now: dt.datetime | None = None) -> Surgery | None:
    """The booking the portal is about: the next active one, else the latest active one."""
    now = now or timezone.now()
    surgeries = list(
        Surgery.objects.filter(patient=patient, status__in=ACTIVE_SURGERY_STATUSES, checklist__isnull=False)
        .select_related("procedure", "surgeon", "patient__clinic", "checklist__template")
        .order_by("start_at")
    )
    upcoming = [s for s in surgeries if s.start_at >= now - dt.timedelta(hours=12)]
    if upcoming:
        return upcoming[0]
    return surgeries[-1] if surgeries else None


def _language(patient: Patient, language: str | None) -> str:
    lang = language or patient.language or "en"
    return lang if lang in ("en", "es") else "en"


def _child_name(surgery: Surgery) -> str | None:
    """The child's first name when the texts of ``surgery`` are addressed to a parent (the patient
    is a child on the surgery day), else None: the patient reads their own wording."""
    return surgery.patient.first_name if prep_selectors.surgery_texts_for_parent(surgery=surgery) else None


def _text(item: ChecklistItem, name: str, language: str, *, child: str | None, tz: zoneinfo.ZoneInfo) -> str:
    """One text of ``item``: the catalogue's parent wording ("Stop giving Maria food at 02:00")
    when ``child`` names the child a parent reads for, the patient's own otherwise."""
    return prep_selectors.item_text(
        item,
        field=name,
        language=language,
        for_parent=child is not None,
        first_name=child or "",
        time_text=local_when(item.due_at, tz=tz, language=language, style="time") if item.due_at else "",
    )


def _drug_name(item: ChecklistItem, language: str) -> str:
    """The drug as the patient reads it: the catalogue's Spanish name when the item uses the catalogue's."""
    drug = item.drug
    if language == "es" and drug is not None and drug.name_es and item.drug_name == drug.name:
        return drug.name_es
    return item.drug_name or _("your medicine")


def _fill(text: str, item: ChecklistItem, *, tz: zoneinfo.ZoneInfo, language: str) -> str:
    drug = _drug_name(item, language)
    values = {
        "{drug}": drug,
        "{last_dose}": local_when(item.last_dose_at, tz=tz, language=language) if item.last_dose_at else "—",
        "{restart}": local_when(item.restart_at, tz=tz, language=language) if item.restart_at else "—",
    }
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def _times(item: ChecklistItem, *, tz: zoneinfo.ZoneInfo, language: str) -> list[PortalTime]:
    def when(value: dt.datetime, style: str = "datetime") -> str:
        return local_when(value, tz=tz, language=language, style=style)

    if item.code.startswith(HOLD_PREFIX):
        times = []
        if item.last_dose_at:
            times.append(PortalTime(_("Last dose"), when(item.last_dose_at)))
        if item.restart_at:
            times.append(PortalTime(_("Restart from"), when(item.restart_at)))
        return times
    labels: dict[str, str] = {
        ShowTime.LAST_FOOD: _("Last solid food"),
        ShowTime.LAST_DRINK: _("Last clear drink"),
        ShowTime.ARRIVE_BY: _("Arrive by"),
    }
    shown = show_time(item)
    style = "date" if shown == ShowTime.DAY else "datetime"
    return [PortalTime(labels.get(shown, _("Date")), when(item.due_at, style))]


def _state(item: ChecklistItem) -> tuple[str, str]:
    if item.status == ItemStatus.PATIENT_CONFIRMED:
        return "confirmed", _("You confirmed this. The clinic will check it.")
    if item.status in (ItemStatus.DONE, ItemStatus.ACCEPTED):
        return "done", _("Done")
    if item.assignee == "patient":
        return "todo", _("To do")
    return "clinic", _("The clinic arranges this")


def _drug_key(code: str) -> str:
    return code.removeprefix(APPROVAL_PREFIX).removeprefix(HOLD_PREFIX)


def _section(entry: PortalItem, item: ChecklistItem, *, now: dt.datetime, today: dt.date, tz: zoneinfo.ZoneInfo) -> str:
    if entry.state in ("done", "confirmed", "keep_taking"):
        return "done"
    if entry.state == "pending_decision":
        return "today"
    local_day = item.due_at.astimezone(tz).date()
    # Due on an earlier day and still open: late, not "today" (a past date under "Today" misleads).
    if local_day < today:
        return "overdue"
    if item.due_at <= now or local_day == today:
        return "today"
    return "upcoming"


def portal_preparation(*, patient: Patient, language: str | None = None, now: dt.datetime | None = None) -> Preparation:
    """The patient's preparation page: surgery facts and items split into today / next / done.

    Blood-thinner holds waiting for the prescriber show no dates at all, only that the clinic will
    confirm; a declined hold says to keep taking the drug. Items that no longer apply are left out.
    """
    now = now or timezone.now()
    lang = _language(patient, language)
    tz = patient.tz
    prep = Preparation(patient=patient, clinic=patient.clinic, surgery=None, tz_name=str(tz))
    surgery = portal_surgery_current(patient=patient, now=now)
    if surgery is None:
        return prep
    items = list(ChecklistItem.objects.filter(checklist__surgery=surgery).select_related("template_item", "drug"))
    prep.surgery = surgery
    proc = surgery.procedure
    prep.procedure_name = (proc.name_es if lang == "es" and proc.name_es else proc.name) if proc else ""
    prep.surgery_date = local_when(surgery.start_at, tz=tz, language=lang, style="long_date")
    prep.surgery_time = local_when(surgery.start_at, tz=tz, language=lang, style="time")
    prep.place = surgery.place
    prep.surgeon_name = surgery.surgeon.get_full_name() if surgery.surgeon else ""
    arrival = next(
        (i for i in items if show_time(i) == ShowTime.ARRIVE_BY and i.status != ItemStatus.NOT_APPLICABLE), None
    )
    if arrival is not None:
        prep.arrival_time = local_when(arrival.due_at, tz=tz, language=lang, style="time")

    holds = {_drug_key(i.code): i for i in items if i.code.startswith(HOLD_PREFIX)}
    approvals = {_drug_key(i.code): i for i in items if i.code.startswith(APPROVAL_PREFIX)}
    today = now.astimezone(tz).date()
    child = _child_name(surgery)
    for item in items:
        entry = _entry(item, holds=holds, approvals=approvals, tz=tz, lang=lang, child=child)
        if entry is None:
            continue
        section = _section(entry, item, now=now, today=today, tz=tz)
        if section == "overdue":
            entry.overdue = True
            if len(entry.times) == 1:  # a hold keeps its "Last dose" / "Restart from" labels
                entry.times[0].label = _("Was due")
        sections = {"overdue": prep.overdue, "today": prep.today, "upcoming": prep.upcoming, "done": prep.done}
        sections[section].append(entry)
    # The patient's own to-dos first, then what waits for their doctor, then what the clinic arranges.
    rank = {"todo": 0, "pending_decision": 1}
    for rows in (prep.overdue, prep.today, prep.upcoming):
        rows.sort(key=lambda e: (rank.get(e.state, 2), e.sort_at or now))
    prep.done.sort(key=lambda e: e.sort_at or now, reverse=True)
    return prep


def _entry(
    item: ChecklistItem,
    *,
    holds: dict[str, ChecklistItem],
    approvals: dict[str, ChecklistItem],
    tz: zoneinfo.ZoneInfo,
    lang: str,
    child: str | None,
) -> PortalItem | None:
    """What the patient sees of one item, or None when it is not theirs to see."""
    drug = _drug_name(item, lang)
    if item.code.startswith(APPROVAL_PREFIX):
        key = _drug_key(item.code)
        if item.status == ItemStatus.OPEN:
            # Waiting for the prescriber: one entry per drug, without any date.
            return PortalItem(
                key=f"pending:{key}",
                title=drug,
                instructions=_("The clinic will confirm what to do with %(drug)s.") % {"drug": drug}
                + " "
                + _("Keep taking it as usual until the clinic tells you otherwise. Do not stop it on your own."),
                state="pending_decision",
                state_label=_("Waiting for your doctor"),
                sort_at=item.due_at,
            )
        if item.result_value == "decline" and key not in holds:
            return _keep_taking(item, drug)
        return None  # the decision itself is staff work; the hold item carries the instructions
    if item.code.startswith(HOLD_PREFIX):
        key = _drug_key(item.code)
        approval = approvals.get(key)
        if item.locked or (approval is not None and approval.status == ItemStatus.OPEN):
            if approval is None:
                return PortalItem(
                    key=f"pending:{key}",
                    title=drug,
                    instructions=_("The clinic will confirm what to do with %(drug)s.") % {"drug": drug},
                    state="pending_decision",
                    state_label=_("Waiting for your doctor"),
                    sort_at=item.due_at,
                )
            return None  # shown once, through its approval item above
        if item.status == ItemStatus.NOT_APPLICABLE:
            return _keep_taking(item, drug) if approval is not None and approval.result_value == "decline" else None
    elif item.status == ItemStatus.NOT_APPLICABLE:
        return None
    state, label = _state(item)
    if state in ("done", "confirmed"):
        return _done_entry(item, state=state, label=label, tz=tz, lang=lang, child=child)
    return PortalItem(
        key=str(item.uuid),
        title=_fill(_text(item, "patient_title", lang, child=child, tz=tz), item, tz=tz, language=lang),
        instructions=_fill(_text(item, "instructions", lang, child=child, tz=tz), item, tz=tz, language=lang),
        why=_fill(_text(item, "why", lang, child=child, tz=tz), item, tz=tz, language=lang),
        times=_times(item, tz=tz, language=lang),
        state=state,
        state_label=label,
        uuid=str(item.uuid) if item_confirmable(item) else None,
        questionnaire=confirm_kind(item) == ConfirmAs.FORM,
        sort_at=item.due_at,
    )


def _done_entry(
    item: ChecklistItem, *, state: str, label: str, tz: zoneinfo.ZoneInfo, lang: str, child: str | None
) -> PortalItem:
    """A done item in the past tense, with the day it was done: its instructions ("the clinic will
    tell you where to go") were about doing it and would now read as still to come."""
    if state == "confirmed":
        at, time_label = item.confirmed_at, _("You confirmed on")
    else:
        at, time_label = item.completed_at or item.result_at or item.updated_at, _("Done on")
    times = [PortalTime(time_label, local_when(at, tz=tz, language=lang, style="date"))] if at else []
    return PortalItem(
        key=str(item.uuid),
        title=_fill(_text(item, "patient_title", lang, child=child, tz=tz), item, tz=tz, language=lang),
        why=_fill(_text(item, "why", lang, child=child, tz=tz), item, tz=tz, language=lang),
        times=times,
        state=state,
        state_label=label,
        sort_at=at,
    )


def _keep_taking(item: ChecklistItem, drug: str) -> PortalItem:
    return PortalItem(
        key=f"keep:{_drug_key(item.code)}",
        title=_("Keep taking %(drug)s") % {"drug": drug},
        instructions=_("Your doctor decided that you do not need to stop %(drug)s before your procedure.")
        % {"drug": drug},
        state="keep_taking",
        state_label=_("Decided by your doctor"),
        sort_at=item.due_at,
    )


def portal_item_get(*, patient: Patient, uuid: object) -> ChecklistItem:
    """One of this patient's own items; anything else (another patient's, a bad id) is a 404."""
    try:
        value = uuid_lib.UUID(str(uuid))
    except (TypeError, ValueError):
        raise Http404("No such item.") from None
    item = (
        ChecklistItem.objects.select_related(
            "template_item", "drug", "checklist__template", "checklist__surgery__patient__clinic"
        )
        .filter(checklist__surgery__patient=patient, checklist__surgery__status__in=ACTIVE_SURGERY_STATUSES, uuid=value)
        .first()
    )
    if item is None:
        raise Http404("No such item.")
    return item


def portal_item_view(*, item: ChecklistItem, patient: Patient, language: str) -> PortalItem:
    """The patient-facing texts of one confirmable item (for its confirmation page)."""
    lang = _language(patient, language)
    tz = patient.tz
    child = _child_name(item.checklist.surgery)
    return PortalItem(
        key=str(item.uuid),
        title=_fill(_text(item, "patient_title", lang, child=child, tz=tz), item, tz=tz, language=lang),
        instructions=_fill(_text(item, "instructions", lang, child=child, tz=tz), item, tz=tz, language=lang),
        why=_fill(_text(item, "why", lang, child=child, tz=tz), item, tz=tz, language=lang),
        times=_times(item, tz=tz, language=lang),
        uuid=str(item.uuid),
        sort_at=item.due_at,
    )


@dataclass
class CalendarEvent:
    uid: str
    summary: str
    description: str
    start: dt.datetime
    minutes: int


def portal_calendar_events(
    *, patient: Patient, language: str | None = None, for_guardian: bool = False
) -> list[CalendarEvent]:
    """Timed events for the calendar file: approved holds' last doses, fasting, arrival, surgery, follow-up.

    ``for_guardian``: the file goes in a parent's calendar, where it sits beside their own events;
    each title then starts with the patient's first name ("Sofia: Stop eating ...").
    """
    lang = _language(patient, language)
    surgery = portal_surgery_current(patient=patient)
    if surgery is None:
        return []
    clinic = patient.clinic
    items = list(
        ChecklistItem.objects.filter(checklist__surgery=surgery)
        .exclude(status=ItemStatus.NOT_APPLICABLE)
        .select_related("template_item", "drug")
    )
    approvals = {_drug_key(i.code): i for i in items if i.code.startswith(APPROVAL_PREFIX)}
    follow = _("Follow your preparation instructions. Questions: %(phone)s") % {"phone": clinic.phone or clinic.name}
    titles: dict[str, tuple[str, int]] = {
        CalendarEntry.STOP_EATING: (_("Stop eating (no solid food from now)"), 15),
        CalendarEntry.STOP_DRINKING: (_("Stop drinking (nothing from now)"), 15),
        CalendarEntry.ARRIVAL: (_("Arrive at %(clinic)s") % {"clinic": clinic.name}, 30),
        CalendarEntry.FOLLOW_UP: (_("Follow-up after your procedure"), 30),
    }
    events: list[CalendarEvent] = []
    for item in items:
        code = item.code
        if code.startswith(HOLD_PREFIX):
            approval = approvals.get(_drug_key(code))
            approved = not item.locked and (approval is None or approval.status != ItemStatus.OPEN)
            if approved and item.last_dose_at:
                summary = _("Last dose of %(drug)s before your procedure") % {"drug": _drug_name(item, lang)}
                events.append(CalendarEvent(f"{item.uuid}-last-dose", summary, follow, item.last_dose_at, 15))
        elif calendar_entry(item) in titles:
            summary, minutes = titles[calendar_entry(item)]
            events.append(CalendarEvent(str(item.uuid), summary, follow, item.due_at, minutes))
    events.append(
        CalendarEvent(
            f"{surgery.uuid}-surgery",
            _("Your procedure at %(clinic)s") % {"clinic": clinic.name},
            (surgery.place + "\n" if surgery.place else "") + follow,
            surgery.start_at,
            60,
        )
    )
    if for_guardian:
        for event in events:
            event.summary = f"{patient.first_name}: {event.summary}"
    events.sort(key=lambda e: e.start)
    return events
