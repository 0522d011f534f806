"""Two-factor authentication for staff (TOTP through django-otp).

Clinic admins must use it; everyone else when ``STAFF_2FA_REQUIRED=all``. After the password, a
staff member with a device gives a code; one who must have a device and has none enrols first.
"""

from __future__ import annotations

import io
from typing import Any

import qrcode
import qrcode.image.svg
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.http import SignedInRequest
from accounts.models import User
from audit.services import access_log_record


def two_factor_required(user: User) -> bool:
    if not user.is_authenticated:
        return False
    return user.is_clinic_admin or user.is_superuser or settings.STAFF_2FA_REQUIRED == "all"


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Six-digit code from your authenticator app",
        min_length=6,
        max_length=6,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9]{6}"}),
    )

    def clean_code(self) -> str:
        code = self.cleaned_data["code"].strip()
        if not code.isdigit():
            raise forms.ValidationError("Enter the six digits your app shows.")
        return code


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or settings.LOGIN_REDIRECT_URL
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return settings.LOGIN_REDIRECT_URL


@never_cache
@login_required
def verify(request: SignedInRequest) -> HttpResponse:
    user: User = request.user
    if not user_has_device(user):
        return redirect(f"/accounts/2fa/setup/?next={_next_url(request)}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is not None and device.verify_is_allowed()[0] and device.verify_token(form.cleaned_data["code"]):
            otp_login(request, device)
            access_log_record(request=request, action="auth 2fa verified", allowed=True, user=user)
            return redirect(_next_url(request))
        access_log_record(request=request, action="auth 2fa failed", allowed=False, user=user)
        form.add_error("code", "That code is not valid. Check the time on your phone and try again.")
    return render(request, "accounts/two_factor_verify.html", {"form": form, "next": _next_url(request)})


class EmailCodeForm(CodeForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].label = "Six-digit code from the email"


# The session passed the emailed set-up code for this user (the value is the user's id).
ENROL_CODE_OK = "accounts:2fa_enrol_code_ok"
ENROL_DEVICE_NAME = "Two-step set-up code"


def _enrol_code_step(request: HttpRequest, user: User) -> HttpResponse:
    """Before a first authenticator is bound, a one-time code sent to the account's email address.

    Without it, whoever first signed in with the password (a shared or leaked one) would bind his
    own phone to the account for good. The email device stays unconfirmed: it is never a second
    factor for signing in, only the proof needed to enrol one.
    """
    device, _ = EmailDevice.objects.get_or_create(user=user, name=ENROL_DEVICE_NAME, defaults={"confirmed": False})
    form = EmailCodeForm(request.POST or None)
    if request.method == "POST" and "resend" not in request.POST:
        if form.is_valid() and device.verify_token(form.cleaned_data["code"]):
            request.session[ENROL_CODE_OK] = user.pk
            access_log_record(request=request, action="auth 2fa set-up code accepted", allowed=True, user=user)
            return redirect(f"/accounts/2fa/setup/?next={_next_url(request)}")
        if form.is_valid():
            access_log_record(request=request, action="auth 2fa set-up code failed", allowed=False, user=user)
            form.add_error("code", "That code is not valid, or it has expired. Ask for a new one below.")
    else:
        # Cooldown-protected by django-otp: reloading the page does not flood the mailbox.
        device.generate_challenge()
        form = EmailCodeForm()
    email = user.email
    masked = email[0] + "…" + email[email.index("@") :] if "@" in email else "your address"
    context = {"form": form, "email": masked, "next": _next_url(request)}
    return render(request, "accounts/two_factor_email.html", context)


@never_cache
@login_required
def setup(request: SignedInRequest) -> HttpResponse:
    user: User = request.user
    if user_has_device(user) and not request.user.is_verified():
        return redirect(f"/accounts/2fa/?next={_next_url(request)}")
    if not request.user.is_verified() and request.session.get(ENROL_CODE_OK) != user.pk:
        return _enrol_code_step(request, user)
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            otp_login(request, device)
            access_log_record(request=request, action="auth 2fa enrolled", allowed=True, user=user)
            return redirect(_next_url(request))
        form.add_error("code", "That code is not valid. Scan the code again and enter the six digits shown.")
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg = io.BytesIO()
    image.save(svg)
    secret = device.config_url.split("secret=")[1].split("&")[0]
    context = {"form": form, "qr_svg": svg.getvalue().decode(), "secret": secret, "next": _next_url(request)}
    return render(request, "accounts/two_factor_setup.html", context)
