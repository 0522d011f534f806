"""The nurses' review queue: readable messages, match, dismiss, complete; clinic scoping; access log."""

from __future__ import annotations

import pytest

from audit.models import AccessLog
from inbox import services
from inbox.models import MessageStatus
from prep.models import ChecklistItem, ItemStatus
from tests.factories import in_days
from tests.inbox.helpers import hemoglobin, inr

pytestmark = pytest.mark.django_db


def _in_review(clinic, raw):
    receipt = services.hl7_receive(clinic=clinic, raw=raw, enqueue=lambda _id: None)
    message = services.message_process(message_id=receipt.message.pk)
    assert message.status == MessageStatus.REVIEW
    return message


def _item(surgery, code):
    return ChecklistItem.objects.get(checklist__surgery=surgery, code=code)


def test_the_board_links_to_the_queue_with_its_count_and_the_queue_reads_like_a_result(
    client, login, nurse, book, clinic
):
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    message = _in_review(clinic, inr(control="Q1", mrn=surgery.patient.mrn, value="2.6"))
    login(client, nurse)
    board = client.get("/?view=board").content.decode()
    assert 'data-testid="inbox-link"' in board and "Results to review" in board
    page = client.get("/inbox/").content.decode()
    assert surgery.patient.last_name in page and "2.6" in page and "above the clinic&#x27;s limit of 1.4" in page
    detail = client.get(f"/inbox/{message.uuid}/")
    assert detail.status_code == 200
    assert "INR" in detail.content.decode() and "6301-6" in detail.content.decode()
    assert AccessLog.objects.filter(path=f"/inbox/{message.uuid}/", patient=surgery.patient, allowed=True).exists()


def test_complete_records_the_result_as_the_nurse_and_the_catalogue_keeps_an_inr_open(
    client, login, nurse, book, clinic
):
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    message = _in_review(clinic, inr(control="Q2", mrn=surgery.patient.mrn, value="2.6"))
    login(client, nurse)
    item = _item(surgery, "inr")
    response = client.post(f"/inbox/{message.uuid}/complete/", {"index": "0", "item": str(item.uuid)})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == ItemStatus.OPEN and item.result_value == "2.6" and "above" in item.result_flag
    assert "received from LAB^MAINLAB, reviewed" in item.history.first().history_change_reason
    message.refresh_from_db()
    assert message.status == MessageStatus.PROCESSED and message.handled_by == nurse
    assert AccessLog.objects.filter(action="inbox review: result recorded on an item", user=nurse).exists()


def test_match_an_unknown_patient_then_it_completes(client, login, nurse, book, clinic):
    surgery = book()
    message = _in_review(clinic, hemoglobin(control="Q3", mrn="TYPO-123"))
    login(client, nurse)
    assert "TYPO-123" in client.get(f"/inbox/{message.uuid}/").content.decode()
    response = client.post(f"/inbox/{message.uuid}/match/", {"mrn": surgery.patient.mrn})
    assert response.status_code == 302
    message.refresh_from_db()
    assert message.status == MessageStatus.PROCESSED and message.patient == surgery.patient
    assert _item(surgery, "hemoglobin").status == ItemStatus.DONE


def test_dismiss_needs_a_reason_and_keeps_the_message(client, login, nurse, clinic):
    message = _in_review(clinic, hemoglobin(control="Q4", mrn="NOBODY"))
    login(client, nurse)
    client.post(f"/inbox/{message.uuid}/dismiss/", {"reason": ""})
    message.refresh_from_db()
    assert message.status == MessageStatus.REVIEW
    client.post(f"/inbox/{message.uuid}/dismiss/", {"reason": "Test patient of the lab's validation run"})
    message.refresh_from_db()
    assert message.status == MessageStatus.DISMISSED and message.dismiss_reason.startswith("Test patient")


def test_another_clinics_message_is_a_404_on_every_page_and_action(client, login, outsider_nurse, clinic, book):
    surgery = book()
    message = _in_review(clinic, hemoglobin(control="Q5", mrn=surgery.patient.mrn, value="8.0"))
    login(client, outsider_nurse)
    assert client.get(f"/inbox/{message.uuid}/").status_code == 404
    for action, data in (
        ("dismiss", {"reason": "x"}),
        ("match", {"mrn": surgery.patient.mrn}),
        ("complete", {"index": "0", "item": str(_item(surgery, "hemoglobin").uuid)}),
    ):
        assert client.post(f"/inbox/{message.uuid}/{action}/", data).status_code == 404
    assert surgery.patient.last_name not in client.get("/inbox/").content.decode()
    message.refresh_from_db()
    assert message.status == MessageStatus.REVIEW
    assert AccessLog.objects.filter(path=f"/inbox/{message.uuid}/", allowed=False).exists()


def test_the_service_checks_the_clinic_too(outsider_nurse, clinic):
    from django.http import Http404

    message = _in_review(clinic, hemoglobin(control="Q6", mrn="NOBODY"))
    with pytest.raises(Http404):
        services.review_dismiss(message=message, by=outsider_nurse, reason="not ours")
