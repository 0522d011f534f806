"""NUL bytes and far dates get a 400 with the reason on every route, signed in or not.

Walks every URL pattern from the resolver (as ``test_url_walk`` does) with a NUL byte in the path,
the query string, a form body and a JSON body, and with dates in the year 9999 in the filters every
list takes (a 400 with the reason) and in posted bodies (the form's own error: never a 500). Before,
PostgreSQL refused the NUL (a 500) and date arithmetic overflowed near 9999.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import get_resolver

from core.middleware import DATE_MESSAGE, NUL_MESSAGE
from tests.security.test_url_walk import sample_path, walk

pytestmark = pytest.mark.django_db

FAR = {"date_from": "9999-12-31", "date_to": "9999-12-31", "from": "9999-12-31", "to": "9999-12-31"}


def _message(response) -> str:
    if response["Content-Type"].startswith(("application/json", "application/fhir+json")):
        body = response.json()
        return body.get("detail") or body["issue"][0]["diagnostics"]
    return response.content.decode()


def _paths() -> list[tuple[str, str]]:
    return [
        (sample_path(p), n) for p, n in walk(get_resolver().url_patterns) if not sample_path(p).startswith("/static")
    ]


@pytest.mark.parametrize("who", ["anonymous", "nurse", "token"])
def test_every_route_refuses_nul_and_far_dates_with_a_message(who, world, login, nurse):
    client = {"anonymous": Client(), "nurse": world.client("nurse"), "token": world.client("token")}[who]
    wrong = []
    for path, name in _paths():
        cases = [
            ("get", path, {"q": "a\x00b"}, None, NUL_MESSAGE),
            ("get", path, {"patient": "\x00"}, None, NUL_MESSAGE),
            ("get", path, FAR, None, DATE_MESSAGE),
            ("post", path, {"q": "x\x00"}, None, NUL_MESSAGE),
            ("post", path, {"start_date": "9999-12-31", "birth_date": "9999-12-31"}, None, None),
            ("post", path, json.dumps({"mrn": "A\x00"}), "application/json", NUL_MESSAGE),
            (
                "post",
                path,
                json.dumps({"start_at": "9999-12-31T08:00:00+00:00", "birth_date": "9999-12-31"}),
                "application/json",
                None,
            ),
        ]
        if "00000000-0000-4000-8000-000000000000" in path:
            cases.append(
                ("get", path.replace("00000000-0000-4000-8000-000000000000", "0000\x00"), {}, None, NUL_MESSAGE)
            )
        for method, url, data, content_type, message in cases:
            kwargs = {"content_type": content_type} if content_type else {}
            response = getattr(client, method)(url, data, **kwargs)
            if message is None:
                # A far date in a body is its form's or serializer's to refuse, naming the field: never a 500.
                if response.status_code >= 500:
                    wrong.append(f"{who} {method.upper()} {url!r} ({name}) {data!r}: {response.status_code}")
                continue
            if response.status_code != 400 or message not in _message(response):
                wrong.append(f"{who} {method.upper()} {url!r} ({name}) {data!r}: {response.status_code}")
    assert not wrong, "\n".join(wrong[:40]) + f"\n({len(wrong)} wrong)"


def test_the_message_page_is_the_product_s_400_and_not_cached(world):
    response = world.client("nurse").get("/", {"q": "\x00"})
    assert response.status_code == 400 and response["Cache-Control"] == "no-store"
    assert "NUL character" in response.content.decode() and "Bad request" in response.content.decode()


def test_ordinary_dates_and_text_pass(world):
    client = world.client("nurse")
    assert client.get("/", {"date_from": "2026-03-01", "date_to": "2026-03-20", "q": "smith"}).status_code == 200
    assert (
        world.client("token").get("/api/v1/readiness/", {"from": "2026-03-01", "to": "2026-03-20"}).status_code == 200
    )


def test_a_nul_is_named_even_after_a_date_out_of_range(world):
    """Found by the fuzz test: a year-0 date before a NUL in the query answered with the date's
    message. The NUL is the problem no field accepts: it is named whatever the order."""
    response = world.client("nurse").get("/", {"date_from": "", "date_to": "0000-00-00", "readiness": "\x00"})
    assert response.status_code == 400
    assert NUL_MESSAGE.replace("\\", "\\\\") in response.content.decode() or NUL_MESSAGE in response.content.decode()
    assert DATE_MESSAGE not in response.content.decode()
