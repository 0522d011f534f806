"""Writes for the patient portal: sign-in links, the patient's own confirmations and preferences.

A sign-in link is a random token sent to the patient; only its SHA-256 is stored. It works once,
expires (``PORTAL_LINK_TTL_HOURS``) and is locked after three wrong dates of birth.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from actions.items import item_patient_confirm
from actions.patients import patient_update
from core.text import render_text
from patients.models import Clinic, Patient
from patients.validators import normalize_mobile
from portal.models import LinkChannel, SignInLink
from prep.models import ChecklistItem

logger = logging.getLogger(__name__)

MAX_BIRTH_DATE_ATTEMPTS = 3
TOKEN_BYTES = 24  # 192 bits; short enough that the link fits in a 160-character text
SMS_MAX_CHARS = 160


class SmsUnavailableError(RuntimeError):
    """The SMS transport (``reminders.transports``) is not installed or not configured."""


def link_ttl() -> dt.timedelta:
    return dt.timedelta(hours=int(getattr(settings, "PORTAL_LINK_TTL_HOURS", 72)))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _contact_hash(value: str) -> str:
    # Cache keys never carry an email address or phone number in clear.
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


def signin_link_create(
    *, patient: Patient, channel: Literal["email", "sms"], by: User | None
) -> tuple[SignInLink, str]:
    """A new link for ``patient``; returns the row and the token (which is not stored)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    link = SignInLink.objects.create(
        patient=patient,
        token_hash=token_hash(token),
        channel=channel,
        created_at=now,
        created_by=by,
        expires_at=now + link_ttl(),
    )
    return link, token


def signin_url(token: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("portal:link_open", kwargs={"token": token})


def _sms_body(*, patient: Patient, url: str) -> str:
    """Minimal content (clinical reference, section 7): clinic, link, phone; no procedure or drug."""
    clinic = patient.clinic
    hours = int(link_ttl().total_seconds() // 3600)
    body = _("%(clinic)s: your link to your preparation (works once, for %(hours)s h): %(url)s") % {
        "clinic": clinic.name,
        "hours": hours,
        "url": url,
    }
    if clinic.phone:
        with_phone = body + " " + _("Questions: %(phone)s") % {"phone": clinic.phone}
        if len(with_phone) <= SMS_MAX_CHARS:
            body = with_phone
    return body


def _send_email(*, patient: Patient, url: str) -> None:
    context = {
        "patient": patient,
        "clinic": patient.clinic,
        "url": url,
        "hours": int(link_ttl().total_seconds() // 3600),
    }
    subject = " ".join(render_text("portal/emails/signin_link_subject.txt", context).split())
    text = render_text("portal/emails/signin_link.txt", context)
    html = render_to_string("portal/emails/signin_link.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[patient.email])
    message.attach_alternative(html, "text/html")
    message.send()


def _send_sms(*, patient: Patient, url: str, reference: str) -> None:
    try:
        from reminders.transports import sms_transport  # written alongside; imported late on purpose
    except ImportError as exc:
        raise SmsUnavailableError(
            "Sign-in links cannot be sent by SMS yet: reminders.transports.sms_transport is not available."
        ) from exc
    sms_transport().send(to=patient.mobile, body=_sms_body(patient=patient, url=url), reference=reference)


def signin_link_send(*, patient: Patient, channel: Literal["email", "sms"], by: User | None) -> None:
    """Create a link and send it to the patient by email or SMS, in the patient's language.

    Raises ValidationError naming ``channel`` when the patient cannot be reached that way.
    """
    if channel == LinkChannel.EMAIL:
        if not patient.email:
            raise ValidationError({"channel": "This patient has no email address."})
    elif channel == LinkChannel.SMS:
        if not patient.mobile:
            raise ValidationError({"channel": "This patient has no mobile number."})
        if patient.sms_opted_out_at:
            raise ValidationError({"channel": "This patient has stopped text messages (STOP)."})
    else:
        raise ValidationError({"channel": "Choose email or SMS."})
    link, token = signin_link_create(patient=patient, channel=channel, by=by)
    url = signin_url(token)
    with translation.override(patient.language or "en"):
        if channel == LinkChannel.EMAIL:
            _send_email(patient=patient, url=url)
        else:
            _send_sms(patient=patient, url=url, reference=f"signin:{link.uuid}")


def _over_limit(key: str, limit: int, window_seconds: int) -> bool:
    """Fixed-window counter in the cache: True once ``limit`` requests were made in the window."""
    window = int(timezone.now().timestamp() // window_seconds)
    full_key = f"portal:rl:{key}:{window}"
    cache.add(full_key, 0, timeout=window_seconds + 5)
    try:
        count = cache.incr(full_key)
    except ValueError:  # evicted between add and incr
        cache.set(full_key, 1, timeout=window_seconds + 5)
        count = 1
    return count > limit


def _find_patients(contact: str) -> tuple[list[Patient], Literal["email", "sms"] | None]:
    contact = contact.strip()
    if "@" in contact:
        try:
            validate_email(contact)
        except ValidationError:
            return [], None
        patients = Patient.objects.select_related("clinic").filter(email__iexact=contact)
        return list(patients), "email"
    try:
        mobile = normalize_mobile(contact)
    except ValidationError:
        return [], None
    if not mobile:
        return [], None
    patients = Patient.objects.select_related("clinic").filter(mobile=mobile, sms_opted_out_at__isnull=True)
    return list(patients), "sms"


def signin_link_request(*, contact: str, ip: str) -> None:
    """A patient asks for a link by email address or mobile number.

    Returns nothing and raises nothing about the contact: the caller answers the same whether the
    contact is known, unknown or over the rate limit, so the page cannot be used to find patients.
    """
    window = int(getattr(settings, "PORTAL_REQUEST_WINDOW_SECONDS", 3600))
    per_contact = int(getattr(settings, "PORTAL_REQUEST_LIMIT_PER_CONTACT", 3))
    per_ip = int(getattr(settings, "PORTAL_REQUEST_LIMIT_PER_IP", 10))
    # Both counters move on every request, so an attacker cannot probe one without spending the other.
    ip_over = _over_limit(f"ip:{_contact_hash(ip or 'unknown')}", per_ip, window)
    contact_over = _over_limit(f"contact:{_contact_hash(contact)}", per_contact, window)
    if ip_over or contact_over:
        logger.info("portal link request over the rate limit")
        return
    patients, channel = _find_patients(contact)
    if channel is None:  # neither an email address nor a mobile number: no patients either
        return
    for patient in patients:
        try:
            signin_link_send(patient=patient, channel=channel, by=None)
        except (ValidationError, SmsUnavailableError, OSError) as exc:
            # Logged without the contact or the patient: the id of the failure is enough to look up.
            logger.warning("portal link request could not be sent: %s", type(exc).__name__)


@dataclass
class VerifyResult:
    patient: Patient | None = None
    valid: bool = False  # the link exists, is unused, unexpired and not locked
    attempts_left: int = 0


def signin_link_get_valid(*, token_sha256: str) -> SignInLink | None:
    now = timezone.now()
    return (
        SignInLink.objects.select_related("patient__clinic")
        .filter(token_hash=token_sha256, used_at__isnull=True, locked_at__isnull=True, expires_at__gt=now)
        .first()
    )


def signin_link_clinic(*, token_sha256: str) -> Clinic | None:
    """The clinic of a link, used or not: enough to show its phone number, nothing about the patient."""
    link = SignInLink.objects.select_related("patient__clinic").filter(token_hash=token_sha256).first()
    return link.patient.clinic if link is not None else None


def signin_link_verify(*, token_sha256: str, birth_date: dt.date) -> VerifyResult:
    """Check the date of birth given for a link; use the link up when it matches.

    A wrong date counts against the link and the third one locks it for good, even for a right date
    afterwards. The row is locked while checked so two tabs cannot both use one link.
    """
    now = timezone.now()
    with transaction.atomic():
        link = (
            SignInLink.objects.select_for_update()
            .filter(token_hash=token_sha256, used_at__isnull=True, locked_at__isnull=True, expires_at__gt=now)
            .first()
        )
        if link is None:
            return VerifyResult()
        patient = Patient.objects.select_related("clinic").get(pk=link.patient_id)
        if patient.birth_date == birth_date:
            SignInLink.objects.filter(pk=link.pk).update(used_at=now)
            return VerifyResult(patient=patient, valid=True)
        attempts = link.failed_attempts + 1
        locked_at = now if attempts >= MAX_BIRTH_DATE_ATTEMPTS else None
        SignInLink.objects.filter(pk=link.pk).update(failed_attempts=F("failed_attempts") + 1, locked_at=locked_at)
        return VerifyResult(valid=locked_at is None, attempts_left=max(0, MAX_BIRTH_DATE_ATTEMPTS - attempts))


def portal_item_confirm(*, patient: Patient, item: ChecklistItem, evidence: dict[str, Any]) -> ChecklistItem:
    """The patient confirms one of their own items; the nurse then accepts it on the staff side."""
    if item.checklist.surgery.patient_id != patient.pk:
        # The views fetch items through the patient already; this is the belt to those braces.
        raise ValidationError({"item": "This item does not belong to you."})
    return item_patient_confirm(item=item, evidence={**evidence, "via": "portal"})


def portal_channels_update(*, patient: Patient, email: bool, sms: bool) -> Patient:
    """The patient's reminder channels. Turning texts on here is an explicit opt-in (consent)."""
    values: dict[str, Any] = {"channel_email": email, "channel_sms": sms}
    if sms:
        if not patient.mobile:
            raise ValidationError({"sms": _("We have no mobile number for you. Call the clinic to add one.")})
        values["sms_consent"] = True
        patient.sms_opted_out_at = None  # saved by patient_update, in the same history row
    patient._change_reason = "Reminder channels changed by the patient in the portal"
    return patient_update(patient=patient, by=None, **values)


def portal_sms_stop(*, patient: Patient) -> Patient:
    """Stop all texts, as a STOP reply would. The history of the patient row keeps the change."""
    if patient.sms_opted_out_at is None:
        patient.sms_opted_out_at = timezone.now()  # saved by patient_update, in the same history row
    patient._change_reason = "Texts stopped by the patient in the portal"
    return patient_update(patient=patient, by=None, channel_sms=False)


def portal_language_set(*, patient: Patient, language: str) -> Patient:
    if language not in dict(settings.LANGUAGES):
        raise ValidationError({"language": "Choose English or Spanish."})
    if patient.language == language:
        return patient
    patient._change_reason = "Language changed by the patient in the portal"
    return patient_update(patient=patient, by=None, language=language)
