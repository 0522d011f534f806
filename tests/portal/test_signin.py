"""Sign-in links: single use, expiry, date of birth, one patient per session, headers, rate limits."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from portal.models import SignInLink
from portal.services import token_hash
from tests.portal.conftest import dob_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(book):
    return book(
        "lumbar-facet-rf",
        first_name="Alice",
        last_name="Aldergrove",
        mrn="MRN-ALICE",
        birth_date=dt.date(1958, 3, 27),
        email="alice@example.org",
    ).patient


@pytest.fixture
def bob(book):
    return book(
        "cervical-facet-rf",
        first_name="Bobby",
        last_name="Brackenridge",
        mrn="MRN-BOB",
        birth_date=dt.date(1949, 11, 2),
        email="bob@example.org",
        mobile="+13105550199",
    ).patient


def assert_no_trace_of(patient, response) -> None:
    body = response.content.decode()
    for text in (patient.first_name, patient.last_name, patient.mrn, str(patient.uuid)):
        assert text not in body, f"{text!r} leaked"


def test_link_opens_redirects_to_token_free_url_and_signs_in(client, alice, issue_link):
    token = issue_link(alice)
    opened = client.get(f"/p/in/{token}")
    assert opened.status_code == 302
    assert opened["Location"] == "/p/in/verify"
    assert token not in opened["Location"]
    assert opened["Referrer-Policy"] == "no-referrer"
    assert "no-store" in opened["Cache-Control"]
    # Only the hash is kept, in the database and in the session.
    assert SignInLink.objects.filter(token_hash=token_hash(token)).exists()
    assert token not in str(dict(client.session))

    page = client.get("/p/in/verify")
    assert page.status_code == 200
    # No Referer leaves the site; same-origin (not no-referrer) keeps the form's Origin header for CSRF.
    assert page["Referrer-Policy"] == "same-origin"
    assert "no-store" in page["Cache-Control"]
    assert token not in page.content.decode()
    assert "Aldergrove" not in page.content.decode()  # nothing about the patient before the date of birth

    done = client.post("/p/in/verify", dob_data(alice.birth_date))
    assert done.status_code == 302 and done["Location"] == "/p/me/"
    me = client.get("/p/me/")
    assert me.status_code == 200
    assert "Alice" in me.content.decode()
    assert "no-store" in me["Cache-Control"]
    assert me["Referrer-Policy"] == "same-origin"


def test_used_link_does_not_work_again(client, alice, issue_link):
    token = issue_link(alice)
    client.get(f"/p/in/{token}")
    assert client.post("/p/in/verify", dob_data(alice.birth_date)).status_code == 302
    client.post("/p/out/")

    other = client.__class__()
    other.get(f"/p/in/{token}")
    page = other.get("/p/in/verify")
    assert page.status_code == 410
    assert "already been used" in page.content.decode()
    again = other.post("/p/in/verify", dob_data(alice.birth_date))
    assert again.status_code == 410
    assert other.get("/p/me/").status_code == 302
    assert_no_trace_of(alice, page)
    assert_no_trace_of(alice, again)


def test_expired_link(client, alice, issue_link, settings):
    settings.PORTAL_LINK_TTL_HOURS = 72
    token = issue_link(alice)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=72, minutes=1)):
        client.get(f"/p/in/{token}")
        page = client.post("/p/in/verify", dob_data(alice.birth_date))
        assert page.status_code == 410
        assert client.get("/p/me/").status_code == 302
        assert_no_trace_of(alice, page)
    # Just inside the window it works.
    token = issue_link(alice)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=71, minutes=59)):
        client.get(f"/p/in/{token}")
        assert client.post("/p/in/verify", dob_data(alice.birth_date))["Location"] == "/p/me/"


def test_three_wrong_birth_dates_lock_the_link_even_for_the_right_date(client, alice, issue_link):
    token = issue_link(alice)
    client.get(f"/p/in/{token}")
    wrong = dob_data(dt.date(1960, 1, 1))
    first = client.post("/p/in/verify", wrong)
    assert first.status_code == 200
    assert "2 more tries" in first.content.decode()
    second = client.post("/p/in/verify", wrong)
    assert "1 more try" in second.content.decode()
    third = client.post("/p/in/verify", wrong)
    assert third.status_code == 403
    assert "locked" in third.content.decode()
    link = SignInLink.objects.get(token_hash=token_hash(token))
    assert link.locked_at is not None and link.failed_attempts == 3 and link.used_at is None

    client.get(f"/p/in/{token}")
    right = client.post("/p/in/verify", dob_data(alice.birth_date))
    assert right.status_code == 410
    assert client.get("/p/me/").status_code == 302
    for response in (first, second, third, right):
        assert_no_trace_of(alice, response)


def test_impossible_or_future_birth_date_is_a_form_error_not_an_attempt(client, alice, issue_link):
    token = issue_link(alice)
    client.get(f"/p/in/{token}")
    page = client.post("/p/in/verify", {"day": "31", "month": "2", "year": "1958"})
    assert "This date does not exist" in page.content.decode()
    page = client.post("/p/in/verify", {"day": "", "month": "", "year": ""})
    assert page.status_code == 200
    assert SignInLink.objects.get(token_hash=token_hash(token)).failed_attempts == 0


def test_link_for_b_while_signed_in_as_a_replaces_a_entirely(client, alice, bob, sign_in, issue_link):
    me = sign_in(client, alice)
    assert "Alice" in me.content.decode()
    token_b = issue_link(bob)
    client.get(f"/p/in/{token_b}")
    # A is gone as soon as B's link is opened: nothing of A is reachable while B's date is asked.
    away = client.get("/p/me/")
    assert away.status_code == 302
    verify = client.get("/p/in/verify")
    assert_no_trace_of(alice, verify)
    assert client.post("/p/in/verify", dob_data(bob.birth_date))["Location"] == "/p/me/"
    me_b = client.get("/p/me/")
    assert "Bobby" in me_b.content.decode()
    assert_no_trace_of(alice, me_b)
    for url in ("/p/me/messages/", "/p/me/calendar.ics"):
        assert_no_trace_of(alice, client.get(url))


def test_wrong_birth_date_for_b_while_signed_in_as_a_signs_a_out(client, alice, bob, sign_in, issue_link):
    sign_in(client, alice)
    client.get(f"/p/in/{issue_link(bob)}")
    page = client.post("/p/in/verify", dob_data(alice.birth_date))  # A's date for B's link
    assert "does not match" in page.content.decode()
    assert_no_trace_of(alice, page)
    assert client.get("/p/me/").status_code == 302


def test_idle_timeout_ends_the_session(client, alice, sign_in, settings):
    settings.PORTAL_IDLE_MINUTES = 30
    sign_in(client, alice)
    start = timezone.now()
    with time_machine.travel(start + dt.timedelta(minutes=29)):
        assert client.get("/p/me/").status_code == 200  # activity moves the idle clock
    with time_machine.travel(start + dt.timedelta(minutes=29 + 29)):
        assert client.get("/p/me/").status_code == 200
    with time_machine.travel(start + dt.timedelta(minutes=58 + 31)):
        gone = client.get("/p/me/")
        assert gone.status_code == 302 and gone["Location"] == "/p/"
        page = client.get("/p/")
        assert "inactivity" in page.content.decode()
        assert_no_trace_of(alice, page)
        assert client.get("/p/me/calendar.ics").status_code == 302


def test_absolute_lifetime_ends_an_active_session(client, alice, sign_in, settings):
    """Activity keeps the idle clock at bay, not the absolute one: SESSION_ABSOLUTE_HOURS after sign-in
    the portal session ends, as a staff session does."""
    settings.PORTAL_IDLE_MINUTES = 30
    settings.SESSION_ABSOLUTE_HOURS = 2
    sign_in(client, alice)
    start = timezone.now()
    for minutes in range(20, 120, 20):  # a request every 20 minutes: never idle
        with time_machine.travel(start + dt.timedelta(minutes=minutes)):
            assert client.get("/p/me/").status_code == 200, minutes
    with time_machine.travel(start + dt.timedelta(minutes=121)):
        gone = client.get("/p/me/")
        assert gone.status_code == 302 and gone["Location"] == "/p/"
        assert client.get("/p/me/calendar.ics").status_code == 302


def test_sign_out(client, alice, sign_in):
    sign_in(client, alice)
    assert client.post("/p/out/").status_code == 302
    assert client.get("/p/me/").status_code == 302


def _normalise(response) -> tuple[int, str, str]:
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    body = re.sub(r'"X-CSRFToken": "[^"]+"', "", body)
    return response.status_code, response.get("Location", ""), body


def test_link_request_answers_the_same_known_unknown_and_rate_limited(client, alice, bob, settings):
    settings.PORTAL_REQUEST_LIMIT_PER_CONTACT = 2
    settings.PORTAL_REQUEST_LIMIT_PER_IP = 100
    answers = []
    for contact in ("alice@example.org", "nobody@example.org", "+1 310 555 0100", "not a contact"):
        response = client.post("/p/", {"contact": contact})
        answers.append(_normalise(response))
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.org"]
    assert all(a == answers[0] for a in answers), answers
    assert answers[0][:2] == (302, "/p/sent/")
    # Over the limit for this contact: the same answer, and nothing sent.
    client.post("/p/", {"contact": "ALICE@example.org"})
    over = client.post("/p/", {"contact": "alice@example.org"})
    assert _normalise(over) == answers[0]
    assert len(mail.outbox) == 2
    sent_page = client.get("/p/sent/")
    assert "If we have this email address" in sent_page.content.decode()
    assert_no_trace_of(alice, sent_page)


def test_link_request_is_limited_per_ip(client, alice, settings):
    settings.PORTAL_REQUEST_LIMIT_PER_CONTACT = 100
    settings.PORTAL_REQUEST_LIMIT_PER_IP = 3
    for n in range(3):
        client.post("/p/", {"contact": f"probe{n}@example.org"})
    response = client.post("/p/", {"contact": "alice@example.org"})
    assert response.status_code == 302 and response["Location"] == "/p/sent/"
    assert mail.outbox == []
    other_ip = client.post("/p/", {"contact": "alice@example.org"}, REMOTE_ADDR="10.0.0.9")
    assert other_ip["Location"] == "/p/sent/"
    assert len(mail.outbox) == 1


def test_emailed_link_works_and_says_little(client, alice):
    client.post("/p/", {"contact": "alice@example.org"})
    message = mail.outbox[0]
    text = message.body
    url = re.search(r"http://\S+/p/in/\S+", text).group(0)
    assert "Westside Spine Center" in message.subject
    assert "rhizotomy" not in (text + message.alternatives[0][0]).lower()
    path = url.split("127.0.0.1:8000")[-1]
    client.get(path)
    assert client.post("/p/in/verify", dob_data(alice.birth_date))["Location"] == "/p/me/"


def test_email_is_in_the_patients_language(alice):
    from actions.patients import patient_update
    from portal.services import signin_link_send

    patient_update(patient=alice, by=None, language="es")
    signin_link_send(patient=alice, channel="email", by=None)
    assert "su enlace" in mail.outbox[0].subject
    assert "Abra este enlace" in mail.outbox[0].body


def test_unknown_token_shape_and_missing_pending_link(client):
    assert client.get("/p/in/verify").status_code == 400
    assert client.get("/p/in/short").status_code == 404
