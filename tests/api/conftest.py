from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def token(clinic, clinic_admin) -> str:
    from api.services import api_token_create

    return api_token_create(clinic=clinic, name="Scheduling interface", by=clinic_admin)[1]


@pytest.fixture
def other_token(other_clinic) -> str:
    from api.services import api_token_create

    return api_token_create(clinic=other_clinic, name="Eastside EHR", by=None)[1]


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def api(token) -> APIClient:
    return bearer(token)


@pytest.fixture
def other_api(other_token) -> APIClient:
    return bearer(other_token)
