"""Staff side of guardians (issue 22): the booking form's guardian, the refusal of a child booked
without one (nothing half-saved), the guardian pages, the 18th-birthday notice, ages in months."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from audit.models import AccessLog
from patients.models import Guardian, Patient, Surgery
from prep.models import ChecklistItem
from reminders.models import Reminder
from tests.conftest import MOTHER
from tests.factories import aware, in_days
from tests.workspace.test_booking import _form

pytestmark = pytest.mark.django_db

CHILD = {
    "patient-mrn": "MRN-KID-9",
    "patient-first_name": "Sofia",
    "patient-last_name": "Ruiz",
    "patient-birth_date": "2019-05-06",
    "patient-email": "sofia.kid@example.org",
    "patient-mobile": "(310) 555-0166",
    "surgery-procedure": "lumbar-facet-rf",
    "surgery-side": "",
    "med-0-drug": "",
    "med-1-name": "",
}
GUARDIAN = {
    "guardian-first_name": "Carmen",
    "guardian-last_name": "Ruiz",
    "guardian-relationship": "mother",
    "guardian-birth_year": "1990",
    "guardian-language": "es",
    "guardian-email": "carmen@example.org",
    "guardian-mobile": "(310) 555-0167",
    "guardian-channel_email": "on",
    "guardian-channel_sms": "on",
    "guardian-sms_consent": "on",
    "guardian-receives_messages": "on",
}


def counts():
    return (
        Patient.objects.count(),
        Guardian.objects.count(),
        Surgery.objects.count(),
        ChecklistItem.objects.count(),
        Reminder.objects.count(),
    )


def test_a_child_booked_without_a_guardian_is_refused_and_nothing_is_saved(client_for, catalogue, nurse):
    client = client_for(nurse)
    before = counts()
    response = client.post("/book/", {**_form(**CHILD), "action": "save"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "Sofia is under 18: add a parent or guardian with an email address or mobile number" in html
    assert "Nothing was saved." in html
    assert counts() == before
    # The preview says the same, before anything is saved either.
    preview = client.post("/book/", {**_form(**CHILD), "action": "preview"})
    assert preview.status_code == 400 and "Sofia is under 18" in preview.content.decode()


def test_a_guardian_with_a_problem_is_named_on_the_guardian_form_and_nothing_is_saved(client_for, catalogue, nurse):
    client = client_for(nurse)
    before = counts()
    bad = {**GUARDIAN, "guardian-birth_year": "2021", "guardian-sms_consent": ""}
    response = client.post("/book/", {**_form(**CHILD), **bad, "action": "save"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "A mother&#x27;s year of birth (2021) must be before the patient&#x27;s (2019)" in html
    assert "Texts are ticked: the guardian must agree to receive them." in html
    assert counts() == before
    # A half-filled guardian is named field by field by the form itself.
    half = client.post("/book/", {**_form(**CHILD), "guardian-first_name": "Carmen", "action": "save"})
    assert half.status_code == 400 and "Give the guardian&#x27;s last name." in half.content.decode()


def test_a_child_is_booked_with_her_mother_who_gets_the_reminders(client_for, catalogue, nurse):
    client = client_for(nurse)
    response = client.post("/book/", {**_form(**CHILD), **GUARDIAN, "action": "save"})
    assert response.status_code == 302, response.content.decode()[:3000]
    surgery = Surgery.objects.get(patient__mrn="MRN-KID-9")
    (mother,) = surgery.patient.guardians.all()
    assert (mother.full_name, mother.mobile, mother.language, mother.is_primary) == (
        "Carmen Ruiz",
        "+13105550167",
        "es",
        True,
    )
    assert mother.sms_consent_at is not None
    rows = Reminder.objects.filter(surgery=surgery)
    assert rows.exists() and set(rows.values_list("guardian_id", flat=True)) == {mother.pk}
    page = client.get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "Parents and guardians" in page and "Carmen Ruiz" in page
    assert "Sign-in link to Carmen" in page
    assert "The patient's own email and mobile get no messages" in page
    assert "Carmen Ruiz (mother)" in page  # the messages panel says whom each reminder goes to
    api_rows = Reminder.objects.filter(surgery=surgery, guardian=mother)
    assert api_rows.exists()


def test_staff_add_and_edit_a_guardian_and_the_history_keeps_it(client_for, book, nurse):
    surgery = book(birth_date=dt.date(1950, 1, 1))
    patient = surgery.patient
    client = client_for(nurse)
    # An adult who needs a guardian: staff tick the flag, then add the guardian.
    page = client.get(f"/patients/{patient.uuid}/guardians/add/")
    assert page.status_code == 200
    data = {k.removeprefix("guardian-"): v for k, v in GUARDIAN.items()}
    data.update(relationship="legal_guardian", birth_year="1975")
    response = client.post(f"/patients/{patient.uuid}/guardians/add/", data)
    assert response.status_code == 302
    guardian = patient.guardians.get()
    edit = f"/patients/{patient.uuid}/guardians/{guardian.uuid}/edit/"
    assert client.get(edit).status_code == 200
    refused = client.post(edit, {**data, "email": "", "mobile": ""})
    assert refused.status_code == 400
    assert "Give the guardian&#x27;s email address or mobile number" in refused.content.decode()
    response = client.post(edit, {**data, "language": "en"})
    assert response.status_code == 302
    guardian.refresh_from_db()
    assert guardian.language == "en"
    assert guardian.history.first().history_change_reason == "Details changed by staff"
    assert guardian.history.count() == 2
    assert AccessLog.objects.filter(action="POST workspace:guardian_edit", patient=patient, allowed=True).exists()


def test_another_clinics_guardian_is_a_404(client_for, book_child, outsider_nurse):
    surgery = book_child()
    guardian = surgery.patient.guardians.get()
    client = client_for(outsider_nurse)
    base = f"/patients/{surgery.patient.uuid}/guardians"
    assert client.get(f"{base}/add/").status_code == 404
    assert client.get(f"{base}/{guardian.uuid}/edit/").status_code == 404
    data = {k.removeprefix("guardian-"): v for k, v in GUARDIAN.items()}
    assert client.post(f"{base}/{guardian.uuid}/edit/", data).status_code == 404
    guardian.refresh_from_db()
    assert guardian.first_name == "Ana"


def test_turning_18_before_the_surgery_is_shown_to_staff(client_for, book_child, nurse):
    with time_machine.travel(aware("2026-02-02T10:00"), tick=False):
        surgery = book_child(birth_date=dt.date(2008, 2, 15), start_at=aware("2026-02-20T09:00"))
        html = client_for(nurse).get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "Maria turns 18 on 15 Feb 2026, before the surgery on 20 Feb 2026" in html
    assert "Needs a parent or guardian" in html


def test_nobody_to_reach_is_shown_to_staff(client_for, book_child, nurse):
    from actions.patients import guardian_update

    surgery = book_child()
    guardian_update(guardian=surgery.patient.guardians.get(), by=nurse, receives_messages=False)
    html = client_for(nurse).get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "needs a parent or guardian and none can be reached" in html


@pytest.mark.parametrize(
    ("born", "label"),
    [
        (dt.date(2026, 3, 1), "9 m"),
        (dt.date(2026, 11, 20), "0 m"),
        (dt.date(2025, 8, 1), "1 y 4 m"),
        (dt.date(2024, 12, 3), "1 y 11 m"),
        (dt.date(2024, 12, 2), "2 y"),
        (dt.date(1950, 1, 1), "76 y"),
    ],
)
def test_the_board_shows_years_and_months_under_2(client_for, book_child, nurse, born, label):
    with time_machine.travel(aware("2026-12-02T10:00"), tick=False):
        surgery = book_child(birth_date=born, start_at=in_days(3), guardians=[MOTHER] if born.year > 2000 else [])
        html = client_for(nurse).get("/").content.decode()
        assert surgery.patient.age_label_on(timezone.localdate()) == label
    assert f"· {label}</span>" in html


def test_the_nurse_reads_who_confirmed_for_the_child(client_for, book_child, nurse):
    from portal.services import portal_item_confirm

    surgery = book_child()
    mother = surgery.patient.guardians.get()
    item = surgery.checklist.items.select_related("checklist__surgery").get(code="arrival")
    portal_item_confirm(
        patient=surgery.patient, item=item, evidence={"kind": "ride", "ride_arranged": True}, guardian=mother
    )
    html = client_for(nurse).get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "Ana Garcia (mother) confirmed for the patient" in html
