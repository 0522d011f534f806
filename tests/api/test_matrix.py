"""Authorization matrix of the API and the FHIR export: every operation x every role, one table.

Roles are those of the security issue (anonymous, the patient himself and another patient signed
in to the portal, nurse / surgeon / clinic admin of the clinic, nurse and admin of another clinic)
plus the systems: a token of the clinic, a revoked one, and another clinic's token.

Expected outcomes: a status code, or ``EMPTY`` for a list that answers 200 but shows nothing of
the clinic's data. A new URL under /api/v1/ or /fhir/ fails ``test_every_operation_is_in_the_matrix``
until it gets its row here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tests.factories import in_days

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "patient_self", "patient_other", "nurse", "surgeon", "clinic_admin", "nurse_other",
         "admin_other", "token", "token_revoked", "token_other")  # fmt: skip
EMPTY = "empty"
STAFF = ("nurse", "surgeon", "clinic_admin", "token")
OUTSIDE = ("nurse_other", "admin_other", "token_other")
NO_CREDENTIALS = ("anonymous", "patient_self", "patient_other", "token_revoked")


def outcome(ok: int | str, outside: int | str = 404, **special: int | str) -> dict[str, int | str]:
    table: dict[str, int | str] = dict.fromkeys(NO_CREDENTIALS, 401)
    table.update(dict.fromkeys(STAFF, ok))
    table.update(dict.fromkeys(OUTSIDE, outside))
    table.update(special)
    return table


@dataclass
class Op:
    name: str  # the URL name, namespace:name
    method: str
    url: Callable[[Any], str]
    expected: dict[str, int | str]
    body: Callable[[Any], dict] | None = None
    writes: bool = False


OPS = [
    Op("api:schema", "get", lambda w: "/api/v1/schema/", dict.fromkeys(ROLES, 200)),
    Op("api:docs", "get", lambda w: "/api/v1/docs/", dict.fromkeys(ROLES, 200)),
    Op("api:patients", "get", lambda w: "/api/v1/patients/", outcome(200, EMPTY)),
    Op("api:patients", "post", lambda w: "/api/v1/patients/", outcome(201, 201),
       body=lambda w: {"mrn": f"N-{time.monotonic_ns()}", "first_name": "N", "last_name": "P",
                       "birth_date": "1970-01-01"}, writes=True),
    Op("api:patient", "get", lambda w: f"/api/v1/patients/{w.patient.uuid}/", outcome(200)),
    Op("api:patient", "patch", lambda w: f"/api/v1/patients/{w.patient.uuid}/", outcome(200),
       body=lambda w: {"allergies": "latex"}, writes=True),
    Op("api:medications", "get", lambda w: f"/api/v1/patients/{w.patient.uuid}/medications/", outcome(200)),
    Op("api:medications", "post", lambda w: f"/api/v1/patients/{w.patient.uuid}/medications/", outcome(201),
       body=lambda w: {"name": "ibuprofen"}, writes=True),
    Op("api:medication-stop", "post",
       lambda w: f"/api/v1/patients/{w.patient.uuid}/medications/{w.medication.uuid}/stop/", outcome(200),
       writes=True),
    Op("api:surgeries", "get", lambda w: "/api/v1/surgeries/", outcome(200, EMPTY)),
    Op("api:surgeries", "post", lambda w: "/api/v1/surgeries/", outcome(201, 400),
       body=lambda w: {"patient": str(w.patient.uuid), "procedure": "lumbar-facet-rf",
                       "start_at": in_days(15).isoformat()}, writes=True),
    Op("api:surgery", "get", lambda w: f"/api/v1/surgeries/{w.surgery.uuid}/", outcome(200)),
    Op("api:surgery", "patch", lambda w: f"/api/v1/surgeries/{w.surgery.uuid}/", outcome(200),
       body=lambda w: {"start_at": in_days(16).isoformat()}, writes=True),
    Op("api:surgery-cancel", "post", lambda w: f"/api/v1/surgeries/{w.surgery.uuid}/cancel/", outcome(200),
       body=lambda w: {"reason": "matrix"}, writes=True),
    Op("api:surgery-checklist", "get", lambda w: f"/api/v1/surgeries/{w.surgery.uuid}/checklist/", outcome(200)),
    Op("api:surgery-reminders", "get", lambda w: f"/api/v1/surgeries/{w.surgery.uuid}/reminders/", outcome(200)),
    Op("api:item", "get", lambda w: f"/api/v1/items/{w.item.uuid}/", outcome(200)),
    Op("api:item-complete", "post", lambda w: f"/api/v1/items/{w.item.uuid}/complete/", outcome(200),
       body=lambda w: {"result": "13.1"}, writes=True),
    Op("api:item-not-applicable", "post", lambda w: f"/api/v1/items/{w.item.uuid}/not-applicable/", outcome(200),
       body=lambda w: {"reason": "matrix"}, writes=True),
    Op("api:readiness", "get", lambda w: "/api/v1/readiness/", outcome(200, EMPTY)),
    Op("api:procedures", "get", lambda w: "/api/v1/procedures/", outcome(200, 200)),
    Op("api:export-board", "get", lambda w: "/api/v1/exports/board.csv", outcome(200, EMPTY)),
    Op("api:tokens", "get", lambda w: "/api/v1/tokens/", outcome(403, 403, clinic_admin=200, admin_other=EMPTY)),
    Op("api:tokens", "post", lambda w: "/api/v1/tokens/", outcome(403, 403, clinic_admin=201, admin_other=201),
       body=lambda w: {"name": "matrix"}, writes=True),
    Op("api:token-revoke", "post", lambda w: f"/api/v1/tokens/{w.spare_token.uuid}/revoke/",
       outcome(403, 403, clinic_admin=200, admin_other=404), writes=True),
    Op("fhir:plandefinition", "get", lambda w: f"/fhir/PlanDefinition/{w.surgery.checklist.template.uuid}",
       outcome(200, 200)),
    Op("fhir:patient-preop", "get", lambda w: f"/fhir/Patient/{w.patient.uuid}/$preop", outcome(200)),
]  # fmt: skip


class World:
    """The clinic's records, made fresh for each role of a write so that one cell cannot affect the next."""

    def __init__(self, book, clinic) -> None:
        from api.services import api_token_create

        self.surgery = book(medications=["clopidogrel"])
        self.patient = self.surgery.patient
        self.item = self.surgery.checklist.items.get(code="hemoglobin")
        self.medication = self.patient.medications.get()
        self.spare_token = api_token_create(clinic=clinic, name="spare", by=None)[0]


def shows_nothing(response, world: World) -> bool:
    if response["Content-Type"].startswith("text/csv"):
        return str(world.patient.mrn) not in response.content.decode()
    body = response.json()
    return body["count"] == 0 or not any(str(world.patient.uuid) in str(row) for row in body["results"])


@pytest.fixture
def clients(clinic, nurse, surgeon, clinic_admin, outsider_nurse, other_clinic, token, other_token, book, login):
    from api.models import ApiToken
    from api.services import api_token_create, api_token_revoke
    from tests.factories import PatientFactory, UserFactory

    other_admin = UserFactory(clinic=other_clinic, role="clinic_admin")
    revoked_raw = api_token_create(clinic=clinic, name="old", by=None)[1]
    api_token_revoke(token=ApiToken.objects.get(prefix=revoked_raw.split(".")[0]), by=None)

    def make(role: str, world: World) -> APIClient:
        client = APIClient()
        users = {"nurse": nurse, "surgeon": surgeon, "clinic_admin": clinic_admin, "nurse_other": outsider_nurse,
                 "admin_other": other_admin}  # fmt: skip
        if role in users:
            login(client, users[role])
        elif role.startswith("token"):
            raw = {"token": token, "token_revoked": revoked_raw, "token_other": other_token}[role]
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        elif role.startswith("patient"):
            patient = world.patient if role == "patient_self" else PatientFactory(clinic=clinic)
            session = client.session
            session.update({"portal:patient_id": patient.pk, "portal:seen_at": time.time()})
            session.save()
        return client

    return make


@pytest.mark.parametrize("op", OPS, ids=[f"{op.method.upper()} {op.name}" for op in OPS])
def test_matrix(op: Op, clients, book, clinic, request):
    assert set(op.expected) == set(ROLES), op.name
    world = World(book, clinic)
    mismatches = []
    changed = False
    for role in ROLES:
        if op.writes and changed:
            world = World(book, clinic)
        client = clients(role, world)
        kwargs = {"format": "json"} if op.body else {}
        response = getattr(client, op.method)(op.url(world), op.body(world) if op.body else None, **kwargs)
        want = op.expected[role]
        if want == EMPTY:
            ok = response.status_code == 200 and shows_nothing(response, world)
        else:
            ok = response.status_code == want
        changed = response.status_code < 300
        if not ok:
            mismatches.append(f"{role}: expected {want}, got {response.status_code} {response.content[:200]!r}")
    request.config.stash.setdefault(CELLS, []).append(len(ROLES))
    assert not mismatches, f"{op.method.upper()} {op.name}:\n" + "\n".join(mismatches)


CELLS = pytest.StashKey[list]()


def api_url_names() -> set[str]:
    names = set()

    def walk(patterns: list, namespace: str = "") -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and namespace in ("api", "fhir"):
                names.add(f"{namespace}:{entry.name}")

    walk(get_resolver().url_patterns)
    return names


def test_every_operation_is_in_the_matrix():
    """Every API/FHIR URL, and every method its view answers, has a row in OPS."""
    from django.urls import reverse  # noqa: F401  (resolver loaded)

    assert api_url_names() == {op.name for op in OPS}
    resolver = get_resolver()
    for name in api_url_names():
        namespace, url_name = name.split(":")
        pattern = next(p for p in resolver.url_patterns if getattr(p, "namespace", None) == namespace)
        view = next(p for p in pattern.url_patterns if p.name == url_name).callback
        methods = {m for m in ("get", "post", "patch", "put", "delete") if hasattr(view.view_class, m)}
        assert methods == {op.method for op in OPS if op.name == name}, name
    print(f"\nAPI authorization matrix: {len(OPS)} operations x {len(ROLES)} roles = {len(OPS) * len(ROLES)} cells")
