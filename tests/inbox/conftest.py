"""Fixtures shared by the inbox tests: the task queue as the test sees it, and a lab posting FHIR."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from inbox import services
from tests.inbox.helpers import FHIR


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The task queue, seen by the test: the worker's run is ``tasks.process_pending()``."""
    ids: list[int] = []
    monkeypatch.setattr(services, "_enqueue_task", ids.append)
    return ids


@pytest.fixture
def lab(clinic, clinic_admin) -> APIClient:
    """A lab system with a clinic API token named "Main lab"."""
    from api.services import api_token_create

    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_token_create(clinic=clinic, name='Main lab', by=clinic_admin)[1]}"
    )
    return client


@pytest.fixture
def fhir_post(lab, django_capture_on_commit_callbacks) -> Callable[[str, Any], Any]:
    """POST a FHIR body as the lab. Requests run inside the test's transaction: their on-commit
    callbacks (the enqueueing) are run as the request's commit would run them."""

    def post(path: str, body: Any) -> Any:
        text = body if isinstance(body, str) else json.dumps(body)
        with django_capture_on_commit_callbacks(execute=True):
            return lab.post(path, text, content_type=FHIR)

    return post
