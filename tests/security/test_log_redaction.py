"""No portal sign-in token in any request log: Django's own request logging and gunicorn's access log."""

from __future__ import annotations

import logging

import pytest

from core.logredact import RedactingGunicornLogger, RedactSecretsFilter, redact

pytestmark = pytest.mark.django_db
TOKEN = "Abcdefghijklmnop_qrstuvwxyz-0123456789ABCDEFG"


def test_the_console_handler_redacts_django_request_lines(client, caplog):
    # The handler every logger writes through, as the settings configure it.
    handlers = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecretsFilter) for f in h.filters)]
    assert handlers, "the console handler carries the redaction filter"
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.get(f"/p/in/{TOKEN}/x")  # no such route: django.request logs "Not Found: <path>"
    records = [r for r in caplog.records if r.name == "django.request"]
    assert records, "django.request logged the 404"
    for record in records:
        assert handlers[0].filter(record)
        line = handlers[0].format(record)
        assert TOKEN not in line and "/p/in/<token>" in line


def test_gunicorn_access_log_atoms_are_redacted():
    from gunicorn.config import Config

    logger = RedactingGunicornLogger(Config())

    class Req:
        method, path, query, uri, version = "GET", f"/p/in/{TOKEN}", "", f"/p/in/{TOKEN}", (1, 1)
        headers: list = []

    class Resp:
        status, sent, headers = "302 Found", 0, []

    environ = {
        "REQUEST_METHOD": "GET",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "RAW_URI": f"/p/in/{TOKEN}",
        "HTTP_REFERER": f"https://x/p/in/{TOKEN}",
    }
    import datetime as dt

    atoms = logger.atoms(Resp(), Req(), environ, dt.timedelta(seconds=0))
    assert TOKEN not in "".join(str(v) for v in atoms.values())
    assert redact(f"GET /p/in/{TOKEN} HTTP/1.1") == "GET /p/in/<token> HTTP/1.1"
