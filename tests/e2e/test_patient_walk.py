"""A patient's walk through the portal in Chromium, then the nurse accepting the confirmation."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from icalendar import Calendar

from tests.e2e.conftest import screenshot
from tests.factories import PASSWORD, in_days

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}


@pytest.fixture(autouse=True)
def portal_translations():
    from core.management.commands.compile_translations import compile_all

    compile_all()


def test_patient_walk(live_server, page, book, surgeon, nurse):
    from playwright.sync_api import expect

    from actions.decisions import hold_decide
    from portal.services import signin_link_create
    from prep.models import ChecklistItem, ItemStatus

    surgery = book(
        "trigeminal-rf",
        in_days(3),
        medications=["clopidogrel"],
        first_name="Rosa",
        last_name="Ramirez",
        birth_date=dt.date(1957, 4, 18),
        email="rosa@example.org",
    )
    surgery.place = "Westside Surgery Center, 2nd floor"
    surgery.surgeon = surgeon
    surgery.save(update_fields=["place", "surgeon"])
    approval = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold_approval:clopidogrel")
    hold_decide(item=approval, by=surgeon, approve=True)
    hold = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold:clopidogrel")
    _link, token = signin_link_create(patient=surgery.patient, channel="email", by=nurse)

    # 1. Open the link: the token leaves the address bar at once; the date of birth is asked.
    page.set_viewport_size({"width": 320, "height": 640})
    page.goto(f"{live_server.url}/p/in/{token}")
    expect(page).to_have_url(re.compile(r"/p/in/verify$"))
    assert token not in page.url
    assert page.evaluate("document.documentElement.scrollWidth") <= 320  # usable at 320 px
    screenshot(page, "portal-verify-320")
    page.set_viewport_size(PHONE)
    page.get_by_label("Day").fill("18")
    page.get_by_label("Month").select_option("4")
    page.get_by_label("Year").fill("1957")
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/p/me/$"))

    # 2. The clopidogrel hold, approved: its last dose was days ago, so it is overdue (not "today").
    overdue = page.locator("section[aria-labelledby='overdue-h']")
    hold_card = overdue.locator("article", has_text="Stop Clopidogrel before your procedure")
    expect(hold_card).to_be_visible()
    expect(hold_card).to_contain_text("Last dose:")
    expect(hold_card).to_contain_text("Overdue")
    expect(page.get_by_role("heading", name="Your procedure", exact=True)).to_be_visible()
    # Phone first: nothing wider than the screen, touch targets of at least 44 px.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for box in [b.bounding_box() for b in page.locator(".btn-portal, .btn-portal-outline, .portal-nav a").all()]:
        assert box["height"] >= 44, box

    # 3. Confirm it with the date of the last dose.
    hold_card.get_by_role("link", name="Confirm I did this").click()
    last_dose = (timezone.localdate(timezone.now(), surgery.patient.tz) - dt.timedelta(days=1)).isoformat()
    page.get_by_label("Date of your last dose").fill(last_dose)
    page.get_by_role("button", name="Send my confirmation").click()
    expect(page.get_by_text("Thank you. The clinic will check your confirmation.")).to_be_visible()
    done = page.locator("section[aria-labelledby='done-h']")
    expect(done.locator("article", has_text="Stop Clopidogrel")).to_contain_text("You confirmed this")
    screenshot(page, "portal-en")

    # 4. Switch to Spanish.
    page.get_by_role("button", name="Español").click()
    expect(page.get_by_role("heading", name="Su procedimiento", exact=True)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_text("Deje de tomar Clopidogrel antes del procedimiento").first).to_be_visible()
    screenshot(page, "portal-es")

    page.get_by_role("link", name="Mis mensajes").click()
    expect(page.get_by_role("link", name="(310) 555-0100").first).to_be_visible()
    screenshot(page, "portal-messages-es")
    page.get_by_role("link", name="Mi preparación").click()

    # 5. Download the calendar.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Añadir a mi calendario").click()
    download = download_info.value
    assert download.suggested_filename == "my-preparation.ics"
    with open(download.path(), "rb") as handle:
        cal = Calendar.from_ical(handle.read())
    summaries = [str(e["summary"]) for e in cal.walk("VEVENT")]
    assert "Su procedimiento en Westside Spine Center" in summaries
    procedure = next(e for e in cal.walk("VEVENT") if str(e["summary"]).startswith("Su procedimiento"))
    assert procedure.decoded("dtstart") == surgery.start_at

    hold.refresh_from_db()
    assert hold.status == ItemStatus.PATIENT_CONFIRMED
    assert hold.evidence["last_dose_date"] == last_dose

    # 6. The nurse signs in and accepts the confirmation on the surgery's checklist.
    staff = page.context.browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    try:
        nurse_page = staff.new_page()
        nurse_page.set_default_timeout(10_000)
        nurse_page.goto(f"{live_server.url}/accounts/login/")
        nurse_page.get_by_label("Email").fill(nurse.email)
        nurse_page.get_by_label("Password").fill(PASSWORD)
        nurse_page.get_by_role("button", name="Sign in").click()
        nurse_page.goto(f"{live_server.url}/surgeries/{surgery.uuid}/")
        row = nurse_page.locator(f"#item-{hold.uuid}")
        expect(row).to_contain_text("The patient confirmed")
        taken = dt.date.fromisoformat(last_dose)
        expect(row).to_contain_text(f"Last dose taken on {taken:%a} {taken.day} {taken:%b %Y}")
        expect(row).to_contain_text("later than planned")  # a day ago, while the plan said days before
        row.get_by_role("button", name="Accept the patient's confirmation").click()
        expect(nurse_page.locator(f"#item-{hold.uuid}")).not_to_contain_text("The patient confirmed")
    finally:
        staff.close()
    hold.refresh_from_db()
    assert hold.status == ItemStatus.ACCEPTED
    assert hold.completed_by == nurse
