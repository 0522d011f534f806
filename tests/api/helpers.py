"""Shared checks for the API tests: references in a FHIR bundle, booking through the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def references(node: Any) -> Iterator[str]:
    """Every ``reference`` string anywhere in a FHIR JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def assert_bundle_valid(bundle: dict) -> dict[str, dict]:
    """Parse with fhir.resources' R4B models (the bundle and each resource by its own class), and
    check that every reference and canonical resolves inside the bundle. Returns resources by fullUrl."""
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    assert len(by_url) == len(bundle["entry"]), "duplicate fullUrl"
    for url, resource in by_url.items():
        assert url == f"urn:uuid:{resource['id']}"
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    missing = [r for r in references(bundle) if r not in by_url]
    assert not missing, f"references outside the bundle: {missing}"
    canonicals = {r["url"] for r in by_url.values() if "url" in r}
    for resource in by_url.values():
        for canonical in resource.get("instantiatesCanonical", []):
            assert canonical.split("|")[0] in canonicals, canonical
    return by_url


def of_type(by_url: dict[str, dict], kind: str) -> list[dict]:
    return [r for r in by_url.values() if r["resourceType"] == kind]


def book_through_api(
    api,
    *,
    surgeon_email: str | None = None,
    procedure: str = "cervical-facet-rf",
    start_at=None,
    medications=("clopidogrel",),
    **patient,
) -> tuple[str, str]:
    from tests.factories import in_days

    body = {"mrn": "A-100", "first_name": "Ana", "last_name": "López", "birth_date": "1950-02-03", **patient}
    r = api.post("/api/v1/patients/", body, format="json")
    assert r.status_code == 201, r.content
    patient_id = r.json()["id"]
    for name in medications:
        r = api.post(
            f"/api/v1/patients/{patient_id}/medications/", {"name": name, "is_blood_thinner": True}, format="json"
        )
        assert r.status_code == 201, r.content
    booking = {"patient": patient_id, "procedure": procedure, "start_at": (start_at or in_days(12)).isoformat()}
    if surgeon_email:
        booking["surgeon"] = surgeon_email
    r = api.post("/api/v1/surgeries/", booking, format="json")
    assert r.status_code == 201, r.content
    return patient_id, r.json()["id"]


def checklist_items(api, surgery_id: str) -> dict[str, dict]:
    r = api.get(f"/api/v1/surgeries/{surgery_id}/checklist/")
    assert r.status_code == 200, r.content
    return {i["code"]: i for i in r.json()["items"]}
