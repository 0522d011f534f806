"""Every staff and portal page in Chromium, checked with axe-core (WCAG 2.2 AA): 0 serious or critical.

Each page is also checked for Content-Security-Policy violations in the console. Pages with
errors (a rejected booking, a refused date of birth) are checked in that state too, since the
error summary and the marked fields are what a screen-reader user meets there.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from tests.e2e.conftest import assert_accessible
from tests.factories import PASSWORD, in_days

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Every HTML page a person opens. Left out, with the reason: POST-only actions (they redirect),
# the calendar file, the Twilio webhooks, the API and FHIR, the Django admin (Django's own pages).
STAFF_PAGES = {
    "accounts:login",
    "accounts:two_factor_verify",
    "accounts:two_factor_setup",
    "workspace:board",
    "workspace:worklist",
    "workspace:book",
    "workspace:patient",
    "workspace:patient_edit",
    "workspace:medication_add",
    "workspace:medication_stop",
    "workspace:guardian_add",
    "workspace:guardian_edit",
    "workspace:surgery",
    "workspace:surgery_print",
    "workspace:surgery_edit",
    "workspace:surgery_cancel",
    "workspace:item_history",
    "workspace:inbox",
    "workspace:inbox_message",
    "workspace:questionnaire",
    "reminders:outbox",
    "audit:access_log",
    "workspace:dashboard",
}
PORTAL_PAGES = {
    "portal:start",
    "portal:sent",
    "portal:verify",
    "portal:me",
    "portal:item_confirm",
    "portal:messages",
    "portal:questionnaire",
    "portal:questionnaire_section",
    "reminders:unsubscribe",
}
NOT_PAGES = {
    "accounts:logout",
    "workspace:go_decision",
    "workspace:note_add",
    "workspace:item_complete",
    "workspace:item_not_applicable",
    "workspace:item_undo",
    "workspace:item_accept",
    "workspace:hold_decide",
    "workspace:document_upload",
    "workspace:document_download",  # a PDF or image, not a page
    "workspace:inbox_dismiss",
    "workspace:inbox_match",
    "workspace:inbox_complete",
    "portal:link_open",
    "portal:sign_out",
    "portal:language",
    "portal:calendar",
    "portal:sms_stop",
    "portal:staff_send",
    "portal:questionnaire_send",
    "reminders:twilio-status",
    "reminders:twilio-inbound",
    "reminders:metrics",  # Prometheus text for a scraper, not a page
    "workspace:dashboard_csv",  # a CSV file
    "workspace:dashboard_css",  # the charts' stylesheet
}


@pytest.fixture(autouse=True)
def portal_translations():
    from core.management.commands.compile_translations import compile_all

    compile_all()


@pytest.fixture
def world(book, nurse, surgeon, clinic_admin):
    from actions import items as item_actions
    from actions.patients import patient_create

    surgery = book(
        "trigeminal-rf",
        in_days(4),
        medications=["clopidogrel"],
        first_name="Rosa",
        last_name="Ramirez",
        birth_date=dt.date(1957, 4, 18),
        email="rosa@example.org",
        cardiac_history=True,
    )
    surgery.surgeon = surgeon
    surgery.save(update_fields=["surgeon"])
    book("lumbar-facet-rf", in_days(2), first_name="Kenji", last_name="Watanabe")
    items = surgery.checklist.items
    item_actions.item_complete(item=items.get(code="blood_group"), by=nurse, result="A+")
    # A child with her mother, for the guardian pages (issue 22).
    from actions.patients import guardian_add

    child = patient_create(
        clinic=surgery.clinic,
        by=nurse,
        mrn="MRN-CHILD",
        first_name="Maria",
        last_name="Lopez",
        birth_date=dt.date(2019, 6, 2),
    )
    mother = guardian_add(
        patient=child,
        by=nurse,
        first_name="Ana",
        last_name="Lopez",
        relationship="mother",
        birth_year=1990,
        language="es",
        email="ana.lopez@example.org",
    )
    lone = patient_create(
        clinic=surgery.clinic,
        by=nurse,
        mrn="MRN-LONE",
        first_name="Lone",
        last_name="Lee",
        birth_date=dt.date(1970, 1, 2),
    )
    # A lab result waiting for review (an unknown patient), for the review queue's pages.
    from inbox import services as inbox_services
    from tests.inbox.helpers import hemoglobin

    receipt = inbox_services.hl7_receive(
        clinic=surgery.clinic, raw=hemoglobin(control="AXE-1", mrn="MRN-TYPO"), enqueue=lambda _id: None
    )
    message = inbox_services.message_process(message_id=receipt.message.pk)
    return {
        "surgery": surgery,
        "patient": surgery.patient,
        "lone": lone,
        "inbox_message": message,
        "child": child,
        "mother": mother,
    }


def _sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_staff_pages_meet_wcag_22_aa(live_server, page, world, nurse, surgeon):
    from playwright.sync_api import expect

    base = live_server.url
    surgery, patient = world["surgery"], world["patient"]
    medication = patient.medications.first()
    history_item = surgery.checklist.items.get(code="blood_group")
    seen: set[str] = set()

    def check(name: str, path: str | None = None) -> None:
        if path is not None:
            page.goto(base + path)
        assert_accessible(page, name)
        seen.add(name)

    page.goto(f"{base}/accounts/login/")
    check("accounts:login")
    _sign_in(page, base, nurse.email)
    expect(page.get_by_role("heading", name="Upcoming surgeries")).to_be_visible()
    check("workspace:board")
    check("workspace:board", "/?decision=needed&readiness=not_ready")
    check("workspace:worklist", "/worklist/")
    check("workspace:book", "/book/")
    # A rejected booking: error summary, marked fields, the focus moved to the summary.
    page.get_by_role("button", name="Book the surgery").click()
    expect(page.locator("[data-error-summary]")).to_be_focused()
    check("workspace:book")
    check("workspace:book", f"/book/?q={patient.last_name[:3]}")
    check("workspace:patient", f"/patients/{world['lone'].uuid}/")
    check("workspace:patient_edit", f"/patients/{patient.uuid}/edit/")
    check("workspace:medication_add", f"/patients/{patient.uuid}/medications/add/")
    check("workspace:medication_stop", f"/patients/{patient.uuid}/medications/{medication.uuid}/stop/")
    child = world["child"]
    check("workspace:patient", f"/patients/{child.uuid}/")
    check("workspace:guardian_add", f"/patients/{child.uuid}/guardians/add/")
    # A guardian refused (a year of birth after the child's): the error summary on the guardian form.
    page.get_by_label("First name").fill("Luis")
    page.get_by_label("Last name").fill("Lopez")
    page.get_by_label("Relationship to the patient").select_option("father")
    page.get_by_label("Their own year of birth").fill("2020")
    page.get_by_label("Email address").fill("luis@example.org")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-error-summary]")).to_be_focused()
    check("workspace:guardian_add")
    check("workspace:guardian_edit", f"/patients/{child.uuid}/guardians/{world['mother'].uuid}/edit/")
    check("workspace:surgery", f"/surgeries/{surgery.uuid}/")
    check("workspace:surgery_print", f"/surgeries/{surgery.uuid}/print/")
    check("workspace:surgery_edit", f"/surgeries/{surgery.uuid}/edit/")
    check("workspace:surgery_cancel", f"/surgeries/{surgery.uuid}/cancel/")
    check("workspace:item_history", f"/items/{history_item.uuid}/history/")
    check("workspace:inbox", "/inbox/")
    check("workspace:inbox_message", f"/inbox/{world['inbox_message'].uuid}/")
    check("workspace:questionnaire", f"/surgeries/{surgery.uuid}/questionnaire/")

    # The surgeon's view of the patient page (decision forms) and worklist.
    page.get_by_role("button", name="Log out").click()
    _sign_in(page, base, surgeon.email)
    expect(page.get_by_role("heading", name="Decisions waiting for you")).to_be_visible()
    check("workspace:worklist")
    check("workspace:surgery", f"/surgeries/{surgery.uuid}/")
    page.get_by_role("button", name="Log out").click()
    assert seen >= STAFF_PAGES - {
        "accounts:two_factor_verify",
        "accounts:two_factor_setup",
        "reminders:outbox",
        "audit:access_log",
        "workspace:dashboard",
    }


def test_admin_and_two_factor_pages_meet_wcag_22_aa(live_server, page, world, clinic_admin):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from playwright.sync_api import expect

    base = live_server.url
    from django_otp.plugins.otp_email.models import EmailDevice

    _sign_in(page, base, clinic_admin.email)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/setup/"))
    # First the one-time code emailed to the account (issue 14), then the authenticator app.
    assert_accessible(page, "accounts:two_factor_setup (emailed code)")
    page.get_by_label(re.compile("Six-digit code")).fill(EmailDevice.objects.get(user=clinic_admin).token)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".qr")).to_be_visible()
    assert_accessible(page, "accounts:two_factor_setup")
    device = TOTPDevice.objects.get(user=clinic_admin)
    page.get_by_label(re.compile("Six-digit code")).fill(
        f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}"
    )
    page.get_by_role("button", name=re.compile("Confirm|Turn on|Verify|Continue")).click()
    page.wait_for_load_state("load")
    for name, path in (
        ("reminders:outbox", "/reminders/outbox/"),
        ("audit:access_log", "/audit/"),
        ("workspace:dashboard", "/dashboard/"),
    ):
        page.goto(base + path)
        expect(page.get_by_role("heading").first).to_be_visible()
        assert_accessible(page, name)
    page.get_by_role("button", name="Log out").click()
    _sign_in(page, base, clinic_admin.email)
    expect(page).to_have_url(re.compile(r"/accounts/2fa/"))
    assert_accessible(page, "accounts:two_factor_verify")


def test_portal_pages_meet_wcag_22_aa_at_phone_width(live_server, page, world):
    from playwright.sync_api import expect

    from portal.services import signin_link_create

    base = live_server.url
    patient = world["patient"]
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"{base}/p/")
    assert_accessible(page, "portal:start")
    page.get_by_label("Your email address or mobile number").fill("rosa@example.org")
    page.get_by_role("button").filter(has_text=re.compile("link", re.I)).first.click()
    expect(page).to_have_url(re.compile(r"/p/sent/"))
    assert_accessible(page, "portal:sent")

    _link, token = signin_link_create(patient=patient, channel="email", by=None)
    page.goto(f"{base}/p/in/{token}")
    expect(page).to_have_url(re.compile(r"/p/in/verify$"))
    assert_accessible(page, "portal:verify")
    page.get_by_label("Day").fill("31")
    page.get_by_label("Month").select_option("2")
    page.get_by_label("Year").fill("1957")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("[data-error-summary]")).to_be_focused()
    assert_accessible(page, "portal:verify (error)")
    page.get_by_label("Day").fill("18")
    page.get_by_label("Month").select_option("4")
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/p/me/$"))
    assert_accessible(page, "portal:me")
    page.get_by_role("link", name="Confirm I did this").first.click()
    expect(page).to_have_url(re.compile(r"/p/me/items/"))
    assert_accessible(page, "portal:item_confirm")
    page.get_by_role("button").filter(has_text=re.compile("Confirm|Send|Save", re.I)).first.click()
    expect(page.locator("[data-error-summary]")).to_be_focused()
    assert_accessible(page, "portal:item_confirm (error)")
    page.goto(f"{base}/p/me/messages/")
    assert_accessible(page, "portal:messages")
    page.goto(f"{base}/p/me/health/")
    assert_accessible(page, "portal:questionnaire")
    page.goto(f"{base}/p/me/health/conditions/")
    assert_accessible(page, "portal:questionnaire_section")
    page.get_by_test_id("save-next").click()
    assert_accessible(page, "portal:questionnaire_section (error)")
    # The page an email's unsubscribe link opens (a button; only its POST unsubscribes).
    from reminders.messages import unsubscribe_token

    page.goto(f"{base}/reminders/unsubscribe/{unsubscribe_token('axe-walk-reference')}/")
    assert_accessible(page, "reminders:unsubscribe")
    # A used link's page, in English, with the clinic's number.
    page.goto(f"{base}/p/in/{token}")
    assert_accessible(page, "portal:verify (used link)")
    expect(page.get_by_test_id("clinic-phone")).to_have_text("(310) 555-0100")
