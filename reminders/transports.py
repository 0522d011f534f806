"""Transports: one small interface per channel, errors that say whether a retry can help.

``sms_transport().send(to=..., body=..., reference=...) -> provider message id``
``email_transport().send(message) -> Message-ID``

Both raise ``TransportError(message, permanent)``. ``maybe_sent`` is set when the request may have
reached the provider although no answer came back (a read timeout): the caller must reconcile
before sending again. No patient data is logged here: only lengths, masked numbers and codes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import smtplib
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

logger = logging.getLogger(__name__)
_local = threading.local()

# Twilio error codes after which sending again to the same number cannot succeed.
# 21610: the recipient replied STOP (unsubscribed); 21211/21614: invalid or non-mobile number;
# 21408/21612: region or carrier not reachable from our number; 30004/30005/30006: blocked,
# unknown or landline destination.
TWILIO_PERMANENT_CODES = frozenset({21211, 21408, 21610, 21612, 21614, 30004, 30005, 30006})
TWILIO_UNSUBSCRIBED = 21610
# In the order requests reads them.
_CA_BUNDLE_VARS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class TransportError(Exception):
    """A send that did not succeed. ``permanent``: retrying the same message cannot help."""

    def __init__(
        self, message: str, permanent: bool = False, *, code: int | None = None, maybe_sent: bool = False
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code
        self.maybe_sent = maybe_sent

    def __str__(self) -> str:
        return self.message


def mask_number(number: str) -> str:
    return f"***{number[-4:]}" if number else ""


# --- SMS --------------------------------------------------------------------------------------


class SmsTransport(Protocol):
    def send(self, *, to: str, body: str, reference: str) -> str: ...

    def find(self, *, to: str, body: str, since: dt.datetime) -> list[str]:
        """Provider ids of the messages accepted with this body for this number since ``since``, oldest first.

        The caller skips ids already credited to another reminder: a provider message is never
        credited twice.
        """
        ...


@dataclass
class ConsoleSmsTransport:
    """Development: texts are written to files under VAR_DIR/sms (never to the log)."""

    folder: Path

    def send(self, *, to: str, body: str, reference: str) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        sid = f"console-{uuid.uuid4().hex}"
        (self.folder / f"{sid}.txt").write_text(f"To: {to}\nReference: {reference}\n\n{body}\n", encoding="utf-8")
        logger.info("sms written to file sid=%s to=%s chars=%d", sid, mask_number(to), len(body))
        return sid

    def find(self, *, to: str, body: str, since: dt.datetime) -> list[str]:
        if not self.folder.exists():
            return []
        wanted = f"To: {to}\n"
        found = []
        for path in self.folder.glob("console-*.txt"):
            modified = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC)
            text = path.read_text(encoding="utf-8")
            if modified >= since and text.startswith(wanted) and text.rstrip("\n").endswith(body):
                found.append((modified, path.stem))
        return [sid for _, sid in sorted(found)]


class TwilioSmsTransport:
    """Twilio's official client, pointed at ``TWILIO_API_BASE`` (a local fake in the tests)."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base: str,
        status_callback: str = "",
        timeout: float = 10.0,
    ) -> None:
        import requests.utils
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        http_client = TwilioHttpClient(timeout=timeout)
        # requests reads the environment (proxies, no_proxy, CA bundle) again for every message:
        # with a proxy set that was 5 % of a worker's CPU per text (issue 18). The provider's
        # address is fixed, so the same answer is worked out once, here, and given to the session.
        session = http_client.session
        session.proxies.update(requests.utils.get_environ_proxies(api_base))  # honours no_proxy
        ca_bundle = next((os.environ[name] for name in _CA_BUNDLE_VARS if os.environ.get(name)), None)
        if ca_bundle:
            session.verify = ca_bundle
        session.trust_env = False
        self.client = Client(account_sid, auth_token, http_client=http_client)
        # Every REST domain object builds its URLs from ``base_url``; the Messages API lives on ``api``.
        self.client.api.base_url = api_base.rstrip("/")
        self.from_number = from_number
        self.status_callback = status_callback

    def _error(self, exc: Exception) -> TransportError:
        import requests
        from twilio.base.exceptions import TwilioRestException

        if isinstance(exc, TwilioRestException):
            code = exc.code
            permanent = code in TWILIO_PERMANENT_CODES or (400 <= exc.status < 500 and exc.status != 429)
            return TransportError(f"Twilio {exc.status} error {code or '-'}", permanent, code=code)
        if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.ConnectionError) and not isinstance(
            exc, requests.exceptions.ReadTimeout
        ):
            return TransportError(f"SMS provider unreachable ({type(exc).__name__})", False)
        if isinstance(exc, requests.exceptions.Timeout):
            # The request left: the provider may have accepted it. Reconcile before a retry.
            return TransportError("SMS provider timed out", False, maybe_sent=True)
        return TransportError(f"SMS provider error ({type(exc).__name__})", False, maybe_sent=True)

    def send(self, *, to: str, body: str, reference: str) -> str:
        import requests
        from twilio.base.exceptions import TwilioRestException

        kwargs = {"to": to, "from_": self.from_number, "body": body}
        if self.status_callback:
            sep = "&" if "?" in self.status_callback else "?"
            kwargs["status_callback"] = f"{self.status_callback}{sep}ref={reference}"
        try:
            message = self.client.messages.create(**kwargs)
        except (TwilioRestException, requests.exceptions.RequestException) as exc:
            raise self._error(exc) from exc
        logger.info("sms accepted sid=%s to=%s chars=%d", message.sid, mask_number(to), len(body))
        return str(message.sid)

    def find(self, *, to: str, body: str, since: dt.datetime) -> list[str]:
        """Reconciliation: the provider's messages with this body to this number since ``since``.

        Twilio's Messages list filters by recipient and date; the body is compared here. Twilio's
        message resource carries no reference of ours (the status callback URL is not part of it),
        so the words and the time are all a look-up can match on: the planner and the send step
        make sure no two texts with the same words go to one number in a day, and the caller
        skips ids already credited.
        """
        import requests
        from twilio.base.exceptions import TwilioRestException

        try:
            messages = self.client.messages.list(to=to, date_sent_after=since, limit=50)
        except (TwilioRestException, requests.exceptions.RequestException) as exc:
            raise self._error(exc) from exc
        found = []
        for message in messages:
            created = message.date_created or message.date_sent
            if message.body == body and (created is None or created >= since):
                found.append((created or since, str(message.sid)))
        return [sid for _, sid in sorted(found)]


def sms_transport() -> SmsTransport:
    """The configured SMS transport (``SMS_BACKEND``: console or twilio).

    One per thread and configuration, so that its HTTP connection to the provider is reused.
    """
    backend = settings.SMS_BACKEND
    if backend == "twilio":
        callback = getattr(settings, "REMINDERS_TWILIO_STATUS_CALLBACK", "")
        key = (
            settings.TWILIO_ACCOUNT_SID,
            settings.TWILIO_AUTH_TOKEN,
            settings.TWILIO_FROM_NUMBER,
            settings.TWILIO_API_BASE,
            callback,
            float(getattr(settings, "REMINDERS_SEND_TIMEOUT", 10)),
        )
        cache = _local.__dict__.setdefault("sms", {})
        if key not in cache:
            cache[key] = TwilioSmsTransport(
                account_sid=key[0],
                auth_token=key[1],
                from_number=key[2],
                api_base=key[3],
                status_callback=key[4],
                timeout=key[5],
            )
        return cache[key]
    if backend == "console":
        return ConsoleSmsTransport(folder=Path(settings.VAR_DIR) / "sms")
    raise ValueError(f"SMS_BACKEND must be 'console' or 'twilio', not {backend!r}")


# --- Email ------------------------------------------------------------------------------------


class EmailTransport:
    """Django's email framework (SMTP, file, locmem, or an ESP through django-anymail).

    The connection is kept open between sends (one per thread: see ``email_transport``) and
    checked with NOOP after a pause, so a worker does not pay a TCP and SMTP handshake per email.
    """

    IDLE_CHECK_SECONDS = 20.0

    def __init__(self, *, timeout: float | None = None) -> None:
        self.timeout = timeout
        self._connection = None
        self._last_used = 0.0

    def _open(self):  # noqa: ANN202 - a Django email backend
        now = time.monotonic()
        conn = self._connection
        if conn is not None and now - self._last_used > self.IDLE_CHECK_SECONDS:
            smtp = getattr(conn, "connection", None)
            try:
                if smtp is not None:
                    smtp.noop()
            except (smtplib.SMTPException, OSError):
                self.close()
                conn = None
        if conn is None:
            conn = get_connection(fail_silently=False, timeout=self.timeout) if self.timeout else get_connection()
            conn.open()
            self._connection = conn
        self._last_used = now
        return conn

    def close(self) -> None:
        if self._connection is not None:
            # Closing a broken connection may fail; it is dropped anyway.
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def send(self, message: EmailMessage) -> str:
        """Send one message; return its Message-ID (the ESP's id when anymail gives one)."""
        from django.core.mail.message import make_msgid

        message.extra_headers.setdefault("Message-ID", make_msgid(domain="preop.local"))
        try:
            sent = self._open().send_messages([message])
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            permanent = all(500 <= c < 600 for c in codes)
            raise TransportError(f"SMTP refused the recipient ({', '.join(map(str, codes))})", permanent) from exc
        except smtplib.SMTPResponseException as exc:
            self.close()
            permanent = 500 <= exc.smtp_code < 600
            raise TransportError(f"SMTP {exc.smtp_code} error", permanent, code=exc.smtp_code) from exc
        except TimeoutError as exc:  # socket.timeout is TimeoutError
            self.close()
            raise TransportError("SMTP server timed out", False, maybe_sent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TransportError(f"SMTP server unreachable ({type(exc).__name__})", False) from exc
        except Exception as exc:
            self.close()
            anymail = _anymail_error(exc)
            if anymail is None:
                raise
            raise anymail from exc
        if not sent:
            raise TransportError("The email backend did not send the message", False)
        status = getattr(message, "anymail_status", None)
        if status is not None and getattr(status, "message_id", None):
            return str(status.message_id)
        return str(message.extra_headers["Message-ID"])


def _anymail_error(exc: Exception) -> TransportError | None:
    try:
        from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
    except ImportError:  # pragma: no cover - anymail is a pinned dependency
        return None
    if isinstance(exc, AnymailRecipientsRefused):
        return TransportError("The email provider refused the recipient", True)
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None) or 0
        permanent = 400 <= status < 500 and status != 429
        return TransportError(f"Email provider error {status or '-'}", permanent, code=status or None)
    return None


def email_transport() -> EmailTransport:
    """The configured email transport (``EMAIL_BACKEND`` and friends, with the send timeout).

    One per thread and configuration: its SMTP connection is reused, never shared between threads.
    """
    key = (
        settings.EMAIL_BACKEND,
        getattr(settings, "EMAIL_HOST", ""),
        getattr(settings, "EMAIL_PORT", 0),
        getattr(settings, "EMAIL_HOST_USER", ""),
        getattr(settings, "EMAIL_USE_TLS", False),
        getattr(settings, "EMAIL_USE_SSL", False),
        float(getattr(settings, "REMINDERS_SEND_TIMEOUT", 10)),
    )
    cache = _local.__dict__.setdefault("email", {})
    if key not in cache:
        cache[key] = EmailTransport(timeout=key[-1])
    return cache[key]
