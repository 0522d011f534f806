"""Attaching a document to a checklist item: checked by its content, stored, noted in the item's history.

``document_attach`` is the one way a document is created, for a nurse's upload
(``actions.documents``) and for a result that arrives with its report (a FHIR ``DiagnosticReport``'s
``presentedForm``, an HL7 ``ED`` segment). Nothing is half-saved: the file is written first and
removed again if the database write or the commit fails.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.utils import timezone

from accounts import permissions as perms
from accounts.models import User
from documents.content import ALLOWED, content_check
from documents.models import Document
from documents.storage import document_storage, random_name
from prep.models import ChecklistItem, ChecklistStatus
from prep.services import item_history_note

logger = logging.getLogger(__name__)

# ``source`` of a document a staff member uploaded on the patient page (the history names the person).
SOURCE_UPLOAD = "staff upload"


def document_authorize(*, item: ChecklistItem, user: User) -> None:
    """Staff of the item's clinic whose role may attach to this kind of item; else PermissionDenied."""
    if not user.is_active or user.clinic_id is None or user.clinic_id != item.checklist.surgery.clinic_id:
        raise PermissionDenied("Only the staff of the patient's clinic can attach documents.")
    perms.require(user, perms.ATTACH, item.assignee)


def document_attach(
    *,
    item: ChecklistItem,
    content: bytes,
    filename: str,
    declared_type: str | None,
    source: str,
    user: User | None = None,
) -> Document:
    """Check ``content`` (PDF, PNG or JPEG by its bytes, not empty, within ``DOCUMENTS_MAX_BYTES``),
    store it under a random name and attach it to ``item``.

    ``user``: the staff member attaching it (checked: clinic and role); ``None`` for a system that
    the caller has already scoped to the item's clinic (the results inbox). ``source``: where it
    came from, e.g. ``SOURCE_UPLOAD`` or "received from Acme Lab (FHIR)"; shown in the history.

    Raises ``ValidationError`` (on ``file``) naming the problem, ``PermissionDenied``. The same bytes
    attached to the same item again return the existing document (``is_new`` False), so a resent
    result attaches nothing twice. Called inside a caller's transaction that later rolls back, the
    stored file stays behind without its row (``documents_orphans_delete`` removes such files).
    """
    checked = content_check(content, filename=filename, declared_type=declared_type, limit=settings.DOCUMENTS_MAX_BYTES)
    source = " ".join((source or "").split())[:120]
    if not source:
        raise ValueError("document_attach needs a source (where the document came from).")
    storage = document_storage()
    stored: str | None = None
    try:
        with transaction.atomic():
            # Locked: two uploads of one file at once make one document, and the history row copies
            # the item as it is now.
            item = (
                ChecklistItem.objects.select_for_update(of=("self",))
                .select_related("checklist__surgery")
                .get(pk=item.pk)
            )
            if user is not None:
                document_authorize(item=item, user=user)
            if item.checklist.status != ChecklistStatus.ACTIVE:
                raise ValidationError({"file": "This checklist is closed: no document can be attached to it."})
            existing = Document.objects.filter(item=item, sha256=checked.sha256).first()
            if existing is not None:
                existing.is_new = False
                return existing
            stored = storage.save(random_name(ALLOWED[checked.content_type][0]), ContentFile(content))
            document = Document.objects.create(
                clinic_id=item.checklist.surgery.clinic_id,
                item=item,
                storage_name=stored,
                filename=checked.filename,
                content_type=checked.content_type,
                size=checked.size,
                sha256=checked.sha256,
                source=source,
                uploaded_by=user,
            )
            how = "" if source == SOURCE_UPLOAD else f", {source}"
            item_history_note(item=item, by=user, reason=f"Document attached: {checked.filename}{how}")
    except BaseException:
        if stored is not None:
            _delete_quietly(stored)
        raise
    return document


def _delete_quietly(name: str) -> None:
    try:
        document_storage().delete(name)
    except Exception:  # the original error matters more; an orphan is swept later
        logger.exception("Could not remove the stored document %s after a failed attach", name)


def _stored_names(storage: Storage, folder: str = "") -> Iterator[str]:
    folders, files = storage.listdir(folder)
    for name in files:
        yield f"{folder}/{name}" if folder else name
    for sub in folders:
        yield from _stored_names(storage, f"{folder}/{sub}" if folder else sub)


def documents_orphans_delete(
    *, older_than: dt.timedelta = dt.timedelta(hours=1), now: dt.datetime | None = None, batch: int = 500
) -> int:
    """Remove stored files that no document names, once older than ``older_than``; returns how many.

    They are left when a caller's own transaction rolls back after ``document_attach`` stored the
    file (the results inbox attaches inside its processing transaction). The age keeps an attach
    still in progress out of reach. ``manage.py documents_sweep`` runs it.
    """
    storage = document_storage()
    cutoff = (now or timezone.now()) - older_than
    removed = 0
    names = _stored_names(storage)
    while chunk := [name for _, name in zip(range(batch), names, strict=False)]:
        known = set(Document.objects.filter(storage_name__in=chunk).values_list("storage_name", flat=True))
        for name in chunk:
            if name not in known and storage.get_modified_time(name) < cutoff:
                storage.delete(name)
                removed += 1
    return removed
