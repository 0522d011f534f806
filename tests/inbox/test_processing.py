"""The inbox's processing, without the network: store, process once, complete or queue for review."""

from __future__ import annotations

import pytest

from accounts.models import User
from audit.models import AccessLog
from inbox import services
from inbox.models import InboxMessage, MessageStatus
from prep.models import ChecklistItem, ItemStatus
from tests.factories import in_days
from tests.inbox.helpers import hemoglobin, inr, oru

pytestmark = pytest.mark.django_db


def _receive(clinic, raw):
    receipt = services.hl7_receive(clinic=clinic, raw=raw, enqueue=lambda _id: None)
    return receipt, services.message_process(message_id=receipt.message.pk)


def _item(surgery, code):
    return ChecklistItem.objects.get(checklist__surgery=surgery, code=code)


def test_a_valid_hemoglobin_completes_the_item_with_its_source_in_the_history(book, clinic):
    surgery = book()
    receipt, message = _receive(clinic, hemoglobin(control="M1", mrn=surgery.patient.mrn))
    assert receipt.ack_code == "AA"
    assert message.status == MessageStatus.PROCESSED, message.outcome
    item = _item(surgery, "hemoglobin")
    assert item.status == ItemStatus.DONE and item.result_value == "13.2"
    assert "received from LAB^MAINLAB" in item.history.first().history_change_reason
    assert item.completed_by.role == "system"
    assert AccessLog.objects.filter(patient=surgery.patient, action__contains="received from LAB^MAINLAB").exists()


def test_g_per_litre_is_converted_to_the_catalogues_g_per_decilitre(book, clinic):
    surgery = book()
    _receipt, message = _receive(clinic, hemoglobin(control="M2", mrn=surgery.patient.mrn, value="131", unit="g/L"))
    assert message.status == MessageStatus.PROCESSED, message.outcome
    assert _item(surgery, "hemoglobin").result_value == "13.1"


def test_a_unit_that_cannot_be_converted_waits_for_review(book, clinic):
    surgery = book()
    _receipt, message = _receive(clinic, hemoglobin(control="M3", mrn=surgery.patient.mrn, value="8", unit="mg/mL"))
    assert message.status == MessageStatus.REVIEW and "cannot be converted" in message.outcome
    assert _item(surgery, "hemoglobin").status == ItemStatus.OPEN


def test_a_resent_message_changes_nothing(book, clinic):
    surgery = book()
    raw = hemoglobin(control="M4", mrn=surgery.patient.mrn)
    _receive(clinic, raw)
    item = _item(surgery, "hemoglobin")
    history = item.history.count()
    again, _message = _receive(clinic, raw)
    assert not again.created and again.ack_code == "AA"
    assert InboxMessage.objects.filter(control_id="M4").count() == 1
    assert _item(surgery, "hemoglobin").history.count() == history


def test_low_hemoglobin_and_high_inr_wait_for_a_nurse(book, clinic):
    # The INR is valid for 2 days before the surgery (catalogue): a surgery the day after tomorrow.
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    _r, message = _receive(clinic, hemoglobin(control="M5", mrn=surgery.patient.mrn, value="8.1"))
    assert message.status == MessageStatus.REVIEW and "alert level" in message.outcome
    assert _item(surgery, "hemoglobin").status == ItemStatus.OPEN
    _r, message = _receive(clinic, inr(control="M6", mrn=surgery.patient.mrn, value="2.6"))
    assert message.status == MessageStatus.REVIEW and "above the clinic's limit of 1.4" in message.outcome
    assert _item(surgery, "inr").status == ItemStatus.OPEN and _item(surgery, "inr").result_value == ""


def test_a_result_too_old_for_the_surgery_date_waits_for_review(book, clinic):
    surgery = book(medications=["warfarin"], start_at=in_days(10))
    _r, message = _receive(clinic, inr(control="M11", mrn=surgery.patient.mrn, value="1.0"))
    assert message.status == MessageStatus.REVIEW and "older than 2 days before the surgery" in message.outcome


def test_unknown_patient_and_unknown_code_are_answered_ae_and_queued(book, clinic):
    surgery = book()
    receipt, message = _receive(clinic, hemoglobin(control="M7", mrn="NOBODY"))
    assert receipt.ack_code == "AE" and "unknown patient" in receipt.text
    assert message.status == MessageStatus.REVIEW
    receipt, message = _receive(
        clinic, oru(control="M8", mrn=surgery.patient.mrn, obx=[("NM", "2345-7", "Glucose", "5.4", "mmol/L")])
    )
    assert receipt.ack_code == "AE" and "unknown code 2345-7" in receipt.text
    assert message.status == MessageStatus.REVIEW


def test_a_malformed_message_is_rejected_and_kept(clinic):
    receipt, message = _receive(clinic, "this is not hl7")
    assert receipt.ack_code == "AR" and "malformed" in receipt.text
    assert message.status == MessageStatus.REJECTED and message.raw == "this is not hl7"


def test_abo_and_rh_in_one_message_make_the_blood_group(book, clinic):
    surgery = book()
    raw = oru(
        control="M9",
        mrn=surgery.patient.mrn,
        obx=[("CWE", "883-9", "ABO group", "A", ""), ("CWE", "10331-7", "Rh type", "Positive", "")],
    )
    _r, message = _receive(clinic, raw)
    assert message.status == MessageStatus.PROCESSED, message.outcome
    assert _item(surgery, "blood_group").result_value == "A+"


def test_another_clinic_never_sees_the_patient(book, clinic, other_clinic):
    surgery = book()
    _r, message = _receive(other_clinic, hemoglobin(control="M10", mrn=surgery.patient.mrn))
    assert message.status == MessageStatus.REVIEW and message.patient is None
    assert _item(surgery, "hemoglobin").status == ItemStatus.OPEN
    assert User.objects.filter(email__endswith="@eastside.inbox.invalid").exists()
