"""Every URL pattern of the project, taken from the resolver, refuses an anonymous visitor.

New URLs are covered automatically: a view that forgets its check fails here. The short list of
public URLs is explicit below.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# Names (namespace:name) that anyone may open, each for a reason.
PUBLIC = {
    "healthz",  # load balancers; shows no patient data
    "favicon",  # the site's icon
    "accounts:login",
    "accounts:logout",  # POST only; logging out nobody is harmless
    "admin:login",
    "admin:logout",
    "admin:password_reset",
    "portal:start",  # request a sign-in link (answers the same whether or not the contact exists)
    "portal:sent",
    "portal:link_open",  # a sign-in link: stores the token, redirects to the date-of-birth check
    "portal:verify",  # asks for the date of birth; without a token in the session it sends you back
    "portal:language",
    "portal:sign_out",
    "api:schema",  # the OpenAPI description of the API: no data
    "api:docs",
    "fhir:metadata",  # the FHIR CapabilityStatement: what the server offers, no data
    "reminders:twilio-status",  # Twilio webhooks: their own signature check answers 403
    "reminders:twilio-inbound",
    "reminders:unsubscribe",  # RFC 8058 one-click: the token in the URL is the authorization (400 otherwise)
    "workspace:dashboard_css",  # the dashboard charts' stylesheet, built by pygal: no data, like a static file
}
REFUSED = {301, 302, 401, 403, 404, 405}
SAMPLE = {"uuid": "00000000-0000-4000-8000-000000000000", "token": "A" * 43}


def walk(patterns: list, prefix: str = "", namespace: str = "") -> list[tuple[str, str]]:
    found = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            found += walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
            found.append((prefix + str(entry.pattern), name))
    return found


def sample_path(pattern: str) -> str:
    path = pattern.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")
    path = re.sub(
        r"<(?:(\w+):)?(\w+)>",
        lambda m: SAMPLE.get(m.group(2), "1" if m.group(1) in ("int", None) and "id" in m.group(2) else "x"),
        path,
    )
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: SAMPLE.get(m.group(1), "x"), path)
    return "/" + path


ALL = walk(get_resolver().url_patterns)
PROTECTED = [p for p in ALL if p[1] not in PUBLIC]


def test_the_walk_finds_the_whole_product() -> None:
    names = {name for _, name in ALL}
    for expected in (
        "healthz",
        "workspace:board",
        "workspace:patient",
        "portal:me",
        "api:patients",
        "audit:access_log",
    ):
        assert expected in names
    assert len(ALL) > 60


PROTECTED = [p for p in ALL if p[1] not in PUBLIC]


@pytest.mark.parametrize(("pattern", "name"), PROTECTED, ids=[p[1] or p[0] for p in PROTECTED])
def test_anonymous_is_refused(pattern: str, name: str) -> None:
    client = Client(enforce_csrf_checks=True)
    path = sample_path(pattern)
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        assert response.status_code in REFUSED, f"{method.upper()} {path} ({name}) -> {response.status_code}"
        if response.status_code in (301, 302):
            assert "login" in response["Location"] or "/p/" in response["Location"], response["Location"]
