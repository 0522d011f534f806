"""Editing a patient's details after booking: saved with history, the plan follows, no lost update."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from reminders.models import Channel, Reminder, Status
from tests.workspace.conftest import item_of
from workspace.forms import patient_initial


def _data(patient, **overrides) -> dict[str, str]:
    """What the edit form posts back untouched, with ``overrides`` typed in."""
    data: dict[str, str] = {}
    for name, value in patient_initial(patient).items():
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, dt.date):
            data[name] = value.isoformat()
        else:
            data[name] = "" if value is None else str(value)
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_the_form_shows_the_details_and_saves_a_change_with_its_author(client_for, surgery, nurse):
    patient = surgery.patient
    client = client_for(nurse)
    page = client.get(f"/patients/{patient.uuid}/edit/")
    assert page.status_code == 200
    html = page.content.decode()
    assert patient.mrn in html and patient.last_name in html and 'name="seen"' in html
    assert f"/patients/{patient.uuid}/edit/" in client.get(f"/surgeries/{surgery.uuid}/").content.decode()
    response = client.post(f"/patients/{patient.uuid}/edit/", _data(patient, mobile="(310) 555-0199"))
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.mobile == "+13105550199" and patient.updated_by == nurse
    last = patient.history.first()
    assert last.history_change_reason == "Details changed by staff" and last.history_user == nurse


def test_texts_turned_on_by_the_nurse_are_planned_at_once(client_for, surgery, nurse):
    patient = surgery.patient
    assert not Reminder.objects.filter(surgery=surgery, channel=Channel.SMS).exists()
    data = _data(patient, mobile="+13105550123", channel_sms="on", sms_consent="on")
    assert client_for(nurse).post(f"/patients/{patient.uuid}/edit/", data).status_code == 302
    assert Reminder.objects.filter(surgery=surgery, channel=Channel.SMS, status=Status.PENDING).exists()


def test_a_new_flag_replans_the_checklist(client_for, surgery, nurse):
    patient = surgery.patient
    before = set(surgery.checklist.items.values_list("code", flat=True))
    data = _data(patient, cardiac_history="on")
    assert client_for(nurse).post(f"/patients/{patient.uuid}/edit/", data).status_code == 302
    after = set(surgery.checklist.items.values_list("code", flat=True))
    assert after - before, "a cardiac history adds items"
    assert item_of(surgery, "hemoglobin").status == "open"


def test_bad_input_names_the_field_and_saves_nothing(client_for, surgery, nurse):
    patient = surgery.patient
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    response = client_for(nurse).post(
        f"/patients/{patient.uuid}/edit/", _data(patient, birth_date=tomorrow, first_name="Changed")
    )
    assert response.status_code == 400
    assert "The birth date cannot be in the future." in response.content.decode()
    patient.refresh_from_db()
    assert patient.first_name == "Ana"


def test_a_change_made_meanwhile_by_someone_else_is_not_overwritten(client_for, surgery, nurse):
    patient = surgery.patient
    stale = _data(patient, first_name="Anna")
    patient.email = "new.address@example.org"
    patient.save()  # someone else saves between the nurse's read and her save
    response = client_for(nurse).post(f"/patients/{patient.uuid}/edit/", stale)
    assert response.status_code == 409
    assert "Someone else changed this patient" in response.content.decode()
    assert "new.address@example.org" in response.content.decode(), "the form shows their version"
    patient.refresh_from_db()
    assert (patient.first_name, patient.email) == ("Ana", "new.address@example.org")


def test_nothing_changed_saves_nothing(client_for, surgery, nurse):
    patient = surgery.patient
    versions = patient.history.count()
    response = client_for(nurse).post(f"/patients/{patient.uuid}/edit/", _data(patient), follow=True)
    assert "Nothing was changed." in response.content.decode()
    assert patient.history.count() == versions
