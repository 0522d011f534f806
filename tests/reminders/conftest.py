from __future__ import annotations

from types import SimpleNamespace

import pytest

from devtools.standins import FakeTwilio, SmtpServer, provider_settings


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def sms_server():
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture
def providers(smtp_server, sms_server, settings):
    """Django pointed at the local SMTP server and the fake Twilio API."""
    for name, value in provider_settings(smtp_server, sms_server).items():
        setattr(settings, name, value)
    settings.PUBLIC_BASE_URL = "https://preop.example.org"
    settings.REMINDERS_TWILIO_STATUS_CALLBACK = "https://preop.example.org/reminders/twilio/status/"
    return SimpleNamespace(smtp=smtp_server, sms=sms_server)
