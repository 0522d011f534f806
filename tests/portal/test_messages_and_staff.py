"""My messages (channels, stopping texts) and the staff's "send a sign-in link" action."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core import mail

from portal.models import SignInLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(book):
    return book(
        "lumbar-facet-rf",
        first_name="Mara",
        last_name="Messenger",
        mrn="MRN-MARA",
        birth_date=dt.date(1970, 1, 5),
        email="mara@example.org",
        mobile="+13105550142",
        channel_sms=True,
        sms_consent=True,
    ).patient


def test_messages_page_shows_choices_and_clinic_phone(client, patient, sign_in):
    sign_in(client, patient)
    html = client.get("/p/me/messages/").content.decode()
    assert 'href="tel:+13105550100"' in html
    assert 'name="email"' in html and 'name="sms"' in html
    assert '<label for="id_sms">' in html  # every control has a label


def test_choose_channels(client, patient, sign_in):
    sign_in(client, patient)
    response = client.post("/p/me/messages/", {})  # both unticked
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.channel_email is False and patient.channel_sms is False
    client.post("/p/me/messages/", {"email": "on", "sms": "on"})
    patient.refresh_from_db()
    assert patient.channel_email and patient.channel_sms and patient.sms_consent
    assert patient.history.first().history_change_reason == "Reminder channels changed by the patient in the portal"


def test_stop_sms_sets_opt_out_and_keeps_history(client, patient, sign_in):
    sign_in(client, patient)
    before = patient.history.count()
    response = client.post("/p/me/messages/stop-sms/")
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.sms_opted_out_at is not None
    assert patient.channel_sms is False
    assert patient.can_receive_sms is False
    assert patient.history.count() == before + 1
    assert patient.history.first().history_change_reason == "Texts stopped by the patient in the portal"
    html = client.get("/p/me/messages/").content.decode()
    assert "You have stopped text messages" in html


def test_sms_opt_in_needs_a_mobile_number(client, book, sign_in):
    p = book("lumbar-facet-rf", first_name="Nomo", mobile="").patient
    sign_in(client, p)
    response = client.post("/p/me/messages/", {"email": "on", "sms": "on"})
    assert response.status_code == 200
    assert "We have no mobile number for you" in response.content.decode()
    p.refresh_from_db()
    assert p.channel_sms is False


def test_messages_need_csrf(patient, sign_in):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    token = None
    from portal.services import signin_link_create

    _link, token = signin_link_create(patient=patient, channel="email", by=None)
    client.get(f"/p/in/{token}")
    assert client.post("/p/in/verify", {"day": "5", "month": "1", "year": "1970"}).status_code == 403


# --- Staff: send a link ---------------------------------------------------------------------


def test_nurse_sends_a_link_by_email(client, nurse, patient):
    client.force_login(nurse)
    response = client.post(f"/p/staff/send/{patient.uuid}/", {"channel": "email", "next": "/patients/x/"})
    assert response.status_code == 302 and response["Location"] == "/patients/x/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["mara@example.org"]
    link = SignInLink.objects.get(patient=patient)
    assert link.created_by == nurse and link.channel == "email"
    assert link.token_hash not in mail.outbox[0].body  # the token is sent, its hash stays here


def test_nurse_sends_a_link_by_sms(client, nurse, patient, settings, tmp_path):
    settings.SMS_BACKEND = "console"
    settings.VAR_DIR = tmp_path
    client.force_login(nurse)
    response = client.post(f"/p/staff/send/{patient.uuid}/", {"channel": "sms"})
    assert response.status_code == 302
    texts = list(Path(tmp_path, "sms").glob("*.txt"))
    assert len(texts) == 1
    body = texts[0].read_text().split("\n\n", 1)[1].strip()
    assert len(body) <= 160, body
    assert "/p/in/" in body and "Westside Spine Center" in body
    assert "rhizotomy" not in body.lower() and "Messenger" not in body


def test_sms_link_refused_after_stop(client, nurse, patient):
    from django.utils import timezone

    patient.sms_opted_out_at = timezone.now()
    patient.save()
    client.force_login(nurse)
    response = client.post(f"/p/staff/send/{patient.uuid}/", {"channel": "sms"}, follow=False)
    assert response.status_code == 302
    assert not SignInLink.objects.filter(patient=patient).exists()


def test_staff_send_is_scoped_and_needs_staff(client, outsider_nurse, patient, sign_in):
    client.force_login(outsider_nurse)
    assert client.post(f"/p/staff/send/{patient.uuid}/", {"channel": "email"}).status_code == 404
    assert client.get(f"/p/staff/send/{patient.uuid}/").status_code == 405
    client.logout()
    anonymous = client.post(f"/p/staff/send/{patient.uuid}/", {"channel": "email"})
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    sign_in(client, patient)  # a patient session is not a staff session
    as_patient = client.post(f"/p/staff/send/{patient.uuid}/", {"channel": "email"})
    assert as_patient.status_code == 302 and "/accounts/login/" in as_patient["Location"]
    assert mail.outbox == []
    assert SignInLink.objects.filter(patient=patient, created_by__isnull=False).count() == 0


def test_staff_send_rejects_an_outside_next(client, nurse, patient):
    client.force_login(nurse)
    response = client.post(f"/p/staff/send/{patient.uuid}/", {"channel": "email", "next": "https://evil.test/"})
    assert response["Location"] == "/"
