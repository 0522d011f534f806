"""Issue 22 in Chromium: a nurse books a 7-year-old with her Spanish-speaking mother; the mother gets the
sign-in link (at the real SMTP stand-in), signs in on a 375 px phone with her child's date of birth and
her own year of birth, reads "su hijo/hija" and confirms the fasting item; the child's own email and
mobile receive nothing (neither the link nor the reminders)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import PASSWORD
from tests.reminders.conftest import providers, sms_server, smtp_server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Selective dorsal rhizotomy: open spinal surgery under general anaesthesia, mostly for children.
PROCEDURE = "sdr"
PHONE = {"width": 375, "height": 812}
TODAY = dt.datetime.now(tz=dt.UTC).date()
CHILD_BIRTH = TODAY.replace(year=TODAY.year - 7, day=3)
CHILD_EMAIL = "sofia.kid@example.org"
CHILD_MOBILE = "+13105550166"
MOTHER_EMAIL = "carmen.ruiz@example.org"
MOTHER_MOBILE = "+13105550167"


@pytest.fixture(autouse=True)
def portal_translations():
    from core.management.commands.compile_translations import compile_all

    compile_all()


def test_a_mother_prepares_her_child(live_server, page, catalogue, clinic, nurse, providers, settings):  # noqa: F811
    from playwright.sync_api import expect

    from devtools.outbox import open_all_hours
    from patients.models import Surgery
    from prep.models import ChecklistItem, ItemStatus
    from reminders.services import reminders_run_once

    open_all_hours(clinic)  # the reminders due at booking go now, whatever the hour of the run
    base = live_server.url
    settings.PUBLIC_BASE_URL = base  # the links in the messages point at this server

    # 1. The nurse books Sofia, 7, with her mother Carmen (Spanish, email and texts).
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email address").fill(nurse.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/book/")
    patient = page.locator("section[aria-labelledby='new-heading']")
    patient.get_by_label("Medical record number (MRN)").fill("MRN-SOFIA")
    patient.get_by_label("First name").fill("Sofia")
    patient.get_by_label("Last name").fill("Ruiz")
    patient.get_by_label("Date of birth").fill(CHILD_BIRTH.isoformat())
    patient.get_by_label("Email address").fill(CHILD_EMAIL)
    patient.get_by_label("Mobile number").fill(CHILD_MOBILE)
    guardian = page.locator("section[aria-labelledby='guardian-heading']")
    guardian.get_by_label("First name").fill("Carmen")
    guardian.get_by_label("Last name").fill("Ruiz")
    guardian.get_by_label("Relationship to the patient").select_option("mother")
    guardian.get_by_label("Their own year of birth").fill("1990")
    guardian.get_by_label("Language").select_option("es")
    guardian.get_by_label("Email address").fill(MOTHER_EMAIL)
    guardian.get_by_label("Mobile number").fill(MOTHER_MOBILE)
    guardian.get_by_label("Reminders by text message (SMS)").check()
    guardian.get_by_label("Agrees to receive text messages").check()
    # Tomorrow, 20 hours from now: the fasting item can be confirmed from the evening before.
    start = (timezone.now() + dt.timedelta(hours=20)).astimezone(clinic.tz).replace(minute=0)
    surgery_form = page.locator("section[aria-labelledby='surgery-heading']")
    surgery_form.get_by_label("Procedure").select_option(PROCEDURE)
    surgery_form.get_by_label("Date").fill(start.date().isoformat())
    surgery_form.get_by_label("Time").fill(start.strftime("%H:%M"))
    page.get_by_role("button", name="Book the surgery").click()
    expect(page.get_by_text("Surgery booked for Sofia Ruiz.")).to_be_visible()
    surgery = Surgery.objects.get(patient__mrn="MRN-SOFIA")
    solids_due = ChecklistItem.objects.get(checklist__surgery=surgery, code="fasting_solids").due_at
    last_food = solids_due.astimezone(clinic.tz).strftime("%H:%M")
    mother = surgery.patient.guardians.get()
    assert (mother.language, mother.is_primary) == ("es", True)
    panel = page.get_by_test_id("guardians")
    expect(panel).to_contain_text("Carmen Ruiz")
    screenshot(page, "guardian-staff-panel")

    # 2. The nurse sends the sign-in link to the mother, by email.
    panel.get_by_role("button", name="By email to Carmen Ruiz").click()
    expect(page.get_by_text("Sign-in link sent to Carmen Ruiz by email.")).to_be_visible()
    (signin,) = [m for m in providers.smtp.messages if "Reminder-Id" not in m]
    assert signin["To"] == MOTHER_EMAIL and "su hijo/hija" in signin["Subject"]
    link = re.search(r"https?://\S+/p/in/[A-Za-z0-9_-]+", signin.get_body(("plain",)).get_content()).group(0)

    # The reminders due at booking go to the mother too.
    counts = reminders_run_once()
    assert counts.sent >= 2 and counts.failed == 0
    assert {m["To"] for m in providers.smtp.messages} == {MOTHER_EMAIL}
    assert {m["to"] for m in providers.sms.messages} == {MOTHER_MOBILE}
    for message in providers.sms.messages:
        assert "su hijo/hija" in message["body"] and "Sofia" not in message["body"], message["body"]

    # 3. The mother opens it on her phone: her child's date of birth and her own year of birth.
    mother_context = page.context.browser.new_context(viewport=PHONE, locale="es-US")
    try:
        phone = mother_context.new_page()
        phone.set_default_timeout(10_000)
        phone.goto(link)
        expect(phone).to_have_url(re.compile(r"/p/in/verify$"))
        expect(phone.get_by_text("La fecha de nacimiento de su hijo/hija", exact=True)).to_be_visible()
        assert_accessible(phone, "portal:verify (guardian)")
        phone.get_by_label("Día").fill(str(CHILD_BIRTH.day))
        phone.get_by_label("Mes").select_option(str(CHILD_BIRTH.month))
        phone.get_by_label("Año", exact=True).fill(str(CHILD_BIRTH.year))
        phone.get_by_label("Su propio año de nacimiento").fill("1990")
        screenshot(phone, "guardian-verify-375")
        phone.get_by_role("button", name="Continuar").click()
        expect(phone).to_have_url(re.compile(r"/p/me/$"))

        # 4. Written for her, about her child.
        expect(phone.get_by_role("heading", name="Hola, Carmen")).to_be_visible()
        expect(phone.get_by_test_id("for-whom")).to_contain_text("Esta página trata de su hijo/hija, Sofia.")
        expect(phone.get_by_role("heading", name="El procedimiento de Sofia", exact=True)).to_be_visible()
        assert "La preparación de su hijo/hija" in phone.title()
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert_accessible(phone, "portal:me (guardian)")
        screenshot(phone, "guardian-portal-375")

        # 5. She confirms the fasting item for her child.
        # The catalogue's parent wording, with the child's name and the time on the clinic's clock.
        fasting = phone.locator("article", has_text="Deje de darle comida a Sofia")
        expect(fasting).to_contain_text(f"No le dé comida a Sofia después de {last_food}")
        fasting.get_by_role("link", name="Confirmar que está hecho").click()
        expect(phone.get_by_text("Usted lo confirma por Sofia.")).to_be_visible()
        last_meal = (timezone.now() - dt.timedelta(hours=1)).astimezone(clinic.tz)
        phone.get_by_label("¿Cuándo comió Sofia por última vez?").fill(last_meal.strftime("%Y-%m-%dT%H:%M"))
        assert_accessible(phone, "portal:item_confirm (guardian)")
        phone.get_by_role("button", name="Enviar mi confirmación").click()
        expect(phone.get_by_text("Gracias. La clínica revisará su confirmación.")).to_be_visible()
    finally:
        mother_context.close()

    item = ChecklistItem.objects.get(checklist__surgery=surgery, code="fasting_solids")
    assert item.status == ItemStatus.PATIENT_CONFIRMED
    assert (item.evidence["by"], item.evidence["guardian_name"]) == ("guardian", "Carmen Ruiz")
    assert item.history.first().history_change_reason == "Confirmed by Carmen Ruiz (mother) for the patient"

    # 6. Nothing, ever, to the child's own email or mobile.
    assert CHILD_EMAIL not in {m["To"] for m in providers.smtp.messages}
    assert CHILD_MOBILE not in {m["to"] for m in providers.sms.messages}
