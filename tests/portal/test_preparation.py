"""My preparation: what the patient sees, in their language and zone, and what they can confirm."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from actions.decisions import hold_decide
from actions.items import item_complete
from prep.models import ChecklistItem, ItemStatus
from tests.factories import aware

pytestmark = pytest.mark.django_db

SURGERY = aware("2026-03-09T08:00")  # Monday; DST starts in Los Angeles on Sunday 8 March 2026
BOOKED_ON = aware("2026-02-20T09:00")


@pytest.fixture
def surgery(book, surgeon):
    with time_machine.travel(BOOKED_ON, tick=False):
        s = book(
            "trigeminal-rf",
            SURGERY,
            medications=["clopidogrel", "aspirin:primary"],
            first_name="Carmen",
            last_name="Castellanos",
            mrn="MRN-CARMEN",
            birth_date=dt.date(1956, 7, 14),
            email="carmen@example.org",
        )
    s.surgeon = surgeon
    s.place = "Westside Surgery Center, 2nd floor"
    s.save(update_fields=["surgeon", "place"])
    return s


@pytest.fixture
def other_surgery(book):
    with time_machine.travel(BOOKED_ON, tick=False):
        return book(
            "lumbar-facet-rf",
            aware("2026-03-10T09:00"),
            anaesthesia="sedation",
            first_name="Oscar",
            last_name="Otherington",
            mrn="MRN-OSCAR",
            email="oscar@example.org",
        )


def item(surgery, code: str) -> ChecklistItem:
    return ChecklistItem.objects.get(checklist__surgery=surgery, code=code)


def approve(surgery, surgeon, drug: str) -> None:
    hold_decide(item=item(surgery, f"hold_approval:{drug}"), by=surgeon, approve=True)


def section(html: str, name: str) -> str:
    start = html.index(f'id="{name}-h"')
    ends = [html.find(f'id="{n}-h"', start + 1) for n in ("overdue", "today", "next", "done")]
    ends = [e for e in ends if e > start]
    return html[start : min(ends) if ends else len(html)]


def test_surgery_facts_and_local_times(client, surgery, sign_in):
    with time_machine.travel(aware("2026-03-03T10:00"), tick=False):
        html = sign_in(client, surgery.patient).content.decode()
    assert "Monday 9 March 2026" in html
    assert "Westside Surgery Center, 2nd floor" in html
    assert "Arrive by" in html and "06:00" in html
    assert "Sam Surgeon" in html  # the surgeon is named; no other staff
    assert "Nora Nurse" not in html and "nurse@westside.test" not in html
    # Fasting times are local (PDT after the change on 8 March), in the wording of the brief.
    assert "Last solid food:</dt> <dd>Monday 9 March, 02:00" in html
    assert "Last clear drink:</dt> <dd>Monday 9 March, 06:00" in html


def test_hold_instructions_hidden_until_the_prescriber_approves(client, surgery, surgeon, sign_in):
    with time_machine.travel(aware("2026-02-25T10:00"), tick=False):
        html = sign_in(client, surgery.patient).content.decode()
        assert "The clinic will confirm what to do with Clopidogrel" in html
        assert "Stop Clopidogrel" not in html
        assert "Last dose" not in html and "Restart from" not in html
        assert "Tuesday 10 March" not in html  # the restart date
        assert "08:00" not in section(html, "today").split("Clopidogrel", 1)[1].split("</article>", 1)[0]
        ics = client.get("/p/me/calendar.ics").content.decode()
        assert "clopidogrel" not in ics.lower()

        approve(surgery, surgeon, "clopidogrel")
        html = client.get("/p/me/").content.decode()
    assert "Stop Clopidogrel before your procedure" in html
    assert "Last dose:</dt> <dd>Monday 2 March, 08:00" in html
    assert "Restart from:</dt> <dd>Tuesday 10 March, 08:00" in html
    assert "no later than Monday 2 March, 08:00" in html  # {last_dose} filled in the instructions
    assert "{drug}" not in html and "{last_dose}" not in html and "{restart}" not in html
    # Aspirin is still waiting: no dates for it.
    assert "The clinic will confirm what to do with Aspirin (primary prevention)" in html
    assert "Stop Aspirin" not in html


def test_declined_hold_says_keep_taking(client, surgery, surgeon, sign_in):
    hold_decide(item=item(surgery, "hold_approval:aspirin"), by=surgeon, approve=False, note="stent 2024")
    with time_machine.travel(aware("2026-02-25T10:00"), tick=False):
        html = sign_in(client, surgery.patient).content.decode()
    assert "Keep taking Aspirin (primary prevention)" in html
    assert "stent 2024" not in html  # the prescriber's note is internal
    assert "Prescriber declined" not in html


def test_today_next_done_and_no_internal_fields(client, surgery, surgeon, nurse, sign_in):
    approve(surgery, surgeon, "clopidogrel")
    with time_machine.travel(aware("2026-03-03T10:00"), tick=False):
        item_complete(item=item(surgery, "hemoglobin"), by=nurse, result="13.1")
        html = sign_in(client, surgery.patient).content.decode()
    today, upcoming, done = section(html, "today"), section(html, "next"), section(html, "done")
    overdue = section(html, "overdue")
    # Its last dose was due on an earlier day and it is not confirmed yet: overdue, not "today".
    assert "Stop Clopidogrel" in overdue and "Stop Clopidogrel" not in today
    assert "Was due" in overdue and "Overdue" in overdue
    assert "Stop eating" in upcoming and "Arriving on the day" in upcoming
    assert "hemoglobin" in done.lower()
    assert "13.1" not in html  # results are for staff
    for it in ChecklistItem.objects.filter(checklist__surgery=surgery):
        assert it.reason not in html
        assert it.source not in html
    assert "MRN-CARMEN" not in html


def test_spanish_patient_sees_spanish_dates_and_texts(client, surgery, sign_in):
    from actions.patients import patient_update

    patient_update(patient=surgery.patient, by=None, language="es")
    with time_machine.travel(aware("2026-03-03T10:00"), tick=False):
        response = sign_in(client, surgery.patient)
    html = response.content.decode()
    assert response["Content-Language"] == "es"
    assert 'lang="es"' in html
    assert "Mi preparación" in html
    assert "Última comida sólida:</dt> <dd>lunes 9 de marzo, 02:00" in html
    assert "lunes 9 de marzo de 2026" in html
    assert "Deje de comer" in html  # catalogue text in Spanish
    assert "La clínica le confirmará qué hacer con Clopidogrel" in html


def test_language_switch_is_kept_for_the_session_and_on_the_patient(client, surgery, sign_in):
    with time_machine.travel(aware("2026-03-03T10:00"), tick=False):
        sign_in(client, surgery.patient)
        switched = client.post("/p/language/", {"language": "es", "next": "/p/me/messages/"})
        assert switched["Location"] == "/p/me/messages/"
        assert "Mis mensajes" in client.get("/p/me/messages/").content.decode()
        surgery.patient.refresh_from_db()
        assert surgery.patient.language == "es"
        assert surgery.patient.history.first().history_change_reason.startswith("Language changed")
        # An outside "next" is ignored.
        assert client.post("/p/language/", {"language": "en", "next": "https://evil.test/"})["Location"] == "/p/me/"
        # So is a path that starts inside the portal but resolves outside it (found by the fuzz test).
        for outside in ("/p/../admin/", "/p/%2e%2e/admin/", "/p/me/./../../admin/", "/p/\\evil.test/"):
            assert client.post("/p/language/", {"language": "en", "next": outside})["Location"] == "/p/me/", outside
        assert client.post("/p/language/", {"language": "en", "next": "/p/me/?x=1"})["Location"] == "/p/me/?x=1"
        assert "My preparation" in client.get("/p/me/").content.decode()


def test_confirm_ride_for_arrival(client, surgery, sign_in):
    arrival = item(surgery, "arrival")
    with time_machine.travel(aware("2026-03-08T10:00"), tick=False):
        html = sign_in(client, surgery.patient).content.decode()
        url = f"/p/me/items/{arrival.uuid}/confirm/"
        assert url in html
        page = client.get(url)
        assert "I have arranged for an adult to take me home" in page.content.decode()
        missing = client.post(url, {})
        assert missing.status_code == 200 and "This field is required" in missing.content.decode()
        arrival.refresh_from_db()
        assert arrival.status == ItemStatus.OPEN
        done = client.post(url, {"ride_arranged": "on"})
        assert done.status_code == 302
        html = client.get("/p/me/").content.decode()
    arrival.refresh_from_db()
    assert arrival.status == ItemStatus.PATIENT_CONFIRMED
    assert arrival.evidence == {"kind": "ride", "ride_arranged": True, "via": "portal"}
    assert "Thank you. The clinic will check your confirmation." in html
    assert "You confirmed this" in section(html, "done")
    assert url not in html  # cannot be confirmed twice


def test_confirm_hold_with_the_date_of_the_last_dose(client, surgery, surgeon, sign_in):
    approve(surgery, surgeon, "clopidogrel")
    hold = item(surgery, "hold:clopidogrel")
    url = f"/p/me/items/{hold.uuid}/confirm/"
    with time_machine.travel(aware("2026-03-03T10:00"), tick=False):
        sign_in(client, surgery.patient)
        future = client.post(url, {"last_dose_date": "2026-03-04"})
        assert "cannot be in the future" in future.content.decode()
        garbage = client.post(url, {"last_dose_date": "yesterday"})
        assert garbage.status_code == 200 and "Enter a valid date" in garbage.content.decode()
        hold.refresh_from_db()
        assert hold.status == ItemStatus.OPEN and hold.evidence == {}
        assert client.post(url, {"last_dose_date": "2026-03-02"}).status_code == 302
    hold.refresh_from_db()
    assert hold.status == ItemStatus.PATIENT_CONFIRMED
    assert hold.evidence["last_dose_date"] == "2026-03-02"
    assert hold.evidence["later_than_planned"] is False


def test_confirm_last_meal_time_in_patient_zone(client, surgery, sign_in):
    fasting = item(surgery, "fasting_solids")
    url = f"/p/me/items/{fasting.uuid}/confirm/"
    with time_machine.travel(aware("2026-03-09T05:30"), tick=False):
        sign_in(client, surgery.patient)
        assert "When did you last eat?" in client.get(url).content.decode()
        future = client.post(url, {"at": "2026-03-09T07:00"})
        assert "in the future" in future.content.decode()
        assert client.post(url, {"at": "2026-03-09T01:15"}).status_code == 302
    fasting.refresh_from_db()
    assert fasting.evidence["last_meal_at"] == "2026-03-09T08:15:00+00:00"  # 01:15 PDT
    assert fasting.evidence["kind"] == "last_meal"
    assert fasting.evidence["later_than_planned"] is False  # before the 02:00 cut-off


def test_late_meal_is_flagged_and_fasting_cannot_be_confirmed_days_ahead(client, surgery, sign_in):
    fasting = item(surgery, "fasting_solids")
    url = f"/p/me/items/{fasting.uuid}/confirm/"
    with time_machine.travel(aware("2026-03-05T10:00"), tick=False):
        html = sign_in(client, surgery.patient).content.decode()
        assert url not in html
        assert client.post(url, {"at": "2026-03-05T09:00"})["Location"] == "/p/me/"
    fasting.refresh_from_db()
    assert fasting.status == ItemStatus.OPEN
    with time_machine.travel(aware("2026-03-09T05:30"), tick=False):
        client.post("/p/out/")
        sign_in(client, surgery.patient)
        assert client.post(url, {"at": "2026-03-09T04:00"}).status_code == 302
    fasting.refresh_from_db()
    assert fasting.evidence["later_than_planned"] is True


def test_locked_and_staff_items_cannot_be_confirmed(client, surgery, sign_in):
    locked = item(surgery, "hold:clopidogrel")
    nurse_item = item(surgery, "blood_group")
    with time_machine.travel(aware("2026-03-03T10:00"), tick=False):
        sign_in(client, surgery.patient)
        for it in (locked, nurse_item):
            response = client.post(f"/p/me/items/{it.uuid}/confirm/", {"done": "on", "last_dose_date": "2026-03-02"})
            assert response.status_code == 302 and response["Location"] == "/p/me/"
            it.refresh_from_db()
            assert it.status == ItemStatus.OPEN


def test_other_patients_item_is_404_without_data(client, surgery, other_surgery, sign_in):
    theirs = item(other_surgery, "arrival")
    with time_machine.travel(aware("2026-03-03T10:00"), tick=False):
        sign_in(client, surgery.patient)
        for method in (client.get, client.post):
            response = method(f"/p/me/items/{theirs.uuid}/confirm/", {"ride_arranged": "on"})
            assert response.status_code == 404
            assert "no-store" in response["Cache-Control"]
            body = response.content.decode()
            for text in ("Oscar", "Otherington", "MRN-OSCAR", "oscar@example.org"):
                assert text not in body
        assert client.get("/p/me/items/not-a-uuid/confirm/").status_code == 404
        pages = [client.get(u).content.decode() for u in ("/p/me/", "/p/me/messages/", "/p/me/calendar.ics")]
    theirs.refresh_from_db()
    assert theirs.status == ItemStatus.OPEN
    for body in pages:
        assert "Otherington" not in body and "MRN-OSCAR" not in body and str(theirs.uuid) not in body


@pytest.mark.parametrize(
    "url", ["/", "/admin/", "/admin/patients/patient/", "/api/v1/patients/", "/audit/", "/fhir/", "/reminders/"]
)
def test_patient_session_cannot_reach_staff_pages(client, surgery, other_surgery, sign_in, url):
    with time_machine.travel(aware("2026-03-03T10:00"), tick=False):
        sign_in(client, surgery.patient)
        response = client.get(url)
    assert response.status_code in (302, 401, 403, 404), (url, response.status_code)
    if response.status_code == 302:
        assert "login" in response["Location"]
    body = response.content.decode()
    for patient in (surgery.patient, other_surgery.patient):
        for text in (patient.last_name, patient.mrn, patient.email):
            assert text not in body


def test_preparation_page_query_count(client, surgery, surgeon, sign_in, django_assert_max_num_queries):
    approve(surgery, surgeon, "clopidogrel")
    with time_machine.travel(aware("2026-03-03T10:00"), tick=False):
        sign_in(client, surgery.patient)
        with django_assert_max_num_queries(12):
            assert client.get("/p/me/").status_code == 200


def test_no_booking(client, book, sign_in):
    from actions.booking import surgery_cancel

    with time_machine.travel(BOOKED_ON, tick=False):
        s = book("lumbar-facet-rf", SURGERY, first_name="Nadia")
        surgery_cancel(surgery=s, by=None, reason="patient request")
        html = sign_in(client, s.patient).content.decode()
    assert "You have no procedure booked" in html
