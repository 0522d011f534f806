"""Twilio's webhooks: signatures checked, statuses forward only, opt-out words, START and HELP."""

from __future__ import annotations

import pytest
from django.utils import timezone
from twilio.request_validator import RequestValidator

from devtools.outbox import due_reminders
from devtools.standins import AUTH_TOKEN
from reminders.models import Channel, Reminder, SmsEvent, Status
from tests.reminders.helpers import sms_fields

pytestmark = pytest.mark.django_db
BASE = "https://preop.example.org"


@pytest.fixture
def webhook_settings(settings):
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.PUBLIC_BASE_URL = BASE


def post(client, path: str, data: dict, *, sign: bool = True, token: str = AUTH_TOKEN):
    headers = {}
    if sign:
        headers["HTTP_X_TWILIO_SIGNATURE"] = RequestValidator(token).compute_signature(BASE + path, data)
    return client.post(path, data, **headers)


@pytest.fixture
def sent_sms(book):
    surgery = book(**sms_fields())
    [row] = due_reminders(surgery, 1, channel=Channel.SMS)
    Reminder.objects.filter(pk=row.pk).update(status=Status.SENT, provider_id="SM1", sent_at=timezone.now())
    row.refresh_from_db()
    return row


def status(client, row, value: str, error: str = "", sid: str = "SM1", **kw):
    data = {"MessageSid": sid, "MessageStatus": value, "ErrorCode": error, "AccountSid": "AC1"}
    return post(client, f"/reminders/twilio/status/?ref={row.uuid}", data, **kw)


@pytest.mark.parametrize("how", ["unsigned", "bad"])
def test_unsigned_or_badly_signed_callbacks_get_403_and_change_nothing(client, webhook_settings, sent_sms, how):
    response = status(client, sent_sms, "delivered", sign=how == "bad", token="wrong-token")
    assert response.status_code == 403
    sent_sms.refresh_from_db()
    assert sent_sms.status == Status.SENT and sent_sms.delivered_at is None
    inbound = post(
        client,
        "/reminders/twilio/inbound/",
        {"From": "+13105550123", "Body": "STOP", "MessageSid": "SMx"},
        sign=how == "bad",
        token="wrong-token",
    )
    assert inbound.status_code == 403
    assert not SmsEvent.objects.exists()
    assert not type(sent_sms.patient).objects.filter(sms_opted_out_at__isnull=False).exists()


def test_webhooks_refuse_when_no_auth_token_is_configured(client, settings, sent_sms):
    settings.TWILIO_AUTH_TOKEN = ""
    assert status(client, sent_sms, "delivered").status_code == 403


def test_statuses_only_move_forward_whatever_the_order(client, webhook_settings, sent_sms):
    assert status(client, sent_sms, "delivered").status_code == 204
    for late in ("sent", "queued", "delivered", "undelivered", "failed"):
        assert status(client, sent_sms, late, error="30003").status_code == 204
    sent_sms.refresh_from_db()
    assert sent_sms.status == Status.DELIVERED and sent_sms.delivered_at is not None and sent_sms.last_error == ""


def test_undelivered_is_final_and_visible(client, webhook_settings, sent_sms):
    status(client, sent_sms, "undelivered", error="30005")
    status(client, sent_sms, "delivered")
    sent_sms.refresh_from_db()
    assert sent_sms.status == Status.FAILED and "30005" in sent_sms.last_error


def test_callback_21610_marks_the_number_opted_out(client, webhook_settings, sent_sms):
    status(client, sent_sms, "failed", error="21610")
    sent_sms.patient.refresh_from_db()
    assert sent_sms.patient.sms_opted_out_at is not None


def test_callback_for_another_message_sid_changes_nothing(client, webhook_settings, sent_sms):
    status(client, sent_sms, "delivered", sid="SM-other")
    sent_sms.refresh_from_db()
    assert sent_sms.status == Status.SENT


OPT_OUT = [
    "STOP",
    "stop",
    "Stop please",
    "STOPALL",
    "unsubscribe",
    "Cancel",
    "END",
    "quit",
    "REVOKE",
    "opt out",
    "Please OPT-OUT of this",
    "I want to stop. thanks",
]


@pytest.mark.parametrize("body", OPT_OUT)
def test_opt_out_words_stop_texts_at_once_with_one_confirmation(client, webhook_settings, book, body):
    surgery = book(**sms_fields(77))
    [pending] = due_reminders(surgery, 1, channel=Channel.SMS)
    data = {"From": surgery.patient.mobile, "Body": body, "MessageSid": "SMin1"}
    response = post(client, "/reminders/twilio/inbound/", data)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    text = response.content.decode()
    assert text.count("<Message>") == 1 and "Westside Spine Center" in text and "START" in text
    surgery.patient.refresh_from_db()
    assert surgery.patient.sms_opted_out_at is not None and not surgery.patient.can_receive_sms
    pending.refresh_from_db()
    assert pending.status == Status.SUPPRESSED
    # Twilio retries the same webhook: no second confirmation.
    again = post(client, "/reminders/twilio/inbound/", data)
    assert "<Message>" not in again.content.decode()
    assert SmsEvent.objects.filter(action="stop").count() == 1


def test_start_resubscribes_and_help_answers_with_clinic_and_phone(client, webhook_settings, book, clinic):
    surgery = book(**sms_fields(78, language="es"))
    patient = surgery.patient
    planned = set(Reminder.objects.filter(surgery=surgery, channel=Channel.SMS).values_list("pk", flat=True))
    assert planned
    post(client, "/reminders/twilio/inbound/", {"From": patient.mobile, "Body": "STOP", "MessageSid": "SM1"})
    texts = Reminder.objects.filter(pk__in=planned)
    assert set(texts.values_list("status", flat=True)) == {Status.SUPPRESSED}
    response = post(
        client, "/reminders/twilio/inbound/", {"From": patient.mobile, "Body": "start", "MessageSid": "SM2"}
    )
    patient.refresh_from_db()
    assert patient.sms_opted_out_at is None and patient.can_receive_sms
    assert set(texts.values_list("status", flat=True)) == {Status.PENDING}, "the texts still ahead come back"
    assert "<Message>" in response.content.decode()
    help_reply = post(
        client, "/reminders/twilio/inbound/", {"From": patient.mobile, "Body": "Help?", "MessageSid": "SM3"}
    )
    text = help_reply.content.decode()
    assert clinic.name in text and clinic.phone in text and "STOP" in text
    assert "recordatorios" in text  # the patient's language


def test_other_replies_get_no_answer(client, webhook_settings, book):
    surgery = book(**sms_fields(79))
    response = post(
        client, "/reminders/twilio/inbound/", {"From": surgery.patient.mobile, "Body": "ok thanks", "MessageSid": "SM9"}
    )
    assert "<Message>" not in response.content.decode()
    surgery.patient.refresh_from_db()
    assert surgery.patient.sms_opted_out_at is None


def test_webhooks_accept_post_only(client, webhook_settings):
    assert client.get("/reminders/twilio/inbound/").status_code == 405
