"""Writes for the patient portal: sign-in links, the patient's own confirmations and preferences.

A sign-in link is a random token sent to the patient; only its SHA-256 is stored. It works once,
expires (``PORTAL_LINK_TTL_HOURS``) and is locked after three wrong dates of birth.

While a patient needs a parent or guardian (under 18, or an adult staff marked), the link goes to
each guardian who receives messages, never to the patient. Signing in then asks for the patient's
date of birth AND the guardian's own year of birth. Why that second check: the link proves the
mailbox or phone; the child's date of birth is known to many (school forms, relatives, any letter
about the child), so alone it does not say the person at the screen is the parent the link was
meant for. The guardian's year of birth is theirs, known without looking anything up, not written
on the child's papers, and works for an email-only parent. (The last digits of the guardian's
mobile would not do: whoever holds the phone a texted link reached sees its number.) A wrong answer
to either counts as one of the three tries; the answer never says which one was wrong.
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
from actions.patients import guardian_update, patient_update
from core.text import render_text
from patients.models import Clinic, Guardian, Patient
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
    *, patient: Patient, channel: Literal["email", "sms"], by: User | None, guardian: Guardian | None = None
) -> tuple[SignInLink, str]:
    """A new link for ``patient`` (addressed to ``guardian``); returns the row and the token (not stored)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    link = SignInLink.objects.create(
        patient=patient,
        guardian=guardian,
        token_hash=token_hash(token),
        channel=channel,
        created_at=now,
        created_by=by,
        expires_at=now + link_ttl(),
    )
    return link, token


def signin_url(token: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("portal:link_open", kwargs={"token": token})


def _sms_body(*, patient: Patient, url: str, guardian: Guardian | None = None) -> str:
    """Minimal content (clinical reference, section 7): clinic, link, phone; no procedure or drug,
    and to a guardian not the child's name either (a lock screen shows it)."""
    clinic = patient.clinic
    hours = int(link_ttl().total_seconds() // 3600)
    values = {"clinic": clinic.name, "hours": hours, "url": url}
    if guardian is None:
        body = _("%(clinic)s: your link to your preparation (works once, for %(hours)s h): %(url)s") % values
    else:
        if _is_minor(patient):
            text = _("%(clinic)s: link to your child's preparation (once, for %(hours)s h): %(url)s")
        else:
            text = _("%(clinic)s: link for the person you care for (once, for %(hours)s h): %(url)s")
        body = text % values
        if len(body) > SMS_MAX_CHARS:
            body = text % {**values, "clinic": clinic.name[:20].strip()}
    if clinic.phone:
        with_phone = body + " " + _("Questions: %(phone)s") % {"phone": clinic.phone}
        if len(with_phone) <= SMS_MAX_CHARS:
            body = with_phone
    return body


def _is_minor(patient: Patient) -> bool:
    return timezone.now().astimezone(patient.tz).date() < patient.adult_from


def _send_email(*, patient: Patient, url: str, guardian: Guardian | None = None) -> None:
    context = {
        "patient": patient,
        "guardian": guardian,
        "minor": _is_minor(patient),
        "clinic": patient.clinic,
        "url": url,
        "hours": int(link_ttl().total_seconds() // 3600),
    }
    subject = " ".join(render_text("portal/emails/signin_link_subject.txt", context).split())
    text = render_text("portal/emails/signin_link.txt", context)
    html = render_to_string("portal/emails/signin_link.html", context)
    to = guardian.email if guardian is not None else patient.email
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to])
    message.attach_alternative(html, "text/html")
    message.send()


def _send_sms(*, patient: Patient, url: str, reference: str, guardian: Guardian | None = None) -> None:
    try:
        from reminders.transports import sms_transport  # written alongside; imported late on purpose
    except ImportError as exc:
        raise SmsUnavailableError(
            "Sign-in links cannot be sent by SMS yet: reminders.transports.sms_transport is not available."
        ) from exc
    to = guardian.mobile if guardian is not None else patient.mobile
    body = _sms_body(patient=patient, url=url, guardian=guardian)
    sms_transport().send(to=to, body=body, reference=reference)


def _check_recipient(*, patient: Patient, guardian: Guardian | None) -> None:
    """The link goes to whoever signs in for the patient today: a guardian while one is needed."""
    today = timezone.now().astimezone(patient.tz).date()
    required = patient.guardian_required_on(today)
    if guardian is None and required:
        why = "is under 18" if today < patient.adult_from else "is marked as needing a parent or guardian"
        raise ValidationError(
            {"channel": f"{patient.first_name} {why}: send the link to a parent or guardian, not to the patient."}
        )
    if guardian is not None:
        if guardian.patient_id != patient.pk:
            raise ValidationError({"guardian": "This person is not a guardian of this patient."})
        if not required:
            raise ValidationError(
                {"guardian": f"{patient.first_name} is their own contact now: send the link to them."}
            )
        if not guardian.receives_messages:
            raise ValidationError({"guardian": f"{guardian.full_name} does not receive this patient's messages."})


def signin_link_send(
    *, patient: Patient, channel: Literal["email", "sms"], by: User | None, guardian: Guardian | None = None
) -> None:
    """Create a link and send it by email or SMS, in the language of whoever receives it: the
    patient, or ``guardian`` (who must be the one to get it: see ``_check_recipient``).

    Raises ValidationError naming ``channel`` when the person cannot be reached that way.
    """
    _check_recipient(patient=patient, guardian=guardian)
    person: Patient | Guardian = guardian if guardian is not None else patient
    who = "This guardian" if guardian is not None else "This patient"
    if channel == LinkChannel.EMAIL:
        if not person.email:
            raise ValidationError({"channel": f"{who} has no email address."})
    elif channel == LinkChannel.SMS:
        if not person.mobile:
            raise ValidationError({"channel": f"{who} has no mobile number."})
        if person.sms_opted_out_at:
            raise ValidationError({"channel": f"{who} has stopped text messages (STOP)."})
    else:
        raise ValidationError({"channel": "Choose email or SMS."})
    link, token = signin_link_create(patient=patient, channel=channel, by=by, guardian=guardian)
    url = signin_url(token)
    with translation.override(person.language or "en"):
        if channel == LinkChannel.EMAIL:
            _send_email(patient=patient, url=url, guardian=guardian)
        else:
            _send_sms(patient=patient, url=url, reference=f"signin:{link.uuid}", guardian=guardian)


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


Found = list[tuple[Patient, Guardian | None]]


def _find_patients(contact: str) -> tuple[Found, Literal["email", "sms"] | None]:
    """(patient, guardian) pairs this contact signs in for: patients with it as their own contact,
    and the patients of guardians with it. Each pair is checked again when its link is sent: a
    child's own address finds the child, whose link is then refused (it goes to the guardians)."""
    contact = contact.strip()
    if "@" in contact:
        try:
            validate_email(contact)
        except ValidationError:
            return [], None
        patients = Patient.objects.select_related("clinic").filter(email__iexact=contact)
        guardians = Guardian.objects.select_related("patient__clinic").filter(
            email__iexact=contact, receives_messages=True
        )
        channel: Literal["email", "sms"] = "email"
    else:
        try:
            mobile = normalize_mobile(contact)
        except ValidationError:
            return [], None
        if not mobile:
            return [], None
        patients = Patient.objects.select_related("clinic").filter(mobile=mobile, sms_opted_out_at__isnull=True)
        guardians = Guardian.objects.select_related("patient__clinic").filter(
            mobile=mobile, sms_opted_out_at__isnull=True, receives_messages=True
        )
        channel = "sms"
    found: Found = [(p, None) for p in patients]
    found += [(g.patient, g) for g in guardians]
    return found, channel


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
    found, channel = _find_patients(contact)
    if channel is None:  # neither an email address nor a mobile number: no patients either
        return
    for patient, guardian in found:
        try:
            signin_link_send(patient=patient, channel=channel, by=None, guardian=guardian)
        except (ValidationError, SmsUnavailableError, OSError) as exc:
            # Logged without the contact or the patient: the id of the failure is enough to look up.
            logger.warning("portal link request could not be sent: %s", type(exc).__name__)


@dataclass
class VerifyResult:
    patient: Patient | None = None
    guardian: Guardian | None = None  # who signs in, when the link was a guardian's
    valid: bool = False  # the link exists, is unused, unexpired and not locked
    attempts_left: int = 0


def signin_link_get_valid(*, token_sha256: str) -> SignInLink | None:
    now = timezone.now()
    return (
        SignInLink.objects.select_related("patient__clinic", "guardian")
        .filter(token_hash=token_sha256, used_at__isnull=True, locked_at__isnull=True, expires_at__gt=now)
        .first()
    )


def signin_link_addressee_ok(*, link: SignInLink) -> bool:
    """Is the person the link was sent to still the one who signs in for its patient? Not when the
    patient turned 18 since (a guardian's link), now needs a guardian (their own link), or the
    guardian no longer receives the patient's messages."""
    try:
        _check_recipient(patient=link.patient, guardian=link.guardian)
    except ValidationError:
        return False
    return True


def signin_link_clinic(*, token_sha256: str) -> Clinic | None:
    """The clinic of a link, used or not: enough to show its phone number, nothing about the patient."""
    link = SignInLink.objects.select_related("patient__clinic").filter(token_hash=token_sha256).first()
    return link.patient.clinic if link is not None else None


def signin_link_verify(
    *, token_sha256: str, birth_date: dt.date, guardian_birth_year: int | None = None
) -> VerifyResult:
    """Check the date of birth given for a link (and, for a guardian's link, the guardian's own year
    of birth); use the link up when both match.

    A wrong answer counts against the link and the third one locks it for good, even for right
    answers afterwards. The row is locked while checked so two tabs cannot both use one link. A
    link whose recipient is no longer the one to sign in (the patient turned 18, the guardian was
    taken off the messages) is not valid.
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
        guardian = Guardian.objects.get(pk=link.guardian_id) if link.guardian_id is not None else None
        try:
            _check_recipient(patient=patient, guardian=guardian)
        except ValidationError:
            return VerifyResult()
        matches = patient.birth_date == birth_date
        if guardian is not None:
            matches = matches and guardian.birth_year == guardian_birth_year
        if matches:
            SignInLink.objects.filter(pk=link.pk).update(used_at=now)
            return VerifyResult(patient=patient, guardian=guardian, valid=True)
        attempts = link.failed_attempts + 1
        locked_at = now if attempts >= MAX_BIRTH_DATE_ATTEMPTS else None
        SignInLink.objects.filter(pk=link.pk).update(failed_attempts=F("failed_attempts") + 1, locked_at=locked_at)
        return VerifyResult(valid=locked_at is None, attempts_left=max(0, MAX_BIRTH_DATE_ATTEMPTS - attempts))


def portal_item_confirm(
    *, patient: Patient, item: ChecklistItem, evidence: dict[str, Any], guardian: Guardian | None = None
) -> ChecklistItem:
    """The patient confirms one of their own items (or ``guardian`` confirms it for them); the nurse
    then accepts it on the staff side. A guardian's confirmation says so in the evidence and in the
    item's history: who confirmed, and for whom."""
    if item.checklist.surgery.patient_id != patient.pk:
        # The views fetch items through the patient already; this is the belt to those braces.
        raise ValidationError({"item": "This item does not belong to you."})
    if guardian is not None and guardian.patient_id != patient.pk:
        raise ValidationError({"item": "This item does not belong to you."})
    evidence = {**evidence, "via": "portal"}
    confirmed_by = ""
    if guardian is not None:
        evidence.update(
            by="guardian",
            guardian=str(guardian.uuid),
            guardian_name=guardian.full_name,
            relationship=guardian.relationship,
        )
        confirmed_by = f"{guardian.full_name} ({guardian.get_relationship_display().lower()})"
    return item_patient_confirm(item=item, evidence=evidence, confirmed_by=confirmed_by)


def portal_guardian_channels_update(*, guardian: Guardian, email: bool, sms: bool) -> Guardian:
    """A guardian's own reminder channels, set by the guardian: texts on is their consent."""
    values: dict[str, Any] = {"channel_email": email, "channel_sms": sms}
    if sms:
        if not guardian.mobile:
            raise ValidationError({"sms": _("We have no mobile number for you. Call the clinic to add one.")})
        values["sms_consent"] = True
        guardian.sms_opted_out_at = None  # saved by guardian_update, in the same history row
    return _guardian_change(guardian, "Reminder channels changed by the guardian in the portal", values)


def _guardian_change(guardian: Guardian, reason: str, values: dict[str, Any]) -> Guardian:
    return guardian_update(guardian=guardian, by=None, reason=reason, **values)


def portal_guardian_sms_stop(*, guardian: Guardian) -> Guardian:
    """The guardian stops all texts to them, as a STOP reply would."""
    if guardian.sms_opted_out_at is None:
        guardian.sms_opted_out_at = timezone.now()
    return _guardian_change(guardian, "Texts stopped by the guardian in the portal", {"channel_sms": False})


def portal_guardian_language_set(*, guardian: Guardian, language: str) -> Guardian:
    if language not in dict(settings.LANGUAGES):
        raise ValidationError({"language": "Choose English or Spanish."})
    if guardian.language == language:
        return guardian
    return _guardian_change(guardian, "Language changed by the guardian in the portal", {"language": language})


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
