"""Documents that come with a result (FHIR presentedForm, HL7 ED): attached to the item the result
completed, refused with the reason, attached once, attached when a nurse settles the message."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from documents.models import Document
from inbox import services, tasks
from inbox.models import InboxMessage, MessageStatus
from prep.models import ChecklistItem, ItemStatus
from tests.factories import EXE_BYTES, in_days, pdf_bytes
from tests.inbox.helpers import oru

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued")]
CONCLUSION = "Sinus rhythm, 72/min, normal ECG."


@pytest.fixture(autouse=True)
def documents_dir(settings, tmp_path) -> Path:
    """The documents storage in a folder of this test, to see which files were written."""
    folder = tmp_path / "documents"
    settings.STORAGES = {
        **settings.STORAGES,
        "documents": {"BACKEND": "documents.storage.PrivateFileSystemStorage", "OPTIONS": {"location": str(folder)}},
    }
    return folder


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _report(*, ident: str, mrn: str, content: bytes | None = None, **form) -> dict:
    if content is not None:
        form["data"] = base64.b64encode(content).decode()
    return {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": "urn:oid:1.2.3.4.cardio", "value": ident}],
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "11524-6", "display": "EKG study"}]},
        "subject": {"identifier": {"value": mrn}},
        "conclusion": CONCLUSION,
        "presentedForm": [{"contentType": "application/pdf", "title": "ECG tracing", **form}],
    }


def _ecg(surgery) -> ChecklistItem:
    return ChecklistItem.objects.get(checklist__surgery=surgery, code="ecg")


def _attach_notes(item: ChecklistItem) -> list[str]:
    return [
        h.history_change_reason
        for h in item.history.all()
        if (h.history_change_reason or "").startswith("Document attached")
    ]


def test_a_report_with_a_pdf_completes_the_ecg_and_attaches_it(
    book, fhir_post, client, login, nurse, outsider_nurse, documents_dir
):
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    response = fhir_post(
        "/fhir/DiagnosticReport", _report(ident="ECG-10", mrn=surgery.patient.mrn, content=pdf_bytes())
    )
    assert response.status_code == 201, response.content
    tasks.process_pending()
    message = InboxMessage.objects.get(control_id__endswith="|ECG-10")
    assert message.status == MessageStatus.PROCESSED, message.outcome
    ecg = _ecg(surgery)
    assert ecg.status == ItemStatus.DONE and ecg.result_value == CONCLUSION
    document = Document.objects.get(item=ecg)
    assert document.content_type == "application/pdf" and document.uploaded_by is None
    # The FHIR source is the token's name and key prefix, as in the item's completion note.
    assert document.source == f"received from {message.source}" and message.source.startswith("Main lab (")
    assert document.clinic_id == surgery.clinic_id
    assert _attach_notes(ecg) == [f"Document attached: ECG tracing, received from {message.source}"]
    assert len(_files(documents_dir)) == 1
    (noted,) = message.documents
    assert noted["status"] == "attached" and noted["attached"][0]["document"] == str(document.uuid)

    login(client, nurse)
    page = client.get(f"/inbox/{message.uuid}/").content.decode()
    assert f"/documents/{document.uuid}/" in page and "not stored yet" not in page
    download = client.get(f"/documents/{document.uuid}/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == pdf_bytes()
    login(client, outsider_nurse)
    assert client.get(f"/documents/{document.uuid}/").status_code == 404


def test_an_exe_sent_as_a_pdf_is_refused_and_the_message_waits_with_the_reason(book, fhir_post, documents_dir):
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    response = fhir_post("/fhir/DiagnosticReport", _report(ident="ECG-11", mrn=surgery.patient.mrn, content=EXE_BYTES))
    assert response.status_code == 201, response.content
    tasks.process_pending()
    message = InboxMessage.objects.get(control_id__endswith="|ECG-11")
    assert message.status == MessageStatus.REVIEW
    assert message.outcome.startswith("attached document refused: ECG tracing is not a PDF, PNG or JPEG file")
    # Nothing half-saved: the interpretation waits with its document, no row, no file.
    assert _ecg(surgery).status == ItemStatus.OPEN
    assert not Document.objects.exists() and _files(documents_dir) == []
    (noted,) = message.documents
    assert noted["status"] == "refused" and noted["attached"] == []
    assert message.results[0]["status"] == "review" and message.results[0]["reason"] == message.outcome


def test_a_resent_report_attaches_nothing_more(book, fhir_post, documents_dir):
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    body = _report(ident="ECG-12", mrn=surgery.patient.mrn, content=pdf_bytes())
    fhir_post("/fhir/DiagnosticReport", body)
    tasks.process_pending()
    again = fhir_post("/fhir/DiagnosticReport", body)
    assert again.status_code < 300, again.content
    tasks.process_pending()
    message = InboxMessage.objects.get(control_id__endswith="|ECG-12")
    services.message_process(message_id=message.pk)  # processed again by mistake: left alone
    assert InboxMessage.objects.filter(control_id__endswith="|ECG-12").count() == 1
    assert Document.objects.count() == 1 and len(_files(documents_dir)) == 1
    assert len(_attach_notes(_ecg(surgery))) == 1


def test_a_report_for_an_unknown_patient_attaches_its_document_when_the_nurse_matches(
    book, fhir_post, client, login, nurse
):
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    fhir_post("/fhir/DiagnosticReport", _report(ident="ECG-13", mrn="TYPO-1", content=pdf_bytes()))
    tasks.process_pending()
    message = InboxMessage.objects.get(control_id__endswith="|ECG-13")
    assert message.status == MessageStatus.REVIEW and message.documents[0]["status"] == "waiting"
    login(client, nurse)
    assert "not attached: waiting for review" in client.get(f"/inbox/{message.uuid}/").content.decode()
    assert not Document.objects.exists()
    assert client.post(f"/inbox/{message.uuid}/match/", {"mrn": surgery.patient.mrn}).status_code == 302
    message.refresh_from_db()
    assert message.status == MessageStatus.PROCESSED and message.documents[0]["status"] == "attached"
    assert Document.objects.get().item == _ecg(surgery) and _ecg(surgery).status == ItemStatus.DONE


def test_a_nurse_recording_the_result_on_an_item_attaches_the_document(book, fhir_post, nurse):
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    fhir_post("/fhir/DiagnosticReport", _report(ident="ECG-14", mrn="TYPO-2", content=pdf_bytes()))
    tasks.process_pending()
    message = InboxMessage.objects.get(control_id__endswith="|ECG-14")
    ecg = _ecg(surgery)
    message = services.review_complete(message=message, by=nurse, index=0, item=ecg)
    assert message.status == MessageStatus.PROCESSED and message.documents[0]["status"] == "attached"
    assert Document.objects.get().item == ecg
    assert _attach_notes(ecg) == [f"Document attached: ECG tracing, received from {message.source}"]


def test_a_document_sent_as_a_link_is_noted_not_fetched(book, fhir_post, client, login, nurse):
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    fhir_post(
        "/fhir/DiagnosticReport",
        _report(ident="ECG-15", mrn=surgery.patient.mrn, url="https://pacs.example/ecg/15.pdf"),
    )
    tasks.process_pending()
    message = InboxMessage.objects.get(control_id__endswith="|ECG-15")
    assert message.status == MessageStatus.PROCESSED and _ecg(surgery).status == ItemStatus.DONE
    assert message.documents[0]["status"] == "link" and not Document.objects.exists()
    login(client, nurse)
    assert "sent as a link: not fetched" in client.get(f"/inbox/{message.uuid}/").content.decode()


def test_an_hl7_ed_segment_with_a_base64_pdf_is_attached(book, clinic):
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    data = base64.b64encode(pdf_bytes()).decode()
    raw = oru(
        control="ED-1",
        mrn=surgery.patient.mrn,
        obx=[
            ("TX", "11524-6", "EKG study", CONCLUSION, ""),
            ("ED", "11524-6", "ECG tracing", f"^application^pdf^Base64^{data}", ""),
        ],
        sender="CARDIO^MAINLAB",
    )
    receipt = services.hl7_receive(clinic=clinic, raw=raw, enqueue=lambda _id: None)
    message = services.message_process(message_id=receipt.message.pk)
    assert message.status == MessageStatus.PROCESSED, message.outcome
    assert [r["code"] for r in message.results] == ["11524-6"]  # the ED is a document, not a result
    document = Document.objects.get(item=_ecg(surgery))
    assert document.source == "received from CARDIO^MAINLAB"
