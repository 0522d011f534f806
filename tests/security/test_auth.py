"""Authentication and sessions: lockout, two-factor, idle and absolute timeouts, rotation, logout."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client, override_settings
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import AccessLog
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def post_login(client: Client, email: str, password: str, ip: str = "10.0.0.1"):
    return client.post("/accounts/login/", {"username": email, "password": password}, REMOTE_ADDR=ip)


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}"


def test_production_hashing_and_password_rules() -> None:
    from django.contrib.auth.password_validation import get_password_validators, validate_password
    from django.core.exceptions import ValidationError

    import config.settings as production

    assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    validators = get_password_validators(production.AUTH_PASSWORD_VALIDATORS)
    with pytest.raises(ValidationError, match="at least 12"):
        validate_password("Short1!abc", password_validators=validators)
    validate_password("a long enough passphrase", password_validators=validators)


def test_lockout_after_repeated_failures_for_that_user_and_address(client: Client, nurse) -> None:
    for _ in range(4):
        assert post_login(client, nurse.email, "not the password!").status_code == 200
    assert post_login(client, nurse.email, "not the password!").status_code == 429  # the fifth failure locks
    locked = post_login(client, nurse.email, PASSWORD)
    assert locked.status_code == 429
    assert "Sign-in paused" in locked.content.decode()
    assert AccessLog.objects.filter(action="auth lockout", user_email=nurse.email).exists()
    # The same nurse from her own ward PC is not locked out by someone guessing elsewhere.
    assert post_login(Client(), nurse.email, PASSWORD, ip="10.0.0.2").status_code == 302
    # Nor is a colleague on the attacker's address.
    from tests.factories import UserFactory

    colleague = UserFactory(clinic=nurse.clinic, email="colleague@westside.test")
    assert post_login(Client(), colleague.email, PASSWORD).status_code == 302


def test_lockout_ends_after_the_cool_off(client: Client, nurse) -> None:
    for _ in range(5):
        post_login(client, nurse.email, "not the password!")
    assert post_login(client, nurse.email, PASSWORD).status_code == 429
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=16)):
        assert post_login(Client(), nurse.email, PASSWORD).status_code == 302


def test_clinic_admin_must_enrol_and_verify_two_factor(client: Client, clinic_admin) -> None:
    assert post_login(client, clinic_admin.email, PASSWORD).status_code == 302
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/")
    _pass_the_emailed_set_up_code(client, clinic_admin)
    setup = client.get("/accounts/2fa/setup/")
    assert setup.status_code == 200 and "<svg" in setup.content.decode()
    device = TOTPDevice.objects.get(user=clinic_admin, confirmed=False)
    wrong = "000000" if code_for(device) != "000000" else "111111"
    assert client.post("/accounts/2fa/setup/", {"code": wrong}).status_code == 200
    assert client.get("/").status_code == 302  # still not verified
    # django-otp throttles after a failure; the next 30-second step brings a new code anyway.
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=31)):
        assert client.post("/accounts/2fa/setup/", {"code": code_for(device), "next": "/"}).status_code == 302
        assert client.get("/").status_code == 200
    actions = set(AccessLog.objects.filter(user=clinic_admin).values_list("action", flat=True))
    assert {"auth login", "auth 2fa enrolled"} <= actions

    # Next time: the code is asked for before anything else.
    second = Client()
    post_login(second, clinic_admin.email, PASSWORD)
    assert second.get("/audit/")["Location"].startswith("/accounts/2fa/")
    assert second.get("/api/v1/patients/").status_code == 403
    assert second.post("/accounts/2fa/", {"code": "12345x"}).status_code == 200  # not six digits
    device.refresh_from_db()
    wrong = "000000" if code_for(device) != "000000" else "111111"
    assert second.post("/accounts/2fa/", {"code": wrong}).status_code == 200
    assert second.get("/audit/").status_code == 302
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=95)):  # a fresh code, past the throttle
        assert second.post("/accounts/2fa/", {"code": code_for(device), "next": "/audit/"}).status_code == 302
        assert second.get("/audit/").status_code == 200
    assert AccessLog.objects.filter(user=clinic_admin, action="auth 2fa failed").exists()


def _emailed_code(user) -> str:
    from django.core import mail

    message = [m for m in mail.outbox if m.to == [user.email] and "set-up code" in m.subject][-1]
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def _pass_the_emailed_set_up_code(client: Client, user) -> None:
    page = client.get("/accounts/2fa/setup/")
    assert page.status_code == 200 and "<svg" not in page.content.decode() and "emailed" in page.content.decode()
    response = client.post("/accounts/2fa/setup/", {"code": _emailed_code(user)})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/setup/")


def test_the_password_alone_cannot_bind_an_authenticator(client: Client, clinic_admin) -> None:
    """Whoever first signs in with a new admin's password must also read the admin's mailbox before a
    phone is tied to the account: no QR code, no secret, no enrolment without the emailed code."""
    from django.core import mail

    assert post_login(client, clinic_admin.email, PASSWORD).status_code == 302
    page = client.get("/accounts/2fa/setup/").content.decode()
    assert "<svg" not in page and "secret" not in page.lower()
    assert not TOTPDevice.objects.filter(user=clinic_admin).exists()
    assert len([m for m in mail.outbox if m.to == [clinic_admin.email]]) == 1
    code = _emailed_code(clinic_admin)
    wrong = "000000" if code != "000000" else "111111"
    refused = client.post("/accounts/2fa/setup/", {"code": wrong})
    assert refused.status_code == 200 and "<svg" not in refused.content.decode()
    assert not TOTPDevice.objects.filter(user=clinic_admin).exists()
    # A reload within the cooldown sends no second email.
    client.get("/accounts/2fa/setup/")
    assert len([m for m in mail.outbox if m.to == [clinic_admin.email]]) == 1
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=5)):
        accepted = client.post("/accounts/2fa/setup/", {"code": code})
    assert accepted.status_code == 302
    assert "<svg" in client.get("/accounts/2fa/setup/").content.decode()
    assert AccessLog.objects.filter(user=clinic_admin, action="auth 2fa set-up code failed").exists()
    # The code works once: another session with the password alone starts over.
    other = Client()
    post_login(other, clinic_admin.email, PASSWORD)
    assert "<svg" not in other.post("/accounts/2fa/setup/", {"code": code}).content.decode()


def test_nurses_need_two_factor_only_when_the_clinic_says_so(client: Client, nurse) -> None:
    post_login(client, nurse.email, PASSWORD)
    assert client.get("/").status_code == 200
    with override_settings(STAFF_2FA_REQUIRED="all"):
        assert client.get("/")["Location"].startswith("/accounts/2fa/")


def test_session_id_rotates_at_login(client: Client, nurse) -> None:
    client.get("/accounts/login/")
    client.session.save()
    before = client.session.session_key
    post_login(client, nurse.email, PASSWORD)
    assert client.session.session_key != before


def test_idle_timeout(client: Client, nurse) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        post_login(client, nurse.email, PASSWORD)
        assert client.get("/").status_code == 200
    with time_machine.travel(start + dt.timedelta(minutes=14), tick=False):
        assert client.get("/").status_code == 200
    with time_machine.travel(start + dt.timedelta(minutes=14 + 16), tick=False):
        response = client.get("/")
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        assert client.get("/").status_code == 302  # the session is gone, not just this request


@override_settings(SESSION_ABSOLUTE_HOURS=2)
def test_absolute_lifetime_whatever_the_activity(client: Client, nurse) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        post_login(client, nurse.email, PASSWORD)
    for minutes in range(10, 120, 10):
        with time_machine.travel(start + dt.timedelta(minutes=minutes), tick=False):
            assert client.get("/").status_code == 200, minutes
    with time_machine.travel(start + dt.timedelta(minutes=121), tick=False):
        assert client.get("/").status_code == 302


def test_logout_ends_the_session(client: Client, nurse) -> None:
    post_login(client, nurse.email, PASSWORD)
    cookie = client.cookies["sessionid"].value
    assert client.get("/logout-is-post-only-so-try-get/").status_code == 404
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code in (200, 302)
    replay = Client()
    replay.cookies["sessionid"] = cookie
    assert replay.get("/").status_code == 302


def test_deactivating_a_user_ends_the_sessions(client: Client, nurse) -> None:
    post_login(client, nurse.email, PASSWORD)
    assert client.get("/").status_code == 200
    nurse.is_active = False
    nurse.save(update_fields=["is_active"])
    assert client.get("/").status_code == 302


def test_security_headers_on_pages(client: Client, nurse) -> None:
    signed_in = post_login(client, nurse.email, PASSWORD)
    assert signed_in.cookies["sessionid"]["httponly"] and signed_in.cookies["csrftoken"]["samesite"] == "Lax"
    response = client.get("/")
    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert "no-store" in response["Cache-Control"]


def test_production_cookies_and_hsts() -> None:
    import config.settings as production

    assert not production.DEBUG
    assert production.SESSION_COOKIE_SECURE and production.CSRF_COOKIE_SECURE
    assert production.SESSION_COOKIE_HTTPONLY
    assert production.SECURE_HSTS_SECONDS >= 31536000 and production.SECURE_SSL_REDIRECT
