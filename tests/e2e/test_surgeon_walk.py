"""A surgeon's walk from sign-in: the worklist, a hold decision, the go / no-go guard, a withdrawn Go.
Then the keyboard-only path of a nurse from sign-in to a ticked item."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import assert_accessible, screenshot
from tests.factories import PASSWORD, in_days

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def decisions(book, surgeon):
    waiting = book("cervical-facet-rf", in_days(3), medications=["clopidogrel"], first_name="Maria", last_name="Lopez")
    later = book("lumbar-facet-rf", in_days(8), medications=["apixaban"], first_name="Kenji", last_name="Watanabe")
    for s in (waiting, later):
        s.surgeon = surgeon
        s.save(update_fields=["surgeon"])
    return waiting


def test_surgeon_worklist_hold_decision_and_go_guard(live_server, page, decisions, surgeon, nurse):
    from playwright.sync_api import expect

    from actions.patients import medication_add

    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email address").fill(surgeon.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # The surgeon lands on the decisions waiting for them, oldest due first.
    expect(page).to_have_url(re.compile(r"/worklist/$"))
    expect(page.get_by_role("heading", name="Decisions waiting for you")).to_be_visible()
    rows = page.get_by_test_id("decision-row")
    expect(rows.first).to_contain_text("Lopez, Maria")
    expect(rows.nth(1)).to_contain_text("Watanabe, Kenji")
    assert_accessible(page, "worklist")
    screenshot(page, "worklist")

    # The hold decision has no pre-selected answer: one click records nothing.
    rows.first.get_by_role("link", name=re.compile("^Decide")).click()
    row = page.locator("li[data-code='hold_approval:clopidogrel']")
    expect(row.get_by_label("Decision")).to_have_value("")
    row.get_by_role("button", name="Record decision").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Choose whether to approve or decline the hold.")
    row = page.locator("li[data-code='hold_approval:clopidogrel']")
    row.get_by_label("Decision").select_option("approve")
    row.get_by_label("Note").fill("Stent more than a year ago")
    row.get_by_role("button", name="Record decision").click()
    row = page.locator("li[data-code='hold_approval:clopidogrel']")
    expect(row.get_by_test_id("decision")).to_contain_text("Hold approved by Sam Surgeon. Reason: Stent more than")

    # Go on a patient who is not ready is refused without a reason, then recorded with one.
    page.locator("#go-decision").get_by_label("Go", exact=True).check()
    page.locator("#go-decision").get_by_role("button", name="Save decision").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("The patient is not ready")
    summary.get_by_role("link").first.click()
    override = page.get_by_label("Reason to go ahead although the patient is not ready")
    expect(override).to_be_focused()
    page.locator("#go-decision").get_by_label("Go", exact=True).check()
    override.fill("Pain crisis; tests reviewed by phone")
    page.locator("#go-decision").get_by_role("button", name="Save decision").click()
    expect(page.get_by_test_id("go-decision")).to_contain_text("Go although not ready")
    expect(page.locator("#go-decision input[type=radio]:checked")).to_have_count(0)  # never pre-selected

    # The board shows the override; a new blood thinner after the Go withdraws it.
    page.goto(f"{base}/?view=board")
    board_row = page.locator("table.board-table tbody tr", has_text="Lopez, Maria")
    expect(board_row.get_by_test_id("go-cell")).to_contain_text("Over the checklist")
    medication_add(patient=decisions.patient, by=nurse, name="warfarin", is_blood_thinner=True)
    page.goto(f"{base}/worklist/")
    expect(page.get_by_test_id("go-withdrawn")).to_contain_text("Your Go was withdrawn")
    assert_accessible(page, "worklist with a withdrawn Go")


def test_keyboard_only_from_sign_in_to_a_ticked_item(live_server, page, book, nurse):
    from playwright.sync_api import expect

    surgery = book("lumbar-facet-rf", in_days(5), first_name="Walter", last_name="Ng")
    base = live_server.url

    def tab_to(selector_js: str, limit: int = 120) -> None:
        """Press Tab until the focused element matches; fail if it never does (a keyboard trap or gap)."""
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(f"(() => {{ const el = document.activeElement; return !!el && ({selector_js}); }})()"):
                return
        raise AssertionError(f"Tab never reached {selector_js}")

    page.goto(f"{base}/accounts/login/")
    expect(page.get_by_label("Email address")).to_be_focused()  # autofocus
    page.keyboard.type(nurse.email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Upcoming surgeries")).to_be_visible()

    tab_to("el.matches('a.patient-link') && el.textContent.includes('Ng, Walter')")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Ng, Walter")).to_be_visible()

    hemoglobin = "li[data-code='hemoglobin'] input[name='result']"
    tab_to(f'el.matches("{hemoglobin}")')
    page.keyboard.type("13.4")
    tab_to("el.matches(\"li[data-code='hemoglobin'] button[type=submit]\")")
    page.keyboard.press("Enter")
    row = page.locator("li[data-code='hemoglobin']")
    expect(row.get_by_test_id("result")).to_have_text("13.4 g/dL")
    # The focus stays in the row (its message), so the next Tab continues from there.
    expect(row.locator(".item-message")).to_be_focused()
    assert surgery.checklist.items.get(code="hemoglobin").status == "done"
