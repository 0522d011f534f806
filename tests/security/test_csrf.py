"""Every state-changing request without a CSRF token is refused with 403; with the token it does what the
authorization matrix says. Token-authenticated API calls carry no cookie and need no CSRF token, by design;
session-authenticated API writes do.

The routes come from the matrix table (``test_matrix.ROWS``): every POST/PUT/PATCH row there is a row here.
"""

from __future__ import annotations

import copy

import pytest
from django.conf import settings
from django.test import Client

from tests.security.conftest import World, rolled_back
from tests.security.test_matrix import ROWS, SUCCESS, Row, describe, judge, send

pytestmark = pytest.mark.django_db

# Django's CSRF middleware guards every unsafe request to a page, whether the view accepts the method or not;
# REST framework checks CSRF for session-authenticated requests to the operations that exist.
WRITES = [
    row
    for row in ROWS
    if row.verb in ("post", "put", "patch") and (not row.is_api or set(row.expected.values()) & SUCCESS)
]
# Twilio cannot send a CSRF token: its webhooks are exempt and checked by their signature instead (403 unsigned).
# Nor can a mail provider's RFC 8058 one-click POST: the unsubscribe URL's own token is checked (400 otherwise).
CSRF_EXEMPT = {"reminders:twilio-status", "reminders:twilio-inbound", "reminders:unsubscribe"}
EXEMPT_REFUSAL = {
    "reminders:twilio-status": (403, b"Twilio signature"),
    "reminders:twilio-inbound": (403, b"Twilio signature"),
    "reminders:unsubscribe": (400, b"not valid"),
}
SESSION_ROLES = ("nurse", "surgeon", "admin", "self", "other", "nurse_x", "admin_x", "anon")
SECRET = "a" * 32  # a CSRF secret; Django accepts it unmasked in the header


def role_for(row: Row) -> str:
    """A browser session for which the request would work, if there is one (else: nobody)."""
    return next((r for r in SESSION_ROLES if row.expected[r] in SUCCESS), "anon")


def enforcing(world: World, role: str) -> Client:
    """The role's browser session in a client that checks CSRF like a real browser request would be."""
    client = Client(enforce_csrf_checks=True)
    client.cookies = copy.deepcopy(world.client(role).cookies)
    return client


def test_every_write_without_a_csrf_token_is_refused(world, capsys):
    values = world.home.ids
    problems = []
    for row in WRITES:
        if row.is_api and not any(row.expected[r] in SUCCESS for r in SESSION_ROLES):
            continue  # token-only (FHIR results in): no session can write there, so there is nothing to forge
        role = role_for(row)
        client = enforcing(world, role)
        with rolled_back(client):
            response = send(client, row, values)
            # The exempt URLs refuse with their own check instead: Twilio's signature, the link's token.
            want, says = EXEMPT_REFUSAL.get(row.name, (403, b""))
            if response.status_code != want:
                problems.append(f"{role:8} {row}: no CSRF token, expected {want}, got {describe(response)}")
            elif row.name in CSRF_EXEMPT:
                assert says in response.content
        if row.name in CSRF_EXEMPT:
            continue
        # The same request with the token does what the matrix says: the 403 above was the CSRF check.
        client.cookies[settings.CSRF_COOKIE_NAME] = SECRET
        with rolled_back(client):
            response = send_with_token(client, row, values)
            patient = world.home.patient
            if not judge(
                row.expected[role], response, (patient.last_name, patient.first_name, patient.mrn, str(patient.uuid))
            ):
                problems.append(
                    f"{role:8} {row}: with the token, expected {row.expected[role]}, got {describe(response)}"
                )
    with capsys.disabled():
        print(f"\nCSRF: {len(WRITES)} state-changing routes checked without and with a token")
    assert len(WRITES) >= 50
    assert not problems, "\n".join(problems)


def send_with_token(client: Client, row: Row, values: dict[str, str]):
    original = client.defaults.copy()
    client.defaults["HTTP_X_CSRFTOKEN"] = SECRET
    try:
        return send(client, row, values)
    finally:
        client.defaults = original


def test_token_authenticated_api_writes_need_no_csrf_token(world):
    """A system with a bearer token has no cookie to forge: its writes work without any CSRF token."""
    values = world.home.ids
    api_writes = [row for row in WRITES if row.is_api and row.expected["token"] in SUCCESS]
    assert len(api_writes) >= 9
    for row in api_writes:
        client = Client(
            enforce_csrf_checks=True, HTTP_AUTHORIZATION=world.client("token").defaults["HTTP_AUTHORIZATION"]
        )
        with rolled_back(client):
            response = send(client, row, values)
            assert judge(row.expected["token"], response, (str(world.home.patient.uuid),)), (
                str(row),
                describe(response),
            )


def test_session_api_write_with_a_bearer_header_still_needs_csrf(world):
    """A forged cross-site request cannot skip the CSRF check by adding a junk Authorization header."""
    client = enforcing(world, "nurse")
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer junk.junk"
    with rolled_back(client):
        response = client.patch(
            f"/api/v1/patients/{world.home.patient.uuid}/", '{"allergies": "x"}', content_type="application/json"
        )
        assert response.status_code in (401, 403)
    world.home.patient.refresh_from_db()
    assert world.home.patient.allergies == ""
