"""Documents attached by staff on the patient page (an ECG tracing, an imaging report, a consent).

Attaching changes nothing the patient is reminded of, so no re-planning. The check of who may
attach comes first, before the upload is even read.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from accounts.models import User
from documents import services
from documents.content import size_check
from documents.models import Document
from prep.models import ChecklistItem


def document_upload(*, item: ChecklistItem, by: User, upload: UploadedFile) -> Document:
    """Attach the uploaded file to ``item`` (one transaction; the file is removed if it fails).

    Raises ``PermissionDenied`` (another clinic's item, a role that may not attach) and
    ``ValidationError`` on ``file`` naming the problem (empty, too large, not a PDF/PNG/JPEG by content).
    """
    services.document_authorize(item=item, user=by)
    size_check(upload.size or 0, limit=settings.DOCUMENTS_MAX_BYTES)
    upload.seek(0)
    content = upload.read(settings.DOCUMENTS_MAX_BYTES + 1)
    return services.document_attach(
        item=item,
        content=content,
        filename=upload.name or "",
        declared_type=upload.content_type,
        source=services.SOURCE_UPLOAD,
        user=by,
    )
