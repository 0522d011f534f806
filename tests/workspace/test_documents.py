"""Documents on checklist items: upload on the patient page, checks by content, storage, serving, history.

A nurse of the clinic (owner), the clinic's surgeon (colleague) and a nurse of another clinic
(outsider). Every test stores into a folder of its own (``documents_dir``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from audit.models import AccessLog
from documents import services
from documents.content import clean_filename
from documents.models import Document
from documents.storage import NoPublicUrl, document_storage
from tests.factories import EXE_BYTES, HTML_BYTES, jpeg_bytes, pdf_bytes, png_bytes
from tests.workspace.conftest import item_of

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def documents_dir(settings, tmp_path) -> Path:
    """The documents storage in a folder of this test (Django drops its cached backend on the change)."""
    folder = tmp_path / "documents"
    settings.STORAGES = {
        **settings.STORAGES,
        "documents": {"BACKEND": "documents.storage.PrivateFileSystemStorage", "OPTIONS": {"location": str(folder)}},
    }
    return folder


def stored_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def upload(client, item, content: bytes, name: str, content_type: str = "application/octet-stream", **extra):
    return client.post(
        f"/items/{item.uuid}/documents/", {"file": SimpleUploadedFile(name, content, content_type)}, **extra
    )


@pytest.mark.parametrize(
    ("content", "name", "declared", "detected"),
    [
        (pdf_bytes(), "ECG 12 lead.pdf", "application/pdf", "application/pdf"),
        (png_bytes(), "chest-xray.png", "image/png", "image/png"),
        (jpeg_bytes(), "mri.JPG", "image/jpeg", "image/jpeg"),
        (jpeg_bytes(), "scan", "application/octet-stream", "image/jpeg"),  # no extension: the bytes decide
    ],
)
def test_upload_of_a_valid_document(client_for, surgery, nurse, documents_dir, content, name, declared, detected):
    ecg = item_of(surgery, "ecg")
    response = upload(client_for(nurse), ecg, content, name, declared, follow=True)
    assert response.redirect_chain[-1][0].endswith(f"/surgeries/{surgery.uuid}/#item-{ecg.uuid}")
    html = response.content.decode()
    assert f"{name} attached to {ecg.title}." in html
    document = Document.objects.get(item=ecg)
    assert (document.filename, document.content_type, document.size) == (name, detected, len(content))
    assert document.sha256 == hashlib.sha256(content).hexdigest()
    assert (document.uploaded_by, document.source, document.clinic_id) == (
        nurse,
        services.SOURCE_UPLOAD,
        ecg.checklist.surgery.clinic_id,
    )
    # Stored under a random name that says nothing of the patient or of the file's own name.
    files = stored_files(documents_dir)
    assert [p.read_bytes() for p in files] == [content]
    assert str(files[0].relative_to(documents_dir)) == document.storage_name
    for word in ("Garcia", "Ana", "MRN0001", Path(name).stem, str(ecg.uuid)):
        assert word not in document.storage_name
    # Listed on the item's row, linked to the download view only.
    assert f'href="/documents/{document.uuid}/"' in html
    # The history says so; the item itself (status, version) is unchanged.
    fresh = item_of(surgery, "ecg")
    assert (fresh.status, fresh.version) == (ecg.status, ecg.version)
    latest = fresh.history.order_by("-history_id").first()
    assert latest.history_change_reason == f"Document attached: {name}"
    assert latest.history_user == nurse


def test_htmx_upload_returns_the_row_with_the_document(client_for, surgery, surgeon, documents_dir):
    consent = item_of(surgery, "consent")  # a surgeon's item: documents are filed by the whole care team
    response = upload(client_for(surgeon), consent, pdf_bytes(), "consent-signed.pdf", "application/pdf", **HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="item-{consent.uuid}"' in html and "<html" not in html
    document = Document.objects.get(item=consent)
    assert f"/documents/{document.uuid}/" in html and "consent-signed.pdf" in html and "PDF" in html
    logged = AccessLog.objects.get(user=surgeon, action="POST workspace:document_upload")
    assert logged.allowed and logged.patient_id == surgery.patient_id
    history = client_for(surgeon).get(f"/items/{consent.uuid}/history/").content.decode()
    assert "Document attached: consent-signed.pdf" in history


@pytest.mark.parametrize(
    ("content", "name", "declared", "message"),
    [
        (
            EXE_BYTES,
            "ecg.pdf",
            "application/pdf",
            "ecg.pdf is not a PDF, PNG or JPEG file (its content is application/x-msdownload)",
        ),
        (
            HTML_BYTES,
            "report.pdf",
            "application/pdf",
            "report.pdf is not a PDF, PNG or JPEG file (its content is not a recognised document)",
        ),
        (HTML_BYTES, "report.html", "text/html", "is not a PDF, PNG or JPEG file"),
        (png_bytes(), "ecg.pdf", "application/octet-stream", "ecg.pdf is named .pdf but its content is a PNG image"),
        (pdf_bytes(), "ecg.pdf", "image/png", "ecg.pdf was sent as image/png but its content is a PDF"),
        (b"", "ecg.pdf", "application/pdf", "The file is empty"),
    ],
)
def test_bad_documents_are_refused_with_the_reason(
    client_for, surgery, nurse, documents_dir, content, name, declared, message
):
    ecg = item_of(surgery, "ecg")
    client = client_for(nurse)
    response = upload(client, ecg, content, name, declared, follow=True)
    assert message in response.content.decode()
    hx = upload(client, ecg, content, name, declared, **HX)
    assert hx.status_code == 200 and message in hx.content.decode()
    assert not Document.objects.exists()
    assert stored_files(documents_dir) == []
    assert item_of(surgery, "ecg").history.count() == ecg.history.count()


def test_oversize_is_refused_before_it_is_read(client_for, surgery, nurse, documents_dir, settings):
    settings.DOCUMENTS_MAX_BYTES = 1024 * 1024
    ecg = item_of(surgery, "ecg")
    big = pdf_bytes() + b"0" * (settings.DOCUMENTS_MAX_BYTES + 1)
    response = upload(client_for(nurse), ecg, big, "ecg.pdf", "application/pdf", follow=True)
    # Dropped while it arrived (workspace.uploads): never kept in memory or a temporary file.
    assert "The file is larger than 1 MB, the most a document may be; nothing was saved." in response.content.decode()
    assert not Document.objects.exists() and stored_files(documents_dir) == []
    # Just at the limit is accepted.
    exact = pdf_bytes() + b"0" * (settings.DOCUMENTS_MAX_BYTES - len(pdf_bytes()))
    assert "attached to" in upload(client_for(nurse), ecg, exact, "ecg.pdf", follow=True).content.decode()
    with pytest.raises(ValidationError, match=r"The file is 1\.1 MB; documents may be at most 1 MB"):
        services.document_attach(item=ecg, content=big[:-1], filename="x.pdf", declared_type=None, source="lab")
    with pytest.raises(ValidationError, match="at most 1 MB"):
        services.document_attach(item=ecg, content=big, filename="x.pdf", declared_type=None, source="lab")


def test_no_file_chosen(client_for, surgery, nurse, documents_dir):
    ecg = item_of(surgery, "ecg")
    response = client_for(nurse).post(f"/items/{ecg.uuid}/documents/", {}, follow=True)
    assert "Choose a file to attach." in response.content.decode()
    assert not Document.objects.exists()


def test_the_same_file_twice_is_one_document(client_for, surgery, nurse, documents_dir):
    ecg = item_of(surgery, "ecg")
    client = client_for(nurse)
    upload(client, ecg, pdf_bytes(), "ecg.pdf")
    response = upload(client, ecg, pdf_bytes(), "ecg-again.pdf", follow=True)
    assert "ecg.pdf is already attached to" in response.content.decode()
    assert Document.objects.count() == 1 and len(stored_files(documents_dir)) == 1


def test_nothing_is_half_saved_when_the_database_write_fails(surgery, nurse, documents_dir, monkeypatch):
    ecg = item_of(surgery, "ecg")

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "item_history_note", broken)
    with pytest.raises(RuntimeError):
        services.document_attach(
            item=ecg, content=pdf_bytes(), filename="ecg.pdf", declared_type=None, source="x", user=nurse
        )
    assert not Document.objects.exists()
    assert stored_files(documents_dir) == []


def test_system_attach_for_the_results_inbox(surgery, documents_dir):
    """The inbox attaches a DiagnosticReport's presentedForm without a user; the history names the sender."""
    ecg = item_of(surgery, "ecg")
    document = services.document_attach(
        item=ecg,
        content=pdf_bytes(),
        filename="report.pdf",
        declared_type="application/pdf",
        source="received from Acme Lab (FHIR)",
    )
    assert document.is_new and document.uploaded_by is None
    note = ecg.history.order_by("-history_id").first()
    assert note.history_change_reason == "Document attached: report.pdf, received from Acme Lab (FHIR)"
    again = services.document_attach(
        item=ecg, content=pdf_bytes(), filename="report.pdf", declared_type=None, source="resent"
    )
    assert again.pk == document.pk and not again.is_new


def test_authorization_in_the_action(surgery, outsider_nurse, nurse, documents_dir):
    from actions.documents import document_upload
    from prep.models import ChecklistStatus

    ecg = item_of(surgery, "ecg")
    with pytest.raises(PermissionDenied, match="staff of the patient's clinic"):
        document_upload(item=ecg, by=outsider_nurse, upload=SimpleUploadedFile("e.pdf", pdf_bytes(), "application/pdf"))
    nurse.is_active = False
    with pytest.raises(PermissionDenied):
        document_upload(item=ecg, by=nurse, upload=SimpleUploadedFile("e.pdf", pdf_bytes(), "application/pdf"))
    nurse.is_active = True
    ecg.checklist.status = ChecklistStatus.CLOSED
    ecg.checklist.save(update_fields=["status"])
    with pytest.raises(ValidationError, match="checklist is closed"):
        document_upload(item=ecg, by=nurse, upload=SimpleUploadedFile("e.pdf", pdf_bytes(), "application/pdf"))
    assert not Document.objects.exists() and stored_files(documents_dir) == []


def test_another_clinic_gets_404_on_upload_and_download(client_for, surgery, nurse, outsider_nurse, documents_dir):
    ecg = item_of(surgery, "ecg")
    document = services.document_attach(
        item=ecg, content=pdf_bytes(), filename="ecg.pdf", declared_type=None, source="x", user=nurse
    )
    outsider = client_for(outsider_nurse)
    assert outsider.get(f"/documents/{document.uuid}/").status_code == 404
    assert upload(outsider, ecg, png_bytes(), "x.png").status_code == 404
    assert Document.objects.count() == 1 and len(stored_files(documents_dir)) == 1
    denied = AccessLog.objects.filter(user=outsider_nurse, action="GET workspace:document_download").get()
    assert not denied.allowed and denied.patient_id is None and denied.status_code == 404
    assert client_for(None).get(f"/documents/{document.uuid}/").status_code == 302  # to the sign-in page


def test_download_is_access_logged_and_never_cached_or_sniffed(client_for, surgery, nurse, surgeon, documents_dir):
    ecg = item_of(surgery, "ecg")
    content = pdf_bytes()
    document = services.document_attach(
        item=ecg, content=content, filename="Garcia ECG.exe", declared_type=None, source="x", user=nurse
    )
    response = client_for(surgeon).get(f"/documents/{document.uuid}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    assert response["Content-Type"] == "application/pdf"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "no-store"
    # Opened in the browser as what it really is, whatever its name said.
    assert response["Content-Disposition"] == 'inline; filename="Garcia ECG.exe.pdf"'
    # The browser's PDF viewer may run; nothing may frame it.
    assert response["Content-Security-Policy"] == "frame-ancestors 'none'"
    image = services.document_attach(
        item=ecg, content=png_bytes(), filename="trace.png", declared_type=None, source="x", user=nurse
    )
    shown = client_for(surgeon).get(f"/documents/{image.uuid}/")
    assert shown["Content-Type"] == "image/png" and shown["Content-Disposition"] == 'inline; filename="trace.png"'
    assert "object-src 'none'" in shown["Content-Security-Policy"]
    rows = AccessLog.objects.filter(user=surgeon, action="GET workspace:document_download")
    assert [r.path for r in rows] == [f"/documents/{image.uuid}/", f"/documents/{document.uuid}/"]
    for row in rows:
        assert row.allowed and row.patient_id == surgery.patient_id and row.clinic_id == surgery.clinic_id


def test_documents_have_no_public_url(client_for, surgery, nurse, documents_dir, settings):
    ecg = item_of(surgery, "ecg")
    document = services.document_attach(
        item=ecg, content=pdf_bytes(), filename="ecg.pdf", declared_type=None, source="x", user=nurse
    )
    with pytest.raises(NoPublicUrl):
        document_storage().url(document.storage_name)
    client = client_for(nurse)
    media = settings.MEDIA_URL or "/"
    for prefix in (settings.STATIC_URL, media, "/media/", "/documents/", "/var/documents/"):
        response = client.get(f"/{prefix.strip('/')}/{document.storage_name}".replace("//", "/"))
        assert response.status_code == 404, prefix
    # The default folder is outside every folder served as static files.
    from django.conf import settings as live

    static = [Path(live.STATIC_ROOT).resolve(), *(Path(d).resolve() for d in live.STATICFILES_DIRS)]
    assert all(d not in live.DOCUMENTS_DIR.parents and d != live.DOCUMENTS_DIR for d in static)


def test_the_page_lists_documents_in_one_query(client_for, surgery, nurse, documents_dir, django_assert_num_queries):
    from workspace.selectors import surgery_page

    client = client_for(nurse)
    items = [item_of(surgery, code) for code in ("ecg", "hemoglobin", "consent")]
    for n, item in enumerate(items):
        services.document_attach(
            item=item, content=pdf_bytes(str(n)), filename=f"doc{n}.pdf", declared_type=None, source="x", user=nurse
        )
    html = client.get(f"/surgeries/{surgery.uuid}/").content.decode()
    for document in Document.objects.all():
        assert f'href="/documents/{document.uuid}/"' in html and document.filename in html
    from documents.selectors import documents_by_item

    with django_assert_num_queries(1):
        found = documents_by_item(item_ids=[i.pk for i in items])
        assert sorted(len(v) for v in found.values()) == [1, 1, 1]
    page = surgery_page(user=nurse, uuid=surgery.uuid)
    assert sum(len(v.documents) for g in page.groups for v in g.items) == 3


@pytest.mark.parametrize(
    ("given", "clean"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\nurse\\ecg.pdf", "ecg.pdf"),
        ("ecg\x00\n.pdf", "ecg.pdf"),
        (".hidden.pdf", "hidden.pdf"),
        ("", "document"),
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
    ],
)
def test_file_names_are_cleaned(given, clean):
    assert clean_filename(given) == clean


def test_orphaned_files_are_swept(surgery, nurse, documents_dir):
    """A file whose row a caller's transaction rolled back is removed by the sweep; documents stay."""
    import datetime as dt

    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    ecg = item_of(surgery, "ecg")
    kept = services.document_attach(
        item=ecg, content=pdf_bytes(), filename="kept.pdf", declared_type=None, source="x", user=nurse
    )
    sid = transaction.savepoint()
    services.document_attach(
        item=ecg, content=png_bytes(), filename="lost.png", declared_type=None, source="x", user=nurse
    )
    transaction.savepoint_rollback(sid)  # the caller's transaction failed after the attach
    assert len(stored_files(documents_dir)) == 2
    assert services.documents_orphans_delete() == 0  # too recent: it may be an attach in progress
    later = timezone.now() + dt.timedelta(hours=2)
    assert services.documents_orphans_delete(now=later) == 1
    assert [p.read_bytes() for p in stored_files(documents_dir)] == [pdf_bytes()]
    assert document_storage().exists(kept.storage_name)
    call_command("documents_sweep", "--hours", "0")


def test_the_s3_backend_is_private_and_makes_no_url(settings):
    """DOCUMENTS_S3_* in production: private objects under the prefix, never overwritten, no URL (no network here)."""
    pytest.importorskip("boto3")
    from django.core.files.storage import storages

    settings.STORAGES = {
        **settings.STORAGES,
        "documents": {
            "BACKEND": "documents.storage_s3.PrivateS3Storage",
            "OPTIONS": {
                "bucket_name": "preop-documents",
                "location": "documents",
                "endpoint_url": "https://objects.example.org",
                "region_name": "eu-west-1",
                "access_key": "AKIDEXAMPLE",
                "secret_key": "not-a-real-secret",
            },
        },
    }
    storage = storages["documents"]
    assert type(storage).__name__ == "PrivateS3Storage"
    assert (storage.default_acl, storage.file_overwrite, storage.location) == ("private", False, "documents")
    with pytest.raises(NoPublicUrl):
        storage.url("ab/cd/abcd.pdf")
