"""Reading documents: the ones of a page's items in one query, and a document's bytes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.core.files import File

from documents.models import Document
from documents.storage import document_storage


def documents_by_item(*, item_ids: Iterable[int]) -> dict[int, list[Document]]:
    """The documents of these items, oldest first, keyed by item id (one query)."""
    found: dict[int, list[Document]] = defaultdict(list)
    ids = list(item_ids)
    if not ids:
        return found
    for document in Document.objects.filter(item_id__in=ids).select_related("uploaded_by"):
        found[document.item_id].append(document)
    return found


def document_open(*, document: Document) -> File:
    """The stored bytes, opened for reading (the caller closes it; a FileResponse does)."""
    return document_storage().open(document.storage_name, "rb")
