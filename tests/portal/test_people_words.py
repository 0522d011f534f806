"""Issue 16, as the patient met it: the locked link's page and the Done list."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from actions.items import item_complete
from prep.models import ChecklistItem
from tests.portal.conftest import dob_data
from tests.portal.test_preparation import BOOKED_ON, SURGERY, aware, section


@pytest.fixture
def alice(book):
    return book(
        "lumbar-facet-rf", first_name="Alice", birth_date=dt.date(1958, 3, 27), email="alice@example.org"
    ).patient


def test_locked_and_used_link_pages_give_the_clinic_number(client, alice, issue_link):
    token = issue_link(alice)
    client.get(f"/p/in/{token}")
    for _ in range(3):
        locked = client.post("/p/in/verify", dob_data(dt.date(1960, 1, 1)))
    assert locked.status_code == 403
    assert "(310) 555-0100" in locked.content.decode()
    client.get(f"/p/in/{token}")
    again = client.get("/p/in/verify")
    assert again.status_code == 410
    body = again.content.decode()
    assert "call the clinic:" in body and 'href="tel:+13105550100"' in body
    assert "Alice" not in body  # the clinic's number, nothing about the patient


def test_done_list_shows_the_day_it_was_done_in_the_past_tense(client, book, nurse, sign_in):
    with time_machine.travel(BOOKED_ON, tick=False):
        surgery = book(
            "trigeminal-rf", SURGERY, first_name="Carmen", birth_date=dt.date(1956, 7, 14), email="carmen@example.org"
        )
    hemoglobin = ChecklistItem.objects.get(checklist__surgery=surgery, code="hemoglobin")
    with time_machine.travel(aware("2026-03-02T10:00"), tick=False):
        item_complete(item=hemoglobin, by=nurse, result="13.1")
    with time_machine.travel(aware("2026-03-03T10:00"), tick=False):
        html = sign_in(client, surgery.patient).content.decode()
    done = section(html, "done")
    entry = done[done.index("Blood test: hemoglobin") :].split("</article>")[0]
    assert "Done on" in entry and "Monday 2 March" in entry
    assert "The clinic will tell you where and when to go" not in entry
