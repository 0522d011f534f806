"""A nurse's walk through the workspace in a real Chromium against the real server."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from tests.e2e.conftest import screenshot
from tests.factories import PASSWORD, in_days

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RESULTS = {
    "blood_group": "A+",
    "ecg": "Sinus rhythm",
    "chest_xray": "Clear",
    "urinalysis": "Normal",
    "contrast_allergy": "None known",
}


@pytest.fixture
def walk_data(book, nurse, surgeon):
    from actions import items as item_actions

    start = (timezone.now() + dt.timedelta(hours=20)).replace(minute=0, second=0, microsecond=0)
    patient_surgery = book(start_at=start, first_name="Walter", last_name="Ng", mrn="MRN-WALK")
    patient_surgery.surgeon = surgeon
    patient_surgery.save(update_fields=["surgeon"])
    # Everything required is done except the hemoglobin: ticking it makes the patient ready.
    for item in patient_surgery.checklist.items.filter(required=True).exclude(code="hemoglobin"):
        by = surgeon if item.assignee == "surgeon" else nurse  # consent is the surgeon's
        item_actions.item_complete(item=item, by=by, result=RESULTS.get(item.code, ""))
    # Some neighbours so that the board looks like a working day.
    book(start_at=in_days(3), first_name="Maria", last_name="Lopez", medications=["clopidogrel"])
    book(start_at=in_days(9, hour=10), first_name="Kenji", last_name="Watanabe", claustrophobic=True)
    book(
        "trigeminal-rf",
        start_at=in_days(6, hour=13),
        first_name="Helen",
        last_name="Okafor",
        medications=["warfarin"],
        birth_date=dt.date(1940, 4, 2),
    )
    return patient_surgery


def test_nurse_walk(live_server, page, walk_data):
    from playwright.sync_api import expect

    base = live_server.url
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Email address").fill("nurse@westside.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Upcoming surgeries")).to_be_visible()

    # The not-ready patient is on top of the board.
    first_row = page.locator("table.board-table tbody tr").first
    expect(first_row).to_contain_text("Ng, Walter")
    expect(first_row).to_contain_text("Not ready")
    screenshot(page, "board")
    first_row.get_by_role("link", name="Ng, Walter").click()
    expect(page.get_by_role("heading", name="Ng, Walter")).to_be_visible()
    summary = page.locator("#readiness-summary")
    expect(summary.get_by_test_id("readiness")).to_contain_text("Not ready")
    done_before = summary.get_by_test_id("done-count").inner_text()
    screenshot(page, "patient")

    # Tick the hemoglobin with a value: row, badge and counts change in place (no reload).
    page.evaluate("window.__noReload = 'still here'")
    row = page.locator("li[data-code='hemoglobin']")
    row.get_by_label("Result for Hemoglobin (g/dL)").fill("13.2")
    row.get_by_role("button", name="Mark done").click()
    row = page.locator("li[data-code='hemoglobin']")
    expect(row.get_by_test_id("result")).to_have_text("13.2 g/dL")
    expect(summary.get_by_test_id("readiness")).to_contain_text("Ready")
    expect(summary.get_by_test_id("done-count")).not_to_have_text(done_before)
    assert page.evaluate("window.__noReload") == "still here"

    # Reopen it, then enter an invalid value: the error appears next to the field.
    row.locator("summary", has_text="More").click()
    row.get_by_label("Why reopen it").fill("entered on the wrong patient")
    row.get_by_role("button", name="Undo (reopen)").click()
    row = page.locator("li[data-code='hemoglobin']")
    expect(summary.get_by_test_id("readiness")).to_contain_text("Not ready")
    row.get_by_label("Result for Hemoglobin (g/dL)").fill("132")
    row.get_by_role("button", name="Mark done").click()
    error = page.locator("li[data-code='hemoglobin'] [data-testid='field-error']")
    expect(error).to_contain_text("outside the plausible range")
    expect(page.get_by_label("Result for Hemoglobin (g/dL)")).to_be_focused()
    assert page.evaluate("window.__noReload") == "still here"

    # Reschedule one day later: review shows the due times moving, then the page shows them moved.
    arrival_due = page.locator("li[data-code='arrival'] [data-testid='due']").inner_text()
    page.get_by_role("link", name="Reschedule or change").click()
    date_field = page.get_by_label("Date*")
    new_date = dt.date.fromisoformat(date_field.input_value()) + dt.timedelta(days=1)
    date_field.fill(new_date.isoformat())
    page.get_by_role("button", name="Review the change").click()
    expect(page.get_by_role("heading", name="Review what will change")).to_be_visible()
    expect(page.locator(".changes-table")).to_contain_text("Due time moves")
    page.get_by_role("button", name="Confirm the change").click()
    expect(page.get_by_text("The booking was changed")).to_be_visible()
    moved_due = page.locator("li[data-code='arrival'] [data-testid='due']").inner_text()
    assert moved_due != arrival_due
    # The arrival time moved one day, on the clinic's clock (its date can be the day before the new
    # surgery date when the surgery starts near midnight, so compare the time itself).
    arrival = walk_data.checklist.items.get(code="arrival")
    local_due = arrival.due_at.astimezone(walk_data.clinic.tz)
    assert local_due.date() in (new_date, new_date - dt.timedelta(days=1))
    assert local_due.strftime("%-d %b %Y, %H:%M") in moved_due

    # Log out (a POST) and land on the sign-in page.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/accounts/(login|logout)/"))
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
