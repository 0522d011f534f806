"""Item behaviour is catalogue data: an item renamed in the catalogue is reminded, shown and confirmed as before."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import time_machine
import yaml

from portal.forms import CONFIRM_FORMS
from portal.selectors import confirm_kind, portal_calendar_events, portal_preparation
from prep.loader import DEFAULT_PATH, catalogue_load
from prep.models import ChecklistItem, ConfirmAs, ItemStatus, ReminderKind
from reminders.messages import EMAIL_KINDS, SMS_KINDS
from reminders.models import Kind, Reminder
from tests.factories import aware
from tests.reminders.helpers import sms_fields

pytestmark = pytest.mark.django_db

SURGERY = aware("2026-03-09T08:00")
BOOKED_ON = aware("2026-02-20T09:00")
# The evening before: fasting can be confirmed, the arrival is still to come.
CHECKED_ON = aware("2026-03-08T21:00")
RENAMED = {
    "arrival": "day_of_arrival",
    "fasting_solids": "no_food",
    "fasting_clear_liquids": "no_drinks",
    "follow_up": "review_visit",
}


def renamed_catalogue(tmp_path: Path) -> Path:
    """The shipped catalogue with the items above under other codes, everywhere they are named."""
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["version"] = "renamed-1"
    for raw in data["items"]:
        raw["code"] = RENAMED.get(raw["code"], raw["code"])
    for template in data["templates"]:
        template["items"] = [RENAMED.get(code, code) for code in template["items"]]
        overrides = template.get("overrides") or {}
        template["overrides"] = {RENAMED.get(code, code): values for code, values in overrides.items()}
    path = tmp_path / "renamed.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def behaviour(surgery) -> dict:
    """Everything the patient and the outbox see of a booking, with the renamed codes read back."""
    original = {new: old for old, new in RENAMED.items()}
    items = list(ChecklistItem.objects.filter(checklist__surgery=surgery).select_related("template_item"))
    code = {i.pk: original.get(i.code, i.code) for i in items}
    with time_machine.travel(CHECKED_ON, tick=False):
        prep = portal_preparation(patient=surgery.patient, now=CHECKED_ON)
        events = portal_calendar_events(patient=surgery.patient)
    return {
        "reminders": sorted(
            (r.channel, r.kind, r.due_at, tuple(sorted(code[pk] for pk in r.covers)))
            for r in Reminder.objects.filter(surgery=surgery)
        ),
        "confirm_as": {code[i.pk]: confirm_kind(i) for i in items},
        "arrival_time": prep.arrival_time,
        "page": {
            name: [(e.title, [(t.label, t.text) for t in e.times], e.uuid is not None) for e in getattr(prep, name)]
            for name in ("overdue", "today", "upcoming", "done")
        },
        "calendar": [(e.summary, e.start, e.minutes) for e in events],
    }


def test_renaming_items_in_the_catalogue_changes_no_reminder_page_or_confirmation(
    book, tmp_path, client, sign_in
) -> None:
    with time_machine.travel(BOOKED_ON, tick=False):
        shipped = book("trigeminal-rf", SURGERY, mrn="MRN-SHIPPED", **sms_fields(1))
    # Read before the reload: the shipped booking's template items leave the templates with it.
    expected = behaviour(shipped)
    catalogue_load(path=renamed_catalogue(tmp_path))
    with time_machine.travel(BOOKED_ON, tick=False):
        renamed = book("trigeminal-rf", SURGERY, mrn="MRN-RENAMED", **sms_fields(2))
    codes = set(ChecklistItem.objects.filter(checklist__surgery=renamed).values_list("code", flat=True))
    assert set(RENAMED.values()) <= codes and not codes & set(RENAMED)

    got = behaviour(renamed)
    assert got == expected
    # Not equal by being empty: the behaviour the codes used to give is there.
    assert any(kind == Kind.ARRIVAL and "arrival" in covers for _, kind, _, covers in got["reminders"])
    assert any(kind == Kind.FASTING for _, kind, _, _ in got["reminders"])
    assert got["confirm_as"]["arrival"] == ConfirmAs.RIDE and got["confirm_as"]["fasting_solids"] == ConfirmAs.LAST_MEAL
    assert got["arrival_time"] == "06:00"
    summaries = {summary.split(" (")[0] for summary, _, _ in got["calendar"]}
    assert summaries >= {
        "Stop eating",
        "Stop drinking",
        "Arrive at Westside Spine Center",
        "Follow-up after your procedure",
    }

    # The portal's confirmation of the renamed arrival is still the ride home.
    arrival = ChecklistItem.objects.get(checklist__surgery=renamed, code="day_of_arrival")
    url = f"/p/me/items/{arrival.uuid}/confirm/"
    with time_machine.travel(CHECKED_ON, tick=False):
        sign_in(client, renamed.patient)
        assert "I have arranged for an adult to take me home" in client.get(url).content.decode()
        assert client.post(url, {"ride_arranged": "on"}).status_code == 302
    arrival.refresh_from_db()
    assert arrival.status == ItemStatus.PATIENT_CONFIRMED
    assert arrival.evidence == {"kind": "ride", "ride_arranged": True, "via": "portal"}


def test_every_catalogue_behaviour_value_has_its_form_and_its_reminder_words() -> None:
    # The health questionnaire item is completed by sending the questionnaire (issue 20), not by a form here.
    assert set(CONFIRM_FORMS) | {ConfirmAs.FORM} == set(ConfirmAs.values)
    assert set(ReminderKind.values) <= set(Kind.values)
    assert set(ReminderKind.values) <= set(EMAIL_KINDS) and set(ReminderKind.values) <= set(SMS_KINDS)


def test_fasting_is_confirmed_from_the_day_before_by_its_evidence_not_its_code(book, tmp_path) -> None:
    from portal.selectors import item_confirmable

    catalogue_load(path=renamed_catalogue(tmp_path))
    with time_machine.travel(BOOKED_ON, tick=False):
        surgery = book("trigeminal-rf", SURGERY)
    no_food = ChecklistItem.objects.select_related("template_item").get(checklist__surgery=surgery, code="no_food")
    assert not item_confirmable(no_food, now=no_food.due_at - dt.timedelta(hours=25))
    assert item_confirmable(no_food, now=no_food.due_at - dt.timedelta(hours=23))
