"""Booking: find or create the patient, preview the checklist without saving, save through the services."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from patients.models import Patient, Surgery
from prep.models import ChecklistItem
from tests.factories import in_days


def _form(**overrides):
    start = in_days(10, hour=9)
    data = {
        "patient-mrn": "MRN-NEW-1",
        "patient-first_name": "Rosa",
        "patient-last_name": "Diaz",
        "patient-birth_date": "1950-02-03",
        "patient-sex": "female",
        "patient-language": "es",
        "patient-email": "rosa@example.org",
        "patient-mobile": "(310) 555-0188",
        "patient-channel_email": "on",
        "patient-channel_sms": "on",
        "patient-sms_consent": "on",
        "patient-claustrophobic": "on",
        "med-TOTAL_FORMS": "3",
        "med-INITIAL_FORMS": "0",
        "med-MIN_NUM_FORMS": "0",
        "med-MAX_NUM_FORMS": "10",
        "med-0-drug": "warfarin",
        "med-1-name": "Fish oil",
        "med-1-indication": "",
        "med-2-name": "",
        "surgery-procedure": "trigeminal-rf",
        "surgery-start_date": start.date().isoformat(),
        "surgery-start_time": "09:00",
        "surgery-anaesthesia": "",
        "surgery-side": "left",
    }
    data.update(overrides)
    return data


def test_preview_saves_nothing_then_book(client_for, catalogue, nurse, surgeon):
    client = client_for(nurse)
    counts = (Patient.objects.count(), Surgery.objects.count(), ChecklistItem.objects.count())
    response = client.post("/book/", {**_form(**{"surgery-surgeon": surgeon.email}), "action": "preview"})
    assert response.status_code == 200, response.content.decode()[:2000]
    html = response.content.decode()
    assert "The checklist the patient will get" in html
    assert "Hemoglobin" in html and "Warfarin" in html and "MRI comfort" in html
    assert "Waits for approval" in html  # the warfarin hold before a high-risk procedure
    assert (Patient.objects.count(), Surgery.objects.count(), ChecklistItem.objects.count()) == counts

    response = client.post("/book/", {**_form(**{"surgery-surgeon": surgeon.email}), "action": "save"})
    assert response.status_code == 302
    surgery = Surgery.objects.get(patient__mrn="MRN-NEW-1")
    assert response["Location"] == f"/surgeries/{surgery.uuid}/"
    patient = surgery.patient
    assert patient.mobile == "+13105550188" and patient.claustrophobic and patient.sms_consent
    assert sorted(m.name for m in patient.medications.all()) == ["Fish oil", "Warfarin"]
    assert surgery.anaesthesia == "general"  # the variant's default
    assert surgery.surgeon == surgeon
    # 09:00 in the clinic's zone, stored as an aware instant.
    local = timezone.localtime(surgery.start_at, patient.clinic.tz)
    assert (local.hour, local.minute) == (9, 0)
    assert surgery.checklist.items.filter(code="hold:warfarin", locked=True).exists()


def test_book_for_existing_patient(client_for, book, nurse):
    existing = book(start_at=in_days(3), last_name="Known", mrn="MRN-K")
    client = client_for(nurse)
    searched = client.post("/book/", {"action": "search", "q": "known"})
    assert searched.status_code == 302 and "known" not in searched["Location"].lower()
    found = client.get(searched["Location"]).content.decode()
    assert f"?patient={existing.patient.uuid}" in found
    data = {k: v for k, v in _form().items() if not k.startswith("patient-")}
    data.update({"patient": str(existing.patient.uuid), "action": "save", "med-0-drug": ""})
    response = client.post("/book/", data)
    assert response.status_code == 302
    assert existing.patient.surgeries.count() == 2


@pytest.mark.parametrize(
    ("overrides", "field_error"),
    [
        (
            {"surgery-start_date": (timezone.localdate() - dt.timedelta(days=2)).isoformat()},
            "The surgery time is in the past.",
        ),
        ({"patient-mobile": "12345"}, "is not a valid phone number"),
        ({"patient-mobile": "not a phone"}, "is not a phone number"),
        ({"patient-birth_date": "2999-01-01"}, "The birth date cannot be in the future."),
        ({"patient-mrn": ""}, "This field is required."),
    ],
)
def test_booking_validation(client_for, catalogue, nurse, overrides, field_error):
    for action in ("preview", "save"):
        response = client_for(nurse).post("/book/", {**_form(**overrides), "action": action})
        assert response.status_code == 400
        assert field_error in response.content.decode()
    assert not Patient.objects.exists() and not Surgery.objects.exists()


def test_duplicate_mrn_is_shown_on_the_field(client_for, book, nurse):
    book(mrn="MRN-DUP")
    response = client_for(nurse).post("/book/", {**_form(**{"patient-mrn": "MRN-DUP"}), "action": "save"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A patient with this record number already exists" in html
    assert Patient.objects.filter(mrn="MRN-DUP").count() == 1


def test_surgeon_of_another_clinic_cannot_be_chosen(client_for, catalogue, nurse, other_clinic):
    from accounts.models import Role
    from tests.factories import UserFactory

    stranger = UserFactory(clinic=other_clinic, role=Role.SURGEON, email="surgeon@eastside.test")
    response = client_for(nurse).post("/book/", {**_form(**{"surgery-surgeon": stranger.email}), "action": "save"})
    assert response.status_code == 400
    assert not Surgery.objects.exists()


def test_other_clinic_patient_cannot_be_booked(client_for, book, outsider_nurse):
    existing = book(mrn="MRN-X")
    response = client_for(outsider_nurse).get("/book/", {"patient": str(existing.patient.uuid)})
    assert response.status_code == 404
