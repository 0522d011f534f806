"""Real local servers standing in for the providers: an SMTP server (aiosmtpd) and an HTTP server
that answers like Twilio's Messages API. Both record what they received and can be told to fail.

Used by the reminder tests and by ``bench/reminders.py``; never by the application.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.parser
import email.policy
import json
import threading
import time
import uuid
from collections.abc import Callable
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devtools.processes import free_port

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-twilio-auth-token"  # noqa: S105 - the stand-in's own, checked by webhook tests
FROM_NUMBER = "+15005550006"


class SmtpRecorder:
    """aiosmtpd handler: records accepted messages; ``fail`` queues 4xx/5xx answers to DATA.

    Messages are kept as received and parsed when a test reads them: parsing every one as it
    arrives made this server, not the code under test, the bottleneck of the benchmark.
    """

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        self._parsed: list[email.message.Message] = []
        self.fail: list[str] = []
        self.reject_rcpt: dict[str, str] = {}
        self.before_accept: Callable[[email.message.Message], bool] | None = None
        # Called once a message is recorded, before the "250" answer (e.g. the test kills the sender:
        # the server holds the message, the sender never learns it).
        self.after_accept: Callable[[bytes], None] | None = None
        self.lock = threading.RLock()  # a before_accept hook may read ``messages``

    @property
    def messages(self) -> list[email.message.Message]:
        with self.lock:
            for content in self.raw[len(self._parsed) :]:
                self._parsed.append(email.message_from_bytes(content, policy=email.policy.default))
            return list(self._parsed)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.reject_rcpt:
            return self.reject_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            if self.fail:
                return self.fail.pop(0)
            # A hook may decide not to accept (e.g. the test kills the sender before the answer).
            if self.before_accept is not None:
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                if self.before_accept(message) is False:
                    return "451 Not accepted"
            self.raw.append(envelope.content)
        if self.after_accept is not None:
            self.after_accept(envelope.content)
        return "250 Message accepted for delivery"

    def reminder_ids(self) -> list[str]:
        with self.lock:
            raw = list(self.raw)
        headers = (email.parser.BytesHeaderParser().parsebytes(content) for content in raw)
        return [h["Reminder-Id"] for h in headers if h["Reminder-Id"]]


class SmtpServer:
    def __init__(self) -> None:
        self.handler = SmtpRecorder()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[email.message.Message]:
        return self.handler.messages


class FakeTwilio(ThreadingHTTPServer):
    """Answers like Twilio's Messages API: create, fetch by SID, list filtered by To and DateSent."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", free_port()), _TwilioHandler)
        self.messages: list[dict] = []
        self.lock = threading.Lock()
        self.fail_500 = 0  # answer this many creates with HTTP 500
        self.timeouts = 0  # record, then stall this many creates past the client's timeout
        self.stall_seconds = 3.0
        self.opted_out: set[str] = set()  # numbers that get error 21610
        self.after_record: Callable[[dict], None] | None = None
        self.requests: list[tuple[str, str]] = []

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeTwilio:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def references(self) -> list[str]:
        with self.lock:
            return [m["reference"] for m in self.messages]


def _resource(message: dict) -> dict:
    return {
        "sid": message["sid"],
        "account_sid": ACCOUNT_SID,
        "to": message["to"],
        "from": message["from"],
        "body": message["body"],
        "status": "queued",
        "direction": "outbound-api",
        "num_segments": "1",
        "date_created": format_datetime(message["created"], usegmt=True),
        "date_updated": format_datetime(message["created"], usegmt=True),
        "date_sent": format_datetime(message["created"], usegmt=True),
        "api_version": "2010-04-01",
        "error_code": None,
        "error_message": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{message['sid']}.json",
    }


class _TwilioHandler(BaseHTTPRequestHandler):
    server: FakeTwilio
    # Keep-alive, as Twilio's API: a client reuses its connection instead of one per message.
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: with Nagle's algorithm the body would wait for the
    # client's delayed ACK (40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        self.server.requests.append(("POST", parts.path))
        if not parts.path.endswith("/Messages.json"):
            return self._json(404, {"code": 20404, "message": "Not found", "status": 404})
        srv = self.server
        with srv.lock:
            if srv.fail_500:
                srv.fail_500 -= 1
                return self._json(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
            if form.get("To") in srv.opted_out:
                return self._json(
                    400,
                    {
                        "code": 21610,
                        "message": "Attempt to send to unsubscribed recipient",
                        "status": 400,
                        "more_info": "https://www.twilio.com/docs/errors/21610",
                    },
                )
            callback = form.get("StatusCallback", "")
            reference = parse_qs(urlsplit(callback).query).get("ref", [""])[0]
            message = {
                "sid": "SM" + uuid.uuid4().hex,
                "to": form.get("To", ""),
                "from": form.get("From", ""),
                "body": form.get("Body", ""),
                "status_callback": callback,
                "reference": reference,
                "created": dt.datetime.now(dt.UTC),
            }
            srv.messages.append(message)
            stall = srv.timeouts > 0
            if stall:
                srv.timeouts -= 1
        if srv.after_record is not None:
            srv.after_record(message)
        if stall:
            time.sleep(srv.stall_seconds)
        with contextlib.suppress(OSError):  # the client gave up or was killed
            self._json(201, _resource(message))

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.server.requests.append(("GET", parts.path))
        with self.server.lock:
            messages = list(self.server.messages)
        if parts.path.endswith("/Messages.json"):
            if "To" in query:
                messages = [m for m in messages if m["to"] == query["To"][0]]
            return self._json(
                200,
                {
                    "messages": [_resource(m) for m in messages],
                    "next_page_uri": None,
                    "page": 0,
                    "page_size": 50,
                    "first_page_uri": parts.path,
                    "previous_page_uri": None,
                    "uri": self.path,
                    "start": 0,
                    "end": 0,
                },
            )
        sid = parts.path.rsplit("/", 1)[-1].removesuffix(".json")
        for m in messages:
            if m["sid"] == sid:
                return self._json(200, _resource(m))
        return self._json(404, {"code": 20404, "message": "Not found", "status": 404})


def provider_settings(smtp: SmtpServer | None, sms: FakeTwilio | None) -> dict:
    """Django settings pointing at the fakes (for override_settings)."""
    values: dict = {"REMINDERS_SEND_TIMEOUT": 1}
    if smtp is not None:
        values.update(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=smtp.port,
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
        )
    if sms is not None:
        values.update(
            SMS_BACKEND="twilio",
            TWILIO_API_BASE=sms.base_url,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_FROM_NUMBER=FROM_NUMBER,
        )
    return values


def provider_env(smtp: SmtpServer, sms: FakeTwilio) -> dict[str, str]:
    """The same, as environment variables for a worker subprocess (read by config.settings)."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp.port),
        "SMS_BACKEND": "twilio",
        "TWILIO_API_BASE": sms.base_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "REMINDERS_SEND_TIMEOUT": "2",
    }
