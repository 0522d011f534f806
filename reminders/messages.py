"""What reminders say: SMS texts and emails rendered from templates, in the patient's language.

Clinical reference section 7: previews stay minimal (clinic, date/time, "follow your preparation
instructions", the portal link, a phone number). No diagnosis, procedure or drug name in a text
unless the patient opted in to detailed texts (``Patient.sms_detailed``), at most 160 characters,
the clinic named, and every reminder text ends with how to stop. Texts are kept in the GSM-7
alphabet (accents that it lacks are dropped) so that 160 characters is one SMS segment.

A message to a parent or guardian (``guardian``) is written for them, in their language, from the
``parent`` templates: it speaks of "your child" (or "the person you care for", for an adult who
needs a guardian); a text names the child only when that guardian opted in to detailed texts, an
email greets the guardian and names the child by first name, as a patient's email names them.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zoneinfo
from collections.abc import Sequence
from typing import Any

from babel.dates import format_datetime
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from core.text import render_text
from patients.models import Clinic, Guardian, Patient
from prep.models import ChecklistItem

SMS_MAX = 160
LANGUAGES = ("en", "es")
SMS_KINDS = ("tests", "hold", "fasting", "arrival", "task", "several")
SMS_REPLY_KINDS = ("stop", "start", "help")
EMAIL_KINDS = ("tests", "hold", "fasting", "arrival", "task")
CLINIC_NAME_MAX = 40

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)


def gsm7(text: str) -> str:
    """Replace characters outside the GSM-7 alphabet by their unaccented letter (á -> a)."""
    out = []
    for ch in text:
        if ch in _GSM7:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        out.append(base if base and all(c in _GSM7 for c in base) else "?")
    return "".join(out)


def language_of(patient: Patient, guardian: Guardian | None = None) -> str:
    person = guardian if guardian is not None else patient
    return person.language if person.language in LANGUAGES else "en"


# How a message to a guardian names the person it is about, when it does not use their name.
WARD_WORDS = {
    ("en", True): "your child",
    ("es", True): "su hijo/hija",
    ("en", False): "the person you care for",
    ("es", False): "la persona a su cargo",
}


def ward_words(patient: Patient, language: str, on: dt.date) -> str:
    """'your child' for a minor (on the patient's local date ``on``), else words for an adult."""
    return WARD_WORDS[(language, on < patient.adult_from)]


def when_text(value: dt.datetime, tz: zoneinfo.ZoneInfo, language: str, *, twelve_hour: bool = True) -> str:
    """The clinic's clock: 2:30 PM on a 12-hour clinic (US), 14:30 otherwise, in either language."""
    time = "h:mm a" if twelve_hour else "HH:mm"
    pattern = f"EEE MMM d, {time}" if language == "en" else f"EEE d MMM, {time}"
    return format_datetime(value.astimezone(tz), pattern, locale="en_US" if language == "en" else "es")


def portal_link() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + "/p/"


def item_title(item: ChecklistItem, language: str) -> str:
    template = item.template_item
    title = (template.patient_title_es if language == "es" else template.patient_title_en) if template else item.title
    return title.replace("{drug}", item.drug_name or "")


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def sms_render(
    *,
    kind: str,
    clinic: Clinic,
    patient: Patient,
    items: Sequence[ChecklistItem],
    guardian: Guardian | None = None,
) -> str:
    """The text of a reminder SMS, at most 160 GSM-7 characters (to ``guardian`` when given)."""
    language = language_of(patient, guardian)
    tz = patient.tz
    first = min(items, key=lambda i: i.due_at) if items else None
    detailed = guardian.sms_detailed if guardian is not None else patient.sms_detailed
    context = {
        "clinic": clinic.name[:CLINIC_NAME_MAX].strip(),
        "when": when_text(first.due_at, tz, language, twelve_hour=clinic.clock_12h) if first else "",
        "count": len(items),
        "detailed": detailed,
        "drug": (first.drug_name if first and detailed else ""),
        "titles": ", ".join(item_title(i, language) for i in items) if detailed else "",
        "link": portal_link(),
    }
    name = f"reminders/sms/{kind}.{language}.txt"
    if guardian is not None:
        on = (first.due_at if first else dt.datetime.now(tz=dt.UTC)).astimezone(tz).date()
        context.update(kind=kind, ward=ward_words(patient, language, on), child=patient.first_name if detailed else "")
        name = f"reminders/sms/parent.{language}.txt"
    # Shorten in steps that keep what matters: drop details, then the link, then shorten the name.
    attempts = [context, {**context, "detailed": False, "drug": "", "titles": "", "child": ""}]
    attempts.append({**attempts[-1], "link": ""})
    attempts.append({**attempts[-1], "clinic": clinic.name[:20].strip()})
    for ctx in attempts:
        text = gsm7(_squash(render_text(name, ctx)))
        if len(text) <= SMS_MAX:
            return text
    return text[: SMS_MAX - 1] + "."  # pragma: no cover - the shortest form fits (a test renders them all)


def sms_reply_render(*, kind: str, clinic: Clinic | None, language: str = "en") -> str:
    """Replies to STOP (the one confirmation), START and HELP."""
    language = language if language in LANGUAGES else "en"
    context = {
        "clinic": clinic.name[:CLINIC_NAME_MAX].strip() if clinic else "Pre-op reminders",
        "phone": clinic.phone if clinic else "",
    }
    text = gsm7(_squash(render_text(f"reminders/sms/{kind}.{language}.txt", context)))
    return text[:SMS_MAX]


class PreparedEmail(EmailMultiAlternatives):
    """An email whose MIME message is built and serialised once, by ``freeze``.

    Django's SMTP backend builds the message and its bytes again inside ``send_messages``, after
    the send step's hand-over: for a reminder that was half of the CPU an email costs, spent
    twice. Once frozen, ``message()`` returns the same object, whose bytes are kept per
    serialisation (the SMTP backend asks for CRLF line ends, the file backend for LF).
    """

    _frozen: Any = None

    def freeze(self) -> None:
        mime = super().message()
        serialise = mime.as_bytes
        cache: dict[tuple[object, ...], bytes] = {}

        def as_bytes(*args: Any, **kwargs: Any) -> bytes:
            key = (args, tuple(sorted(kwargs.items())))
            if key not in cache:
                cache[key] = serialise(*args, **kwargs)
            return cache[key]

        mime.as_bytes = as_bytes
        as_bytes(linesep="\r\n")  # what the SMTP backend sends: built now, before the hand-over
        self._frozen = mime

    def message(self) -> Any:  # a SafeMIME message, as Django's own
        return self._frozen if self._frozen is not None else super().message()


def email_render(
    *,
    kind: str,
    clinic: Clinic,
    patient: Patient,
    items: Sequence[ChecklistItem],
    reference: str,
    guardian: Guardian | None = None,
) -> PreparedEmail:
    """Subject, text and HTML from ``templates/emails/<kind>/``, with the ``Reminder-Id`` header.

    To a guardian: ``templates/emails/parent/``, the kind's sentence written for a parent.
    """
    language = language_of(patient, guardian)
    tz = patient.tz
    first = min(items, key=lambda i: i.due_at) if items else None
    context: dict[str, Any] = {
        "clinic": clinic,
        "patient_first_name": patient.first_name,
        "when": when_text(first.due_at, tz, language, twelve_hour=clinic.clock_12h) if first else "",
        "detailed": patient.sms_detailed,
        "titles": [item_title(i, language) for i in items],
        "link": portal_link(),
        "language": language,
    }
    base = f"emails/{kind}"
    if guardian is not None:
        on = (first.due_at if first else dt.datetime.now(tz=dt.UTC)).astimezone(tz).date()
        context.update(
            kind=kind,
            guardian_first_name=guardian.first_name,
            child=patient.first_name,
            minor=on < patient.adult_from,
            ward=ward_words(patient, language, on),
            detailed=guardian.sms_detailed,
        )
        base = "emails/parent"
    subject = _squash(render_text(f"{base}/subject.{language}.txt", context))
    text = render_text(f"{base}/body.{language}.txt", context)
    html = render_to_string(f"{base}/body.{language}.html", context)
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "preop.local"
    message = PreparedEmail(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[guardian.email if guardian is not None else patient.email],
        headers={
            "Reminder-Id": reference,
            # The same Message-ID on a resend lets receiving systems drop a duplicate.
            "Message-ID": f"<reminder-{reference}@{domain}>",
            "Auto-Submitted": "auto-generated",
            # RFC 8058 one-click unsubscribe: mail providers POST "List-Unsubscribe=One-Click" to
            # the URL, which turns this patient's email reminders off without a sign-in.
            "List-Unsubscribe": f"<{unsubscribe_url(reference)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    message.attach_alternative(html, "text/html")
    return message


UNSUBSCRIBE_SALT = "reminders.unsubscribe"


def unsubscribe_token(reference: str) -> str:
    """The token of a reminder email's unsubscribe link: the reminder's random public id and a MAC.

    Nothing in it names or numbers the patient; only the server can tie it to one.
    """
    from django.utils.crypto import salted_hmac

    mac = salted_hmac(UNSUBSCRIBE_SALT, reference, algorithm="sha256").hexdigest()[:32]
    return f"{reference}.{mac}"


def unsubscribe_reference(token: str) -> str | None:
    """The reminder reference in a valid token, None when it was altered or is malformed."""
    from django.utils.crypto import constant_time_compare

    reference, _, mac = token.partition(".")
    if not reference or not mac:
        return None
    return reference if constant_time_compare(unsubscribe_token(reference), token) else None


def unsubscribe_url(reference: str) -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/reminders/unsubscribe/{unsubscribe_token(reference)}/"
