"""The access log: one row per allowed and per denied request to patient data, no clinical values,
never changed or deleted, searchable by clinic admins of the same clinic only."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test import Client

from actions.items import item_complete
from audit.models import AccessLog, AppendOnlyError

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
        True,
        nurse,
        "nurse",
        surgery.patient,
        nurse.clinic,
    )
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
    client.post("/", {"q": "Quixote-Unique"}, follow=True)
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
    searched = admin.post("/audit/", {"patient": surgery.patient.mrn})
    assert searched.status_code == 302 and surgery.patient.mrn not in searched["Location"]
    page = admin.get(searched["Location"])
    assert page.status_code == 200
    body = page.content.decode()
    assert nurse.email in body and outsider_nurse.email not in body
    assert admin.post("/audit/", {"staff": "nurse@westside"}, follow=True).status_code == 200


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


@pytest.mark.postgres
def test_the_database_refuses_truncate(client: Client, nurse, surgery) -> None:
    client.force_login(nurse)
    client.get(f"/surgeries/{surgery.uuid}/")
    before = AccessLog.objects.count()
    with connection.cursor() as cursor:
        # The test's own transaction holds deferred foreign-key checks; TRUNCATE would stop at them first.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for sql in ("TRUNCATE audit_accesslog", "TRUNCATE audit_accesslog CASCADE"):
        with pytest.raises(Exception, match="TRUNCATE refused"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AccessLog.objects.count() == before >= 1


def _last_row() -> AccessLog:
    return AccessLog.objects.exclude(action__startswith="auth").latest("id")


def test_lists_and_exports_log_the_patients_they_show(client: Client, login, nurse, clinic_admin, surgery, book):
    """The board, the CSV export, the API lists and the reminder outbox: one row each, with the count of
    patients shown (and the patient when it is one), never cached."""
    import datetime as dt

    from django.utils import timezone

    from reminders.models import Reminder, Status

    book("lumbar-facet-rf", last_name="Second-Patient")
    login(client, nurse)
    day = timezone.localdate(surgery.start_at, surgery.clinic.tz)
    window = {"from": (day - dt.timedelta(days=1)).isoformat(), "to": (day + dt.timedelta(days=30)).isoformat()}
    checks = [
        ("/", {"date_from": window["from"], "date_to": window["to"]}, 2),
        ("/api/v1/exports/board.csv", window, 2),
        ("/api/v1/readiness/", window, 2),
        ("/api/v1/surgeries/", window, 2),
        ("/api/v1/patients/", {}, 2),
        (f"/api/v1/patients/{surgery.patient.uuid}/medications/", {}, 1),
    ]
    for path, query, count in checks:
        response = client.get(path, query)
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], path
        row = _last_row()
        assert row.path == path and row.allowed and row.patients_count == count, (path, row.patients_count)
        assert (row.patient_id == surgery.patient_id) if count == 1 else row.patient_id is None, path
    # The outbox lists failed reminders with names and record numbers.
    Reminder.objects.filter(surgery=surgery).update(status=Status.FAILED)
    client.logout()
    login(client, clinic_admin)
    response = client.get("/reminders/outbox/")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    row = _last_row()
    assert row.path == "/reminders/outbox/" and row.patients_count == 1 and row.patient_id == surgery.patient_id
