"""An XSS payload in every free-text field never renders unescaped, on any page that shows it.

Each field gets its own payload number (``alert(N)``), so the test can also prove that every field
was actually shown somewhere (escaped), not merely absent. Pages: the staff pages (board, search,
surgery, htmx rows, print, history, booking, changes, access log, outbox), the patient portal,
the sign-in email, and the API's CSV export (formula-safe) and JSON (escaping is the client's job:
it is served as application/json, never as HTML).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re

import pytest
from django.core import mail
from django.test import Client

from tests.factories import in_days
from tests.security.conftest import HX, portal_sign_in

pytestmark = pytest.mark.django_db

RAW = re.compile(r"<script>alert\(|<img src=x onerror=|<svg/onload=|onfocus=\"alert\(", re.IGNORECASE)


def payload(n: int, limit: int = 200) -> str:
    """Tags, a quote break-out and an attribute handler; shorter forms for short fields."""
    full = f'<script>alert({n})</script>"\'><img src=x onerror=alert({n})> x" onfocus="alert({n})'
    medium = f"<script>alert({n})</script>\"'><img src=x onerror=alert({n})>"
    short = f"<svg/onload=alert({n})>\"'"
    return next(p for p in (full, medium, short) if len(p) <= limit)


FIELDS = {
    1: "patient first name",
    2: "patient last name",
    3: "MRN",
    4: "allergies",
    5: "medication name",
    6: "medication dose",
    7: "place",
    8: "level",
    9: "note",
    10: "call log text",
    11: "item result (text)",
    12: "not-applicable reason",
    13: "undo reason",
    14: "hold note",
    15: "go / no-go note",
    16: "patient confirmation evidence",
    17: "API patient first name",
    18: "API patient last name",
    19: "API allergies",
    20: "API place",
    21: "API level",
    22: "staff name",
    23: "clinic name",
    24: "cancel reason",
    25: "API medication name",
    26: "API not-applicable reason",
    27: "API cancel reason",
}


@pytest.fixture
def xss(catalogue, clinic, nurse, surgeon, clinic_admin, login):
    """Every free-text field filled with its payload, through the same services, forms and API as a user."""
    from actions.booking import surgery_book
    from actions.decisions import hold_decide, surgery_record_go_decision
    from actions.items import item_complete, item_patient_confirm, item_undo
    from actions.patients import medication_add, patient_create
    from api.services import api_token_create
    from prep.models import ProcedureVariant

    clinic.name = payload(23)
    clinic.save(update_fields=["name"])
    surgeon.first_name = payload(22, 150)
    surgeon.save(update_fields=["first_name"])
    patient = patient_create(
        clinic=clinic,
        by=nurse,
        mrn=payload(3, 40),
        first_name=payload(1, 100),
        last_name=payload(2, 100),
        birth_date=dt.date(1955, 5, 5),
        email="xss@example.org",
        mobile="+13105550177",
        allergies=payload(4),
        claustrophobic=True,
    )
    medication_add(patient=patient, by=nurse, name=payload(5, 120), dose=payload(6, 120), is_blood_thinner=True)
    lumbar = ProcedureVariant.objects.get(slug="lumbar-facet-rf")
    surgery = surgery_book(
        patient=patient,
        procedure=lumbar,
        start_at=in_days(9),
        by=nurse,
        surgeon=surgeon,
        place=payload(7),
        level=payload(8, 60),
    )
    items = {i.code: i for i in surgery.checklist.items.all()}
    item_complete(item=items["ecg"], by=nurse, result=payload(11))
    staff = login(Client(), nurse)
    post = staff.post(f"/items/{items['chest_xray'].uuid}/not-applicable/", {"reason": payload(12), "version": 1})
    assert post.status_code == 302
    item_complete(item=items["urinalysis"], by=nurse, result="normal")
    item_undo(item=items["urinalysis"], by=nurse, reason=payload(13))
    approval = next(i for code, i in items.items() if code.startswith("hold_approval:"))
    hold_decide(item=approval, by=surgeon, approve=True, hold_days=5, note=payload(14))
    surgery_record_go_decision(surgery=surgery, by=surgeon, decision="no_go", note=payload(15))
    item_patient_confirm(item=items["mri_comfort"], evidence={"kind": "done", "note": payload(16)})
    for kind, n in (("note", 9), ("call", 10)):
        post = staff.post(f"/surgeries/{surgery.uuid}/notes/", {"kind": kind, "outcome": "reached", "text": payload(n)})
        assert post.status_code == 302, post.content[:300]

    # Through the API, as another system would.
    raw = api_token_create(clinic=clinic, name="EHR", by=None)[1]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    def api_post(path: str, data: dict, status: int = 201) -> dict:
        response = api.post(path, json.dumps(data), content_type="application/json")
        assert response.status_code == status, response.content
        return response.json()

    api_patient = api_post(
        "/api/v1/patients/",
        {
            "mrn": "API-XSS",
            "first_name": payload(17, 100),
            "last_name": payload(18, 100),
            "birth_date": "1960-06-06",
            "allergies": payload(19),
        },
    )
    api_post(f"/api/v1/patients/{api_patient['id']}/medications/", {"name": payload(25, 120)})
    api_surgery = api_post(
        "/api/v1/surgeries/",
        {
            "patient": api_patient["id"],
            "procedure": "cervical-facet-rf",
            "start_at": in_days(11).isoformat(),
            "place": payload(20),
            "level": payload(21, 60),
        },
    )
    checklist = api.get(f"/api/v1/surgeries/{api_surgery['id']}/checklist/").json()
    ecg = next(i for i in checklist["items"] if i["code"] == "ecg")
    api_post(f"/api/v1/items/{ecg['id']}/not-applicable/", {"reason": payload(26)}, status=200)

    # A second booking for the first patient, cancelled with a payload reason.
    spare = surgery_book(patient=patient, procedure=lumbar, start_at=in_days(30), by=nurse)
    api_post(f"/api/v1/surgeries/{spare.uuid}/cancel/", {"reason": payload(27)}, status=200)
    third = surgery_book(patient=patient, procedure=lumbar, start_at=in_days(40), by=nurse)
    post = staff.post(f"/surgeries/{third.uuid}/cancel/", {"reason_code": "other", "reason": payload(24)})
    assert post.status_code == 302
    return {
        "patient": patient,
        "surgery": surgery,
        "items": items,
        "api_patient": api_patient["id"],
        "api_surgery": api_surgery["id"],
        "cancelled": spare,
        "cancelled_by_staff": third,
        "api": api,
        "staff": staff,
    }


def staff_pages(xss) -> list[tuple[str, dict]]:
    surgery, patient, items = xss["surgery"], xss["patient"], xss["items"]
    medication = patient.medications.first()
    pages = [
        "/",
        "/?q=alert",
        "/book/?q=alert",
        f"/book/?patient={patient.uuid}",
        f"/surgeries/{surgery.uuid}/",
        f"/surgeries/{surgery.uuid}/print/",
        f"/surgeries/{surgery.uuid}/edit/",
        f"/surgeries/{surgery.uuid}/cancel/",
        f"/patients/{patient.uuid}/medications/add/",
        f"/patients/{patient.uuid}/medications/{medication.uuid}/stop/",
        f"/surgeries/{xss['api_surgery']}/",
        f"/surgeries/{xss['api_surgery']}/print/",
        f"/surgeries/{xss['cancelled'].uuid}/",
        f"/patients/{xss['api_patient']}/",
        f"/surgeries/{xss['cancelled_by_staff'].uuid}/",
    ]
    for item in items.values():
        pages.append(f"/items/{item.uuid}/history/")
    out = [(p, {}) for p in pages]
    out += [(f"/items/{item.uuid}/history/", HX) for item in items.values()]
    return out


def assert_escaped(url: str, body: str) -> None:
    found = RAW.search(body)
    assert found is None, f"{url}: unescaped payload {body[max(0, found.start() - 80) : found.end() + 80]!r}"


def shown(body: str) -> set[int]:
    return {int(n) for n in re.findall(r"alert\((\d+)\)", body)}


def test_no_payload_renders_unescaped(xss, clinic_admin, surgeon, login, django_capture_on_commit_callbacks):
    seen: set[int] = set()
    for user in (xss["staff"], login(Client(), surgeon)):
        for url, headers in staff_pages(xss):
            response = user.get(url, **headers)
            assert response.status_code in (200, 302), (url, response.status_code)
            if response.status_code == 302:
                response = user.get(response["Location"])
            body = response.content.decode()
            assert_escaped(url, body)
            seen |= shown(body)

    # htmx fragments after each item action, and the form errors that echo the input.
    staff = xss["staff"]
    items = {i.code: i for i in xss["surgery"].checklist.items.all()}
    for url, data in (
        (
            f"/items/{items['hemoglobin'].uuid}/complete/",
            {"result": payload(40), "version": items["hemoglobin"].version},
        ),
        (
            f"/items/{items['blood_group'].uuid}/complete/",
            {"result": payload(41), "version": items["blood_group"].version},
        ),
        (f"/items/{items['ecg'].uuid}/undo/", {"reason": payload(42), "version": items["ecg"].version}),
        (f"/items/{items['mri'].uuid}/not-applicable/", {"reason": payload(43), "version": items["mri"].version}),
        (f"/items/{items['mri_comfort'].uuid}/accept/", {"version": items["mri_comfort"].version}),
    ):
        for headers in ({}, HX):
            response = staff.post(url, data, **headers)
            assert response.status_code in (200, 302, 400), (url, response.status_code)
            assert_escaped(url, response.content.decode())
            seen |= shown(response.content.decode())
    for url, data in (
        ("/book/", {"patient-first_name": payload(44), "surgery-place": payload(45), "action": "preview"}),
        (f"/surgeries/{xss['surgery'].uuid}/edit/", {"place": payload(46), "start_date": "garbage"}),
        (f"/surgeries/{xss['surgery'].uuid}/notes/", {"kind": payload(47), "text": ""}),
        (f"/patients/{xss['patient'].uuid}/medications/add/", {"drug": payload(48), "name": payload(49)}),
    ):
        response = staff.post(url, data)
        assert response.status_code == 400, (url, response.status_code)
        assert_escaped(url, response.content.decode())

    # The access log (clinic admin) shows MRNs.
    admin = login(Client(), clinic_admin)
    for url in ("/audit/", "/audit/?patient=" + payload(3, 40), "/reminders/outbox/"):
        body = admin.get(url).content.decode()
        assert_escaped(url, body)
        seen |= shown(body)

    # The portal: the patient's own pages.
    patient = xss["patient"]
    portal = portal_sign_in(Client(), patient)
    me = portal.get("/p/me/").content.decode()
    assert_escaped("/p/me/", me)
    seen |= shown(me)
    for uuid in re.findall(r"/p/me/items/([0-9a-f-]{36})/confirm/", me):
        body = portal.get(f"/p/me/items/{uuid}/confirm/").content.decode()
        assert_escaped("confirm", body)
        seen |= shown(body)
    body = portal.get("/p/me/messages/").content.decode()
    assert_escaped("/p/me/messages/", body)

    # The sign-in email a nurse sends from the patient page (HTML part escaped too).
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        sent = staff.post(f"/p/staff/send/{patient.uuid}/", {"channel": "email"})
    assert sent.status_code == 302
    assert mail.outbox, "no sign-in email sent"
    for message in mail.outbox:
        for content, mimetype in getattr(message, "alternatives", []):
            if "html" in mimetype:
                assert_escaped("email", content)
                seen |= shown(content)

    missing = {n: FIELDS[n] for n in FIELDS if n not in seen}
    assert not missing, f"fields never shown on any page checked (so not proven escaped): {missing}"


def test_csv_export_is_formula_safe(catalogue, clinic, nurse, surgeon, login):
    """Spreadsheet formulas in names, MRN, level: every such cell starts with a quote in the CSV."""
    from actions.booking import surgery_book
    from actions.patients import patient_create
    from api.services import api_token_create
    from prep.models import ProcedureVariant

    formulas = ['=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)"]
    procedure = ProcedureVariant.objects.get(slug="lumbar-facet-rf")
    for i, formula in enumerate(formulas):
        patient = patient_create(
            clinic=clinic,
            by=nurse,
            mrn=f"{formula[:30]}{i}",
            first_name=formula,
            last_name=formula[:100],
            birth_date=dt.date(1950, 1, 1),
        )
        surgery_book(patient=patient, procedure=procedure, start_at=in_days(5 + i), by=nurse, level=formula[:60])
    raw = api_token_create(clinic=clinic, name="sheet", by=None)[1]
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").get("/api/v1/exports/board.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert len(rows) == len(formulas)
    for row in rows:
        for column in ("Patient", "MRN", "Level"):
            assert not row[column].startswith(("=", "+", "-", "@", "\t", "\r")), (column, row[column])
        assert row["Patient"].startswith("'")


def test_api_json_is_never_html(xss):
    """The API answers JSON (with nosniff), so a browser never renders a payload in it as a page."""
    api = xss["api"]
    for url in (
        f"/api/v1/patients/{xss['api_patient']}/",
        f"/api/v1/surgeries/{xss['api_surgery']}/checklist/",
        "/api/v1/readiness/",
        f"/fhir/Patient/{xss['patient'].uuid}/$preop",
    ):
        response = api.get(url)
        assert response.status_code == 200, url
        assert response["Content-Type"].split(";")[0] in ("application/json", "application/fhir+json"), url
        assert response["X-Content-Type-Options"] == "nosniff"
