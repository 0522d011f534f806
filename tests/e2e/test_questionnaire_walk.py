"""Issue 20, "Done when" 1: at 375 px a patient fills the health questionnaire in Spanish, stops
halfway, signs in again and finishes; a nurse reconciles it; the checklist gains the semaglutide
decision and the stent alert that the answers imply."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import PASSWORD, in_days

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}


@pytest.fixture(autouse=True)
def portal_translations():
    from core.management.commands.compile_translations import compile_all

    compile_all()


def _portal_sign_in(page, base: str, patient) -> None:
    from playwright.sync_api import expect

    from portal.services import signin_link_create

    _link, token = signin_link_create(patient=patient, channel="email", by=None)
    page.goto(f"{base}/p/in/{token}")
    expect(page).to_have_url(re.compile(r"/p/in/verify$"))
    page.locator("input[name=day]").fill(str(patient.birth_date.day))
    page.locator("select[name=month]").select_option(str(patient.birth_date.month))
    page.locator("input[name=year]").fill(str(patient.birth_date.year))
    page.get_by_role("button", name="Continuar").click()
    expect(page).to_have_url(re.compile(r"/p/me/$"))


def _answer(page, name: str, value: str) -> None:
    page.locator(f"input[name={name}][value={value}]").check()


def _two_months_ago() -> str:
    today = timezone.localdate()
    month = today.month - 2
    year = today.year + (month - 1) // 12
    return f"{year}-{(month - 1) % 12 + 1:02d}"


def test_spanish_questionnaire_stop_come_back_finish_and_reconcile(live_server, page, book, nurse):
    from playwright.sync_api import expect

    from prep.models import ChecklistItem

    base = live_server.url
    surgery = book(
        "trigeminal-rf",  # general anaesthesia: the GLP-1 rule applies, and the ride-home questions are asked
        in_days(12),
        first_name="Lucía",
        last_name="Quintana",
        birth_date=dt.date(1958, 6, 9),
        email="lucia@example.org",
        language="es",
    )
    patient = surgery.patient
    assert not ChecklistItem.objects.filter(checklist__surgery=surgery, code__startswith="hold_approval:").exists()

    # 1. At 375 px, in Spanish: from the checklist item to the first part, the medicines.
    page.set_viewport_size(PHONE)
    _portal_sign_in(page, base, patient)
    page.get_by_role("link", name="Contestar las preguntas de salud").click()
    expect(page).to_have_url(re.compile(r"/p/me/health/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Preguntas de salud antes de su procedimiento")
    page.locator('a[href="/p/me/health/medicines/"]').click()
    page.locator("#id_medicines-0-name").fill("Ozempic")
    page.locator("#id_medicines-0-dose").fill("0,5 mg cada semana")
    page.locator("#id_medicines-1-unknown").check()
    page.locator("#id_medicines-1-description").fill("una pastilla blanca para la presión")
    page.get_by_test_id("save-next").click()
    expect(page).to_have_url(re.compile(r"/p/me/health/allergies/$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # 2. The allergies, then stop halfway.
    _answer(page, "allergy_latex", "no")
    _answer(page, "allergy_contrast", "yes")
    _answer(page, "anaesthesia_problems", "no")
    page.get_by_test_id("save-stop").click()
    expect(page).to_have_url(re.compile(r"/p/me/$"))
    page.get_by_role("button", name="Salir").click()
    expect(page).to_have_url(re.compile(r"/p/$"))

    # 3. Signed in again: two parts saved, the medicine read by the dictionary.
    _portal_sign_in(page, base, patient)
    page.goto(f"{base}/p/me/health/")
    expect(page.get_by_test_id("questionnaire-part").filter(has_text="Guardado")).to_have_count(2)
    page.goto(f"{base}/p/me/health/medicines/")
    expect(page.get_by_test_id("read-as").first).to_contain_text("Semaglutida")
    page.goto(f"{base}/p/me/health/conditions/")
    # Bad input first: a stent month in the future. The answers stay; the summary says what to fix.
    _answer(page, "stent", "drug_eluting")
    page.locator("#id_stent_month").fill("2099-01")
    for name, value in (
        ("heart_valve", "no"),
        ("atrial_fibrillation", "no"),
        ("clot", "no"),
        ("stroke", "no"),
        ("diabetes", "yes"),
        ("kidney_disease", "no"),
        ("sleep_apnoea", "no"),
        ("pregnancy", "not_applicable"),
        ("stairs", "yes"),
    ):
        _answer(page, name, value)
    page.get_by_test_id("save-next").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_contain_text("Este mes está en el futuro")
    expect(page.locator("input[name=stent][value=drug_eluting]")).to_be_checked()
    expect(page.locator("input[name=diabetes][value=yes]")).to_be_checked()
    assert_accessible(page, "portal:questionnaire_section (error)")
    screenshot(page, "questionnaire-error-375")
    page.locator("#id_stent_month").fill(_two_months_ago())
    page.get_by_test_id("save-next").click()
    expect(page).to_have_url(re.compile(r"/p/me/health/practical/$"))
    for name, value in (("escort", "yes"), ("overnight_adult", "yes"), ("interpreter", "no")):
        _answer(page, name, value)
    page.get_by_test_id("save-next").click()
    expect(page).to_have_url(re.compile(r"/p/me/health/$"))
    assert_accessible(page, "portal:questionnaire")
    screenshot(page, "questionnaire-375")
    page.get_by_test_id("questionnaire-send").click()
    expect(page).to_have_url(re.compile(r"/p/me/$"))
    expect(page.get_by_text("Gracias. Sus respuestas fueron enviadas.")).to_be_visible()
    # Nothing the patient said is in the plan yet.
    assert not ChecklistItem.objects.filter(checklist__surgery=surgery, code__startswith="hold_approval:").exists()

    # 4. The nurse reconciles, line by line, on a desktop screen.
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email address").fill(nurse.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/surgeries/{surgery.uuid}/")
    page.get_by_test_id("questionnaire-link").click()
    lines = page.get_by_test_id("reconcile-lines")
    expect(lines).to_contain_text("Ozempic")
    expect(lines).to_contain_text("Semaglutide")
    expect(lines).to_contain_text("drug-coated stent")
    assert_accessible(page, "workspace:questionnaire")
    screenshot(page, "questionnaire-reconcile-desktop")
    for radio in page.locator("input[type=radio][value=accept]").all():
        radio.check()
    page.get_by_test_id("reconcile-save").click()
    expect(page).to_have_url(re.compile(rf"/surgeries/{surgery.uuid}/$"))
    expect(page.locator("#safety-alerts").locator("..")).to_contain_text("drug-eluting stent")
    expect(page.get_by_text(re.compile("semaglutide", re.I)).first).to_be_visible()
    assert ChecklistItem.objects.filter(checklist__surgery=surgery, code__startswith="hold_approval:semaglutide")
    surgery.checklist.refresh_from_db()
    assert any(a["code"] == "recent_stent" for a in surgery.checklist.alerts)
