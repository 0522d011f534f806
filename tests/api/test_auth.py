"""Token and session authentication; tokens are created by clinic admins, stored hashed, revocable."""

from __future__ import annotations

import hashlib
import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services import api_token_create, api_token_revoke
from tests.api.conftest import bearer

pytestmark = pytest.mark.django_db


def test_valid_token(api, clinic):
    r = api.get("/api/v1/patients/")
    assert r.status_code == 200
    token = ApiToken.objects.get(clinic=clinic)
    assert token.last_used_at is not None


def test_token_is_stored_hashed(token):
    prefix, secret = token.split(".")
    row = ApiToken.objects.get(prefix=prefix)
    assert len(secret) >= 43  # 32 random bytes, url-safe base64
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiToken.objects.values())


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer a b", "Bearer nonsense", "Token abc", "Bearer deadbeef.wrong", "Bearer é"],
)
def test_missing_or_bad_token_is_401(db, header, token):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    r = client.get("/api/v1/patients/")
    assert r.status_code == 401
    assert r["WWW-Authenticate"] == 'Bearer realm="api"'


def test_wrong_secret_with_a_real_prefix_is_401(token):
    prefix = token.split(".")[0]
    assert bearer(f"{prefix}.{'x' * 43}").get("/api/v1/patients/").status_code == 401


def test_revoked_token_is_401(token, clinic_admin):
    prefix = token.split(".")[0]
    api_token_revoke(token=ApiToken.objects.get(prefix=prefix), by=clinic_admin)
    r = bearer(token).get("/api/v1/patients/")
    assert r.status_code == 401 and "revoked" in r.json()["detail"]


def test_other_clinics_token_sees_404s(api, other_api, book):
    surgery = book()
    item = surgery.checklist.items.get(code="hemoglobin")
    for url in (
        f"/api/v1/patients/{surgery.patient.uuid}/",
        f"/api/v1/surgeries/{surgery.uuid}/",
        f"/api/v1/surgeries/{surgery.uuid}/checklist/",
        f"/api/v1/items/{item.uuid}/",
        f"/api/v1/patients/{surgery.patient.uuid}/medications/",
    ):
        assert api.get(url).status_code == 200, url
        assert other_api.get(url).status_code == 404, url
    r = other_api.post(f"/api/v1/items/{item.uuid}/complete/", {"result": "13"}, format="json")
    assert r.status_code == 404
    assert other_api.get("/api/v1/patients/").json()["count"] == 0
    item.refresh_from_db()
    assert item.status == "open"


def test_service_user_cannot_sign_in_and_is_not_staff(token):
    row = ApiToken.objects.get(prefix=token.split(".")[0])
    assert not row.user.has_usable_password()
    assert row.user.role == "system" and not row.user.is_nurse and not row.user.is_staff


def test_session_auth_enforces_csrf(db, nurse, catalogue):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(nurse)
    assert client.get("/api/v1/patients/").status_code == 200
    body = {"mrn": "C-1", "first_name": "C", "last_name": "D", "birth_date": "1980-01-01"}
    r = client.post("/api/v1/patients/", body, format="json")
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    client.get("/api/v1/docs/")  # sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    r = client.post("/api/v1/patients/", body, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert r.status_code == 201


def test_management_command_prints_the_token_once(clinic):
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token_create", "--clinic", clinic.slug, "--name", "Epic", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    assert "." in raw and raw not in err.getvalue()
    assert bearer(raw).get("/api/v1/patients/").status_code == 200
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("api_token_create", "--clinic", "nope", "--name", "x", stdout=out, stderr=err)


def test_token_endpoints_for_clinic_admins_only(client, clinic_admin, nurse, api, outsider_nurse, login):
    login(client, clinic_admin)
    r = client.post("/api/v1/tokens/", {"name": "Lab interface"}, content_type="application/json")
    assert r.status_code == 201
    created = r.json()
    assert bearer(created["token"]).get("/api/v1/patients/").status_code == 200
    listed = client.get("/api/v1/tokens/").json()["results"]
    assert {t["name"] for t in listed} == {"Lab interface", "Scheduling interface"}
    assert all("token" not in t and "secret_hash" not in t for t in listed)
    r = client.post(f"/api/v1/tokens/{created['id']}/revoke/")
    assert r.status_code == 200 and r.json()["revoked_at"]
    assert bearer(created["token"]).get("/api/v1/patients/").status_code == 401

    assert api.get("/api/v1/tokens/").status_code == 403  # a token cannot mint tokens
    client.force_login(nurse)
    assert client.get("/api/v1/tokens/").status_code == 403
    # Another clinic's admin cannot revoke ours.
    from tests.factories import UserFactory

    other_admin = UserFactory(clinic=outsider_nurse.clinic, role="clinic_admin")
    login(client, other_admin)
    assert client.post(f"/api/v1/tokens/{listed[-1]['id']}/revoke/").status_code == 404


def test_admin_creates_and_revokes(client, clinic, clinic_admin, login):
    from accounts.models import User

    superuser = User.objects.create_superuser(email="root@example.org", password="x" * 16, clinic=clinic)
    login(client, superuser)
    r = client.post("/admin/api/apitoken/add/", {"clinic": clinic.pk, "name": "Admin-made"}, follow=True)
    assert r.status_code == 200
    shown = [str(m) for m in r.context["messages"]]
    token = ApiToken.objects.get(name="Admin-made")
    raw = next(m for m in shown if token.prefix in m).split(": ", 1)[1].split(" ")[0]
    assert bearer(raw).get("/api/v1/patients/").status_code == 200
    r = client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True)
    assert r.status_code == 200
    assert bearer(raw).get("/api/v1/patients/").status_code == 401


def test_token_name_required(clinic):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        api_token_create(clinic=clinic, name=" ", by=None)
    assert "name" in exc.value.message_dict


def test_api_requests_are_in_the_access_log(api, other_api, book):
    from audit.models import AccessLog

    surgery = book()
    before = AccessLog.objects.count()
    assert api.get(f"/api/v1/patients/{surgery.patient.uuid}/").status_code == 200
    assert other_api.get(f"/fhir/Patient/{surgery.patient.uuid}/$preop").status_code == 404
    allowed, denied = AccessLog.objects.order_by("id")[before:]
    assert (allowed.allowed, allowed.role, allowed.patient_id) == (True, "system", surgery.patient_id)
    assert allowed.user_email.startswith("api-") and allowed.action.startswith("GET api:patient")
    assert (denied.allowed, denied.role, denied.status_code) == (False, "system", 404)
