"""Schemathesis against the OpenAPI schema, in-process (WSGI), with a token of the clinic.

A bounded number of examples per operation keeps the run short; path ids are swapped for real
records of the clinic so that writes reach the services (random UUIDs would only ever 404).
Checks: no 500s, and every status code, content type and body matches the schema.
"""

from __future__ import annotations

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings

from config.wsgi import application

pytestmark = pytest.mark.django_db

SCHEMA = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
SCHEMA.app = application

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.fixture
def records(book):
    from actions.patients import guardian_add
    from api.models import ApiToken

    surgery = book(medications=["clopidogrel"])
    item = surgery.checklist.items.get(code="hemoglobin")
    guardian = guardian_add(
        patient=surgery.patient,
        by=surgery.created_by,
        first_name="Gail",
        last_name="Guardian",
        relationship="legal_guardian",
        birth_year=1950,
        email="gail@example.org",
    )
    return {
        "patients": surgery.patient,
        "surgeries": surgery,
        "items": item,
        "medications": surgery.patient.medications.get(),
        "guardians": guardian,
        "tokens": ApiToken.objects.first(),
    }


@pytest.fixture(autouse=True)
def _in_process_wsgi(settings):
    """Serve the WSGI app inside the test's transaction, as Django's test client does: the handler
    must not close the connection at the end of each request."""
    from django.core import signals
    from django.db import close_old_connections

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost", "testserver"]
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def real_ids(case, records) -> None:
    """Point the path at records of the clinic: /patients/{uuid}/ gets a patient, and so on."""
    segments = case.path.strip("/").split("/")
    for name in list(case.path_parameters or {}):
        if name == "medication_uuid":
            case.path_parameters[name] = str(records["medications"].uuid)
        elif name == "guardian_uuid":
            case.path_parameters[name] = str(records["guardians"].uuid)
        else:
            collection = segments[segments.index("{" + name + "}") - 1]
            case.path_parameters[name] = str(records[collection].uuid)


@SCHEMA.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_matches_its_schema(case, token, records):
    real_ids(case, records)
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
