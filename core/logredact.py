"""Request logs without secrets: a portal sign-in token in a path is replaced before any line is written.

Django logs the path of every 4xx/5xx (``django.request``), ``runserver`` every request
(``django.server``) and gunicorn every request in its access log; a sign-in link is a live credential
until used, so none of them may keep it. The settings attach :class:`RedactSecretsFilter` to the
console handler (every logger), and ``config/gunicorn.conf.py`` uses :class:`RedactingGunicornLogger`.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# /p/in/<token> as portal/urls.py routes it (16 to 128 URL-safe characters), with or without the host.
PORTAL_TOKEN = re.compile(r"(/p/in/)[A-Za-z0-9_-]{16,128}")
REDACTED = r"\1<token>"


def redact(text: str) -> str:
    return PORTAL_TOKEN.sub(REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # gunicorn is only needed to serve
    _GunicornLogger = object


class RedactingGunicornLogger(_GunicornLogger):
    """Gunicorn's access log with the path, the request line and the referer redacted."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        # Every atom: the request line, the path, the referer and the header and environ copies of them.
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
