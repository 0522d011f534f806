"""Editing a booking, adding or stopping a medication, cancelling: confirm first, showing what changes."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from patients.models import Surgery
from tests.workspace.conftest import item_of


def _edit_data(surgery, **overrides):
    local = timezone.localtime(surgery.start_at, surgery.patient.clinic.tz)
    data = {
        "procedure": surgery.procedure.slug,
        "start_date": local.date().isoformat(),
        "start_time": local.strftime("%H:%M"),
        "anaesthesia": surgery.anaesthesia,
        "surgeon": "",
        "place": "",
        "level": "",
        "side": "",
    }
    data.update(overrides)
    return data


def test_reschedule_review_then_confirm(client_for, surgery, nurse):
    client = client_for(nurse)
    hb = item_of(surgery, "hemoglobin")
    old_due = hb.due_at
    new_day = (timezone.localtime(surgery.start_at, surgery.patient.clinic.tz) + dt.timedelta(days=2)).date()
    data = _edit_data(surgery, start_date=new_day.isoformat(), surgeon=surgery.surgeon.email)
    review = client.post(f"/surgeries/{surgery.uuid}/edit/", {**data, "action": "review"})
    assert review.status_code == 200
    html = review.content.decode()
    assert "Review what will change" in html and "Due time moves" in html and "Hemoglobin" in html
    hb.refresh_from_db()
    assert hb.due_at == old_due  # the review saved nothing
    done = client.post(f"/surgeries/{surgery.uuid}/edit/", {**data, "action": "confirm"})
    assert done.status_code == 302
    hb.refresh_from_db()
    assert hb.due_at == old_due + dt.timedelta(days=2)


def test_reschedule_into_the_past_is_refused(client_for, surgery, nurse):
    past = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    response = client_for(nurse).post(
        f"/surgeries/{surgery.uuid}/edit/", {**_edit_data(surgery, start_date=past), "action": "confirm"}
    )
    assert response.status_code == 400
    assert "The surgery time is in the past." in response.content.decode()


def test_change_procedure_shows_new_items(client_for, surgery, nurse):
    data = _edit_data(surgery, procedure="trigeminal-rf", anaesthesia="general")
    review = client_for(nurse).post(f"/surgeries/{surgery.uuid}/edit/", {**data, "action": "review"})
    html = review.content.decode()
    assert "New item" in html  # fasting comes with general anaesthesia
    assert Surgery.objects.get(pk=surgery.pk).procedure.slug == "lumbar-facet-rf"


def test_cancel_asks_then_cancels(client_for, surgery, nurse):
    client = client_for(nurse)
    page = client.get(f"/surgeries/{surgery.uuid}/cancel/").content.decode()
    assert "Every pending reminder for it is cancelled" in page
    assert '<optgroup label="Preparation">' in page
    no_reason = client.post(f"/surgeries/{surgery.uuid}/cancel/", {"reason": "patient moved"})
    assert no_reason.status_code == 400 and "Choose why the surgery is cancelled." in no_reason.content.decode()
    other = client.post(f"/surgeries/{surgery.uuid}/cancel/", {"reason_code": "other", "reason": ""})
    assert other.status_code == 400 and "Say why the surgery is cancelled." in other.content.decode()
    unknown = client.post(f"/surgeries/{surgery.uuid}/cancel/", {"reason_code": "bored", "reason": "x"})
    assert unknown.status_code == 400 and "Select a valid choice" in unknown.content.decode()
    done = client.post(f"/surgeries/{surgery.uuid}/cancel/", {"reason_code": "prep_medication", "reason": ""})
    assert done.status_code == 302
    surgery.refresh_from_db()
    assert (surgery.status, surgery.cancel_reason, surgery.cancel_note) == ("cancelled", "prep_medication", "")
    assert surgery.cancelled_at is not None
    page = client.get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "This surgery is cancelled" in page and "Mark done" not in page
    assert "A medicine not stopped as planned" in page


def test_add_medication_review_then_confirm(client_for, surgery, nurse):
    client = client_for(nurse)
    url = f"/patients/{surgery.patient.uuid}/medications/add/"
    review = client.post(url, {"drug": "warfarin", "action": "review"})
    assert review.status_code == 200
    assert "New item" in review.content.decode() and "Warfarin" in review.content.decode()
    assert not surgery.checklist.items.filter(code__contains="warfarin").exists()
    assert client.post(url, {"drug": "warfarin", "action": "confirm"}).status_code == 302
    assert surgery.checklist.items.filter(code="hold_approval:warfarin").exists()
    empty = client.post(url, {"action": "review"})
    assert empty.status_code == 400


def test_stop_medication_review_then_confirm(client_for, surgery, nurse):
    client = client_for(nurse)
    med = surgery.patient.medications.get()
    url = f"/patients/{surgery.patient.uuid}/medications/{med.uuid}/stop/"
    review = client.get(url).content.decode()
    assert "Prescriber decision" in review
    assert client.post(url).status_code == 302
    approval = item_of(surgery, "hold_approval:clopidogrel")
    assert approval.status == "not_applicable"
