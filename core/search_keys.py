"""Opaque search keys: a search's terms stay on the server, the URL carries a random key.

A name or record number typed into a search would otherwise sit in the URL, and so in the browser
history, proxies and every request log. The form posts the terms; the view keeps them in the
session under a random key and redirects to ``?s=<key>``, which pages and reloads use. A key is
only meaningful in the session that made it.
"""

from __future__ import annotations

import secrets

from django.http import HttpRequest

SESSION_KEY = "search_keys"
KEEP = 20  # per session: the latest searches, enough for back and forward


def search_key_store(*, request: HttpRequest, terms: dict[str, str]) -> str:
    key = secrets.token_urlsafe(12)
    stored = dict(request.session.get(SESSION_KEY, {}))
    stored[key] = {name: str(value) for name, value in terms.items()}
    request.session[SESSION_KEY] = dict(list(stored.items())[-KEEP:])
    return key


def search_key_terms(*, request: HttpRequest, key: str | None) -> dict[str, str] | None:
    """The terms stored under ``key`` in this session, or ``None`` (unknown, expired, another session)."""
    if not key:
        return None
    return request.session.get(SESSION_KEY, {}).get(key)
