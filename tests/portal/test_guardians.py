"""The portal for a parent or guardian (issue 22): the link goes to the guardian, never to the child;
signing in asks the child's date of birth and the guardian's own year of birth (three tries); the
pages speak to the parent about the child; a confirmation and the access log name the guardian."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ValidationError

from audit.models import AccessLog
from patients.models import Guardian
from portal import services
from portal.models import SignInLink
from portal.selectors import portal_item_view
from prep.models import ChecklistItem, ItemStatus
from tests.conftest import CHILD_EMAIL, CHILD_MOBILE, FATHER, MOTHER
from tests.portal.conftest import dob_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def maria(book_child):
    return book_child(guardians=(MOTHER, FATHER)).patient


@pytest.fixture
def mother(maria):
    return Guardian.objects.get(patient=maria, first_name="Ana")


def link_in(message) -> str:
    return re.search(r"/p/in/([A-Za-z0-9_-]+)", message.body).group(1)


def guardian_sign_in(client, patient, guardian, *, token: str | None = None):
    if token is None:
        _link, token = services.signin_link_create(patient=patient, channel="email", by=None, guardian=guardian)
    assert client.get(f"/p/in/{token}").status_code == 302
    data = {**dob_data(patient.birth_date), "guardian_year": str(guardian.birth_year)}
    done = client.post("/p/in/verify", data)
    assert done.status_code == 302 and done["Location"] == "/p/me/", done.content[:800]
    return client.get("/p/me/")


def test_staff_cannot_send_the_child_a_link_and_the_guardian_gets_it_in_her_language(maria, mother, nurse):
    with pytest.raises(ValidationError, match="under 18: send the link to a parent or guardian"):
        services.signin_link_send(patient=maria, channel="email", by=nurse)
    services.signin_link_send(patient=maria, channel="email", by=nurse, guardian=mother)
    (message,) = mail.outbox
    assert message.to == [MOTHER["email"]]
    assert "su hijo/hija" in message.subject and "Maria" not in message.subject
    assert message.body.startswith("Hola, Ana") and "su propio año de nacimiento" in message.body
    link = SignInLink.objects.get()
    assert link.guardian_id == mother.pk and link.patient_id == maria.pk


def test_asking_by_contact_finds_the_guardian_and_sends_the_child_nothing(client, maria, mother):
    client.post("/p/", {"contact": MOTHER["email"]})
    client.post("/p/", {"contact": CHILD_EMAIL})
    client.post("/p/", {"contact": CHILD_MOBILE})
    assert [m.to for m in mail.outbox] == [[MOTHER["email"]]]
    assert SignInLink.objects.filter(patient=maria).count() == 1
    assert SignInLink.objects.get().guardian_id == mother.pk


def test_guardian_signs_in_with_the_childs_birth_date_and_her_own_year(client, maria, mother):
    page = guardian_sign_in(client, maria, mother)
    html = page.content.decode()
    # Spanish, her language, written for a parent about the child.
    assert page["Content-Language"] == "es"
    assert "La preparación de su hijo/hija" in html
    assert "Hola, Ana" in html and "La preparación de Maria" in html and "su hijo/hija, Maria" in html
    assert "El procedimiento de Maria" in html
    session = client.session
    assert session["portal:guardian_id"] == mother.pk and session["portal:patient_id"] == maria.pk
    row = AccessLog.objects.filter(action__endswith="portal:me").latest("at")
    assert row.role == "guardian" and row.guardian_id == mother.pk and row.patient_id == maria.pk


def test_the_verify_page_asks_the_guardian_for_both(client, maria, mother):
    _link, token = services.signin_link_create(patient=maria, channel="email", by=None, guardian=mother)
    client.get(f"/p/in/{token}")
    html = client.get("/p/in/verify").content.decode()
    assert "La fecha de nacimiento de su hijo/hija" in html and "Su propio año de nacimiento" in html


@pytest.mark.parametrize("wrong", ["child_date", "own_year"])
def test_three_wrong_answers_lock_the_guardians_link(client, maria, mother, wrong):
    _link, token = services.signin_link_create(patient=maria, channel="email", by=None, guardian=mother)
    client.get(f"/p/in/{token}")
    good = {**dob_data(maria.birth_date), "guardian_year": str(mother.birth_year)}
    bad = dict(good)
    if wrong == "child_date":
        bad.update(dob_data(maria.birth_date + dt.timedelta(days=1)))
    else:
        bad["guardian_year"] = str(mother.birth_year + 1)
    first = client.post("/p/in/verify", bad)
    # Never which answer was wrong.
    assert "Estos datos no coinciden" in first.content.decode() and first.status_code == 200
    client.post("/p/in/verify", bad)
    locked = client.post("/p/in/verify", bad)
    assert locked.status_code == 403
    assert SignInLink.objects.get().locked_at is not None
    client.get(f"/p/in/{token}")
    again = client.post("/p/in/verify", good)
    assert again.status_code != 302 and "portal:guardian_id" not in client.session


def test_a_patients_own_link_made_before_a_guardian_was_needed_does_not_sign_in(client, book, nurse):
    from actions.patients import guardian_add, patient_update

    patient = book(birth_date=dt.date(1990, 1, 1), email="adult@example.org").patient
    _link, token = services.signin_link_create(patient=patient, channel="email", by=None)
    guardian_add(patient=patient, by=nurse, **{**FATHER, "relationship": "legal_guardian"})
    patient_update(patient=patient, by=nurse, needs_guardian=True)
    client.get(f"/p/in/{token}")
    # The page says the link no longer works (with the clinic's number), rather than asking for a date.
    page = client.get("/p/in/verify")
    assert page.status_code == 410 and 'name="day"' not in page.content.decode()
    response = client.post("/p/in/verify", dob_data(patient.birth_date))
    assert response.status_code == 410 and "portal:patient_id" not in client.session


def test_a_guardian_confirms_for_the_child_and_the_record_says_who(client, maria, mother):
    guardian_sign_in(client, maria, mother)
    item = ChecklistItem.objects.get(checklist__surgery__patient=maria, code="arrival")
    page = client.get(f"/p/me/items/{item.uuid}/confirm/").content.decode()
    assert "Usted lo confirma por Maria" in page
    response = client.post(f"/p/me/items/{item.uuid}/confirm/", {"ride_arranged": "on", "done": "on"})
    assert response.status_code == 302, response.content[:500]
    item.refresh_from_db()
    assert item.status == ItemStatus.PATIENT_CONFIRMED
    assert item.evidence["by"] == "guardian" and item.evidence["guardian"] == str(mother.uuid)
    assert item.evidence["guardian_name"] == "Ana Garcia" and item.evidence["relationship"] == "mother"
    assert item.history.first().history_change_reason == "Confirmed by Ana Garcia (mother) for the patient"
    log = AccessLog.objects.filter(action__contains="item_confirm", guardian=mother)
    assert log.exists() and {r.role for r in log} == {"guardian"}


def test_a_guardians_message_choices_and_language_are_her_own(client, maria, mother):
    guardian_sign_in(client, maria, mother)
    client.post("/p/me/messages/", {"email": "on"})
    mother.refresh_from_db()
    maria.refresh_from_db()
    assert mother.channel_sms is False and maria.channel_sms is True, "the child's record is not hers to change"
    client.post("/p/me/messages/stop-sms/")
    mother.refresh_from_db()
    assert mother.sms_opted_out_at is not None and maria.sms_opted_out_at is None
    client.post("/p/language/", {"language": "en", "next": "/p/me/"})
    mother.refresh_from_db()
    maria.refresh_from_db()
    assert mother.language == "en" and maria.language == "en"
    html = client.get("/p/me/").content.decode()
    assert "Your child&#x27;s preparation" in html or "Your child's preparation" in html
    assert "Maria&#x27;s procedure" in html or "Maria's procedure" in html


def test_the_guardians_session_ends_when_she_no_longer_receives_messages(client, maria, mother, nurse):
    from actions.patients import guardian_update

    guardian_sign_in(client, maria, mother)
    guardian_update(guardian=mother, by=nurse, receives_messages=False)
    assert client.get("/p/me/").status_code == 302
    assert "portal:guardian_id" not in client.session


def test_on_the_18th_birthday_the_guardians_session_ends_and_the_patient_signs_in(client, book_child):
    la = ZoneInfo("America/Los_Angeles")
    with time_machine.travel(dt.datetime(2026, 2, 2, 10, tzinfo=la), tick=False):
        patient = book_child(birth_date=dt.date(2008, 2, 15), start_at=dt.datetime(2026, 2, 20, 9, tzinfo=la)).patient
        mother = patient.guardians.get()
    with time_machine.travel(dt.datetime(2026, 2, 14, 23, 50, tzinfo=la), tick=False):
        guardian_sign_in(client, patient, mother)
    # Fifteen minutes later (not idle): midnight in her zone, she is 18.
    with time_machine.travel(dt.datetime(2026, 2, 15, 0, 5, tzinfo=la), tick=False):
        assert client.get("/p/me/").status_code == 302, "her guardian's session ended at 18"
        with pytest.raises(ValidationError, match="their own contact now"):
            services.signin_link_send(patient=patient, channel="email", by=None, guardian=mother)
        services.signin_link_send(patient=patient, channel="email", by=None)
    assert mail.outbox[-1].to == [CHILD_EMAIL]


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_texted_link_to_a_guardian_fits_one_text_and_does_not_name_the_child(maria, mother, settings, language):
    from django.utils import translation

    settings.PUBLIC_BASE_URL = "https://preop.westside-spine.org"
    _link, token = services.signin_link_create(patient=maria, channel="sms", by=None, guardian=mother)
    with translation.override(language):
        body = services._sms_body(patient=maria, url=services.signin_url(token), guardian=mother)
    assert len(body) <= services.SMS_MAX_CHARS, body
    assert "Maria" not in body and maria.clinic.name in body
    assert ("your child" if language == "en" else "su hijo/hija") in body


PARENT_TEXTS = (
    "Your own year of birth",
    "Yours, not your child's. For example: 1985",
    "An adult will take %(name)s home",
    "When did %(name)s last eat?",
    "Open this link to see your child's preparation for the procedure:",
    "The link works once and for %(hours)s hours. When you open it, we ask for the patient's date of birth "
    "and for your own year of birth.",
    "This page is about your child, %(name)s.",
    "This page is about %(name)s.",
    "You are signed in as the parent or guardian.",
    "%(name)s has no procedure booked at the moment.",
    "Parents and guardians: use your own email address or mobile number. We ask for your child's date of "
    "birth and your own year of birth.",
    "You sign in for your child. We ask for your child's date of birth and for your own year of birth.",
    "You sign in for the person you care for. We ask for their date of birth and for your own year of birth.",
    "You confirm this for %(name)s.",
)


def test_the_parent_wording_is_grade_8_or_below_and_translated():
    import textstat
    from django.utils import translation

    for text in PARENT_TEXTS:
        filled = text % {"name": "Maria", "hours": 72, "n": 2}
        assert textstat.flesch_kincaid_grade(filled) <= 8, text
        with translation.override("es"):
            spanish = translation.gettext(text)
        assert spanish != text, f"not translated: {text}"
    wrong = ("These details do not match our records. You have %(n)s more try.", "%(n)s more tries.")
    with translation.override("es"):
        assert translation.ngettext(wrong[0], wrong[0].replace("try.", "tries."), 2).startswith("Estos datos")
    assert textstat.flesch_kincaid_grade(wrong[0] % {"n": 2}) <= 8


def test_the_calendar_in_a_parents_calendar_names_the_child(client, maria, mother):
    from icalendar import Calendar

    guardian_sign_in(client, maria, mother)
    response = client.get("/p/me/calendar.ics")
    assert response.status_code == 200
    summaries = [str(e["summary"]) for e in Calendar.from_ical(response.content).walk("VEVENT")]
    assert summaries and all(s.startswith("Maria: ") for s in summaries), summaries


def test_the_mother_reads_the_catalogues_parent_wording_with_the_childs_name_and_time(client, book_child):
    """SDR for a 7-year-old at 08:00: the fasting item speaks to the parent about the child, with the
    time filled in (clinic time), in the mother's language, on the page and on the item's own page."""
    start = dt.datetime(2027, 3, 2, 8, 0, tzinfo=ZoneInfo("America/Los_Angeles"))
    with time_machine.travel(start - dt.timedelta(days=3), tick=False):
        surgery = book_child(procedure="sdr", start_at=start, anaesthesia="general", guardians=(MOTHER,))
        maria = surgery.patient
        mother = Guardian.objects.get(patient=maria)
        html = guardian_sign_in(client, maria, mother).content.decode()
        solids = ChecklistItem.objects.get(checklist__surgery=surgery, code="fasting_solids")
        local = solids.due_at.astimezone(ZoneInfo("America/Los_Angeles")).strftime("%H:%M")
        assert f"No le dé comida a Maria después de {local}" in html
        assert "{first_name}" not in html and "{time}" not in html
        liquids = ChecklistItem.objects.get(checklist__surgery=surgery, code="fasting_clear_liquids")
        view = portal_item_view(item=liquids, patient=maria, language="es")
    local = liquids.due_at.astimezone(ZoneInfo("America/Los_Angeles")).strftime("%H:%M")
    assert view.instructions.startswith(f"Hasta {local}, Maria puede tomar líquidos claros")
    assert "Maria" in view.instructions and "{first_name}" not in view.instructions
