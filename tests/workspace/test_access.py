"""What a nurse, a surgeon, a clinic admin, a nurse of another clinic and a visitor get on every page."""

from __future__ import annotations

import pytest

from tests.workspace.conftest import item_of

ROLES = ("nurse", "surgeon", "clinic_admin", "outsider_nurse", "anonymous")


@pytest.fixture
def urls(surgery):
    patient = surgery.patient
    med = patient.medications.get()
    hb = item_of(surgery, "hemoglobin")
    return {
        "board": "/?view=board",  # with no query a surgeon lands on the worklist
        "book": "/book/",
        "surgery": f"/surgeries/{surgery.uuid}/",
        "print": f"/surgeries/{surgery.uuid}/print/",
        "edit": f"/surgeries/{surgery.uuid}/edit/",
        "cancel": f"/surgeries/{surgery.uuid}/cancel/",
        "patient": f"/patients/{patient.uuid}/",
        "medication_add": f"/patients/{patient.uuid}/medications/add/",
        "medication_stop": f"/patients/{patient.uuid}/medications/{med.uuid}/stop/",
        "history": f"/items/{hb.uuid}/history/",
    }


def _user(request, role):
    return None if role == "anonymous" else request.getfixturevalue(role)


CLINIC_WIDE = {"board", "book"}  # pages with no record in the URL: outsiders see their own (empty) clinic


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "page",
    ["board", "book", "surgery", "print", "edit", "cancel", "patient", "medication_add", "medication_stop", "history"],
)
def test_get_pages_by_role(request, client_for, urls, role, page):
    response = client_for(_user(request, role)).get(urls[page])
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    elif role == "outsider_nurse":
        if page in CLINIC_WIDE:
            assert response.status_code == 200
            assert b"Garcia" not in response.content
        else:
            assert response.status_code == 404
    elif page == "patient":
        assert response.status_code == 302
        assert "/surgeries/" in response["Location"]
    else:
        assert response.status_code == 200
        if page in ("surgery", "print"):
            assert b"Garcia" in response.content


def test_board_lists_own_clinic_only(client_for, surgery, nurse, outsider_nurse):
    assert b"Garcia" in client_for(nurse).get("/").content
    assert b"Garcia" not in client_for(outsider_nurse).get("/").content


@pytest.mark.parametrize("role", ROLES)
def test_item_actions_by_role(request, client_for, surgery, role):
    hb = item_of(surgery, "hemoglobin")
    response = client_for(_user(request, role)).post(
        f"/items/{hb.uuid}/complete/", {"result": "13", "version": hb.version}
    )
    hb.refresh_from_db()
    if role == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        assert hb.status == "open"
    elif role == "outsider_nurse":
        assert response.status_code == 404
        assert hb.status == "open"
    else:
        assert response.status_code == 302
        assert hb.status == "done"


# Decisions are the prescriber's: a clinic admin (who edits the catalogue and the staff) does not take them.
@pytest.mark.parametrize(
    ("role", "status"),
    [("nurse", 403), ("surgeon", 302), ("clinic_admin", 403), ("outsider_nurse", 404), ("anonymous", 302)],
)
def test_surgeon_actions_by_role(request, client_for, surgery, role, status):
    approval = item_of(surgery, "hold_approval:clopidogrel")
    client = client_for(_user(request, role))
    hold = client.post(
        f"/items/{approval.uuid}/hold/", {"decision": "approve", "hold_days": "7", "version": approval.version}
    )
    go = client.post(f"/surgeries/{surgery.uuid}/go/", {"decision": "go", "override": "Hold decided today"})
    assert hold.status_code == status
    assert go.status_code == status
    approval.refresh_from_db()
    surgery.refresh_from_db()
    decided = role == "surgeon"
    assert (approval.status == "done") is decided
    assert (surgery.go_decision == "go") is decided
    if decided:
        # Clopidogrel before a low-risk procedure is a shared assessment: the prescriber set the days.
        hold_item = surgery.checklist.items.get(code="hold:clopidogrel")
        assert hold_item.locked is False


def test_nurse_does_not_see_surgeon_forms(client_for, surgery, nurse, surgeon):
    nurse_page = client_for(nurse).get(f"/surgeries/{surgery.uuid}/").content.decode()
    surgeon_page = client_for(surgeon).get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "Record the go / no-go decision" not in nurse_page
    assert "/hold/" not in nurse_page
    assert "Record the go / no-go decision" in surgeon_page
    assert "/hold/" in surgeon_page


def test_login_by_email_and_logout(client, nurse):
    from tests.factories import PASSWORD

    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'type="email"' in page.content
    response = client.post("/accounts/login/", {"username": "nurse@westside.test", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405  # a link cannot sign anyone out
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_wrong_password_is_refused(client, nurse):
    response = client.post("/accounts/login/", {"username": "nurse@westside.test", "password": "wrong password!!"})
    assert response.status_code == 200
    assert b"alert-danger" in response.content


def test_staff_without_clinic_is_refused(client_for, db):
    from tests.factories import UserFactory

    loner = UserFactory(clinic=None)
    assert client_for(loner).get("/").status_code == 403


@pytest.mark.parametrize(("role", "landing"), [("nurse", 200), ("surgeon", 302), ("clinic_admin", 200)])
def test_the_root_is_the_board_except_for_surgeons(request, client_for, role, landing):
    response = client_for(_user(request, role)).get("/")
    assert response.status_code == landing
    if landing == 302:
        assert response["Location"] == "/worklist/"
