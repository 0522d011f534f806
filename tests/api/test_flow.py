"""Book through the API, complete through the API, read the same state back through FHIR and the staff page."""

from __future__ import annotations

import re

import pytest

from prep.selectors import readiness_compute
from tests.api.helpers import assert_bundle_valid, book_through_api, checklist_items, of_type

pytestmark = pytest.mark.django_db


def staff_page_items(html: str) -> dict[str, dict]:
    """code -> {status, result} from the nurse's surgery page (workspace/_item_row.html)."""
    rows = {}
    for match in re.finditer(
        r'<li class="item-row[^"]*status-(\w+)" id="item-[^"]+" data-code="([^"]+)">(.*?)</li>', html, re.S
    ):
        status, code, body = match.groups()
        result = re.search(r'data-testid="result">([^<]*)<', body)
        rows[code] = {"status": status, "result": result.group(1).strip() if result else None}
    return rows


def test_book_complete_then_read_back_everywhere(api, catalogue, surgeon, client, nurse):
    patient_id, surgery_id = book_through_api(api, surgeon_email=surgeon.email)
    items = checklist_items(api, surgery_id)
    assert {"hemoglobin", "blood_group", "hold_approval:clopidogrel", "hold:clopidogrel"} <= set(items)

    r = api.post(
        f"/api/v1/items/{items['hemoglobin']['id']}/complete/",
        {"result": "12,9", "expected_version": items["hemoglobin"]["version"]},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "done" and r.json()["result_value"] == "12.9"
    assert r.json()["completed_by"] == "API Scheduling interface"
    r = api.post(f"/api/v1/items/{items['blood_group']['id']}/complete/", {"result": "O-"}, format="json")
    assert r.status_code == 200, r.content
    r = api.post(f"/api/v1/items/{items['mri']['id']}/not-applicable/", {"reason": "Recent MRI on file"}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "not_applicable"

    # The same rules and history as the pages: the item history names the token's service user.
    from prep.models import ChecklistItem

    hb = ChecklistItem.objects.get(uuid=items["hemoglobin"]["id"])
    latest = hb.history.first()
    assert latest.status == "done" and latest.history_change_reason == "done"
    assert latest.history_user.api_token.name == "Scheduling interface"

    # FHIR export.
    r = api.get(f"/fhir/Patient/{patient_id}/$preop")
    by_url = assert_bundle_valid(r.json())
    tasks = {t["code"]["coding"][0]["code"]: t for t in of_type(by_url, "Task")}
    assert tasks["hemoglobin"]["status"] == "completed"
    assert tasks["blood_group"]["status"] == "completed"
    assert tasks["mri"]["status"] == "cancelled" and tasks["mri"]["statusReason"]["text"] == "Recent MRI on file"
    assert tasks["consent"]["status"] == "ready"
    observations = {o["code"]["coding"][0]["code"]: o for o in of_type(by_url, "Observation")}
    assert observations["718-7"]["valueQuantity"]["value"] == 12.9
    assert observations["883-9"]["valueCodeableConcept"]["text"] == "O-"
    (request,) = of_type(by_url, "ServiceRequest")
    assert request["id"] == surgery_id

    # The nurse's page shows the same state.
    client.force_login(nurse)
    page = client.get(f"/surgeries/{surgery_id}/")
    assert page.status_code == 200
    rows = staff_page_items(page.content.decode())
    assert rows["hemoglobin"] == {"status": "done", "result": "12.9 g/dL"}
    assert rows["blood_group"] == {"status": "done", "result": "O-"}
    assert rows["mri"]["status"] == "not_applicable"
    assert rows["consent"]["status"] == "open"

    # And readiness agrees between the API list and the selector.
    from patients.models import Surgery

    surgery = Surgery.objects.select_related("patient__clinic").get(uuid=surgery_id)
    report = readiness_compute(
        surgery=surgery, items=list(surgery.checklist.items.all()), clinic=surgery.patient.clinic
    )
    day = surgery.start_at.astimezone(surgery.patient.clinic.tz).date().isoformat()
    r = api.get(f"/api/v1/readiness/?from={day}&to={day}")
    (row,) = r.json()["results"]
    assert (row["readiness"], row["done"], row["required"]) == (report.state, report.done, report.required)
    checklist = api.get(f"/api/v1/surgeries/{surgery_id}/checklist/").json()
    assert checklist["readiness"]["state"] == report.state and checklist["readiness"]["done"] == report.done
