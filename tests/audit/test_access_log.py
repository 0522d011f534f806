"""The access log: one row per allowed and per denied request to patient data, no clinical values,
never changed or deleted, searchable by clinic admins of the same clinic only."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test import Client

from audit.models import AccessLog, AppendOnlyError
from prep.services import item_complete

pytestmark = pytest.mark.django_db


@pytest.fixture
def surgery(book, nurse):
    surgery = book("trigeminal-rf", last_name="Quixote-Unique", medications=["warfarin"])
    hb = surgery.checklist.items.get(code="hemoglobin")
    item_complete(item=hb, by=nurse, result="11.7")
    return surgery


def rows() -> list[AccessLog]:
    return list(AccessLog.objects.exclude(action__startswith="auth").order_by("id"))


def test_one_row_per_allowed_request(client: Client, nurse, surgery) -> None:
    client.force_login(nurse)
    before = len(rows())
    response = client.get(f"/surgeries/{surgery.uuid}/")
    assert response.status_code == 200
    new = rows()[before:]
    assert len(new) == 1
    row = new[0]
    assert (row.allowed, row.user, row.role, row.patient, row.clinic) == (
        True, nurse, "nurse", surgery.patient, nurse.clinic,
    )  # fmt: skip
    assert row.action.startswith("GET workspace:")
    assert row.ip == "127.0.0.1"
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]


def test_one_row_per_denied_request(client: Client, outsider_nurse, surgery) -> None:
    client.force_login(outsider_nurse)
    before = len(rows())
    assert client.get(f"/surgeries/{surgery.uuid}/").status_code == 404
    new = rows()[before:]
    assert len(new) == 1 and new[0].allowed is False and new[0].patient is None
    assert new[0].user == outsider_nurse and new[0].status_code == 404


def test_the_log_holds_no_clinical_values(client: Client, nurse, surgery) -> None:
    client.force_login(nurse)
    client.get(f"/surgeries/{surgery.uuid}/")
    client.get("/", {"q": "Quixote-Unique"})
    dump = " ".join(
        " ".join(str(v) for v in values)
        for values in AccessLog.objects.values_list(*[f.attname for f in AccessLog._meta.fields])
    )
    for secret in ("11.7", "warfarin", "Warfarin", "Quixote", surgery.patient.first_name, "hemoglobin"):
        assert secret not in dump


def test_rows_are_never_changed_or_deleted(client: Client, nurse, surgery) -> None:
    client.force_login(nurse)
    client.get(f"/surgeries/{surgery.uuid}/")
    row = AccessLog.objects.latest("id")
    row.allowed = False
    with pytest.raises(AppendOnlyError):
        row.save()
    with pytest.raises(AppendOnlyError):
        row.delete()
    with pytest.raises(AppendOnlyError):
        AccessLog.objects.filter(pk=row.pk).update(allowed=False)
    with pytest.raises(AppendOnlyError):
        AccessLog.objects.all().delete()


@pytest.mark.postgres
def test_the_database_refuses_updates_and_deletes(client: Client, nurse, surgery) -> None:
    client.force_login(nurse)
    client.get(f"/surgeries/{surgery.uuid}/")
    row_id = AccessLog.objects.latest("id").pk
    for sql in (
        "UPDATE audit_accesslog SET allowed = false WHERE id = %s",
        "DELETE FROM audit_accesslog WHERE id = %s",
    ):
        with pytest.raises(Exception, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [row_id])


def test_login_and_failed_login_are_logged(client: Client, nurse) -> None:
    from tests.factories import PASSWORD

    client.post("/accounts/login/", {"username": nurse.email, "password": "wrong password!!"})
    client.post("/accounts/login/", {"username": nurse.email, "password": PASSWORD})
    actions = list(AccessLog.objects.filter(action__startswith="auth").values_list("action", "allowed", "user_email"))
    assert ("auth login failed", False, nurse.email) in actions
    assert ("auth login", True, nurse.email) in actions
    assert not AccessLog.objects.filter(user_email__icontains="wrong").exists()


def test_clinic_admin_searches_own_clinic_only(
    client: Client, clinic_admin, nurse, outsider_nurse, surgery, login
) -> None:
    other = Client()
    other.force_login(outsider_nurse)
    other.get(f"/surgeries/{surgery.uuid}/")  # denied, logged in the other clinic's name
    client.force_login(nurse)
    client.get(f"/surgeries/{surgery.uuid}/")
    admin = login(Client(), clinic_admin)
    page = admin.get("/audit/", {"patient": surgery.patient.mrn})
    assert page.status_code == 200
    body = page.content.decode()
    assert nurse.email in body and outsider_nurse.email not in body
    assert admin.get("/audit/", {"staff": "nurse@westside"}).status_code == 200


@pytest.mark.parametrize("who", ["nurse", "surgeon", "outsider_nurse"])
def test_only_clinic_admins_see_the_log(client: Client, request, who: str) -> None:
    client.force_login(request.getfixturevalue(who))
    assert client.get("/audit/").status_code == 404


def test_anonymous_is_sent_to_login(client: Client) -> None:
    response = client.get("/audit/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_sign_in_token_never_reaches_the_log(client: Client, book) -> None:
    from portal.services import signin_link_create

    surgery = book("lumbar-facet-rf")
    _, token = signin_link_create(patient=surgery.patient, channel="email", by=None)
    client.get(f"/p/in/{token}")
    paths = list(AccessLog.objects.values_list("path", flat=True))
    assert any(p.endswith("/p/in/<token>") for p in paths), paths
    assert not any(str(token) in p for p in paths)
