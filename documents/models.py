"""Files attached to checklist items: an ECG tracing, an MRI or x-ray report, a signed consent.

The bytes live in the ``documents`` storage (``settings.STORAGES``: a private folder under
``VAR_DIR`` by default, an S3-compatible bucket in production), under a random name that says
nothing about the patient. They are served only by an access-checked, logged view; the storage has
no public URL (``core.storage``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import PublicIdModel
from documents.content import ALLOWED, KIND_LABELS


class Document(PublicIdModel):
    # The item's clinic, copied at attach time: every fetch is scoped by it in one column.
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.PROTECT, related_name="+")
    # PROTECT: a clinical document never disappears with its row while its file stays behind.
    item = models.ForeignKey("prep.ChecklistItem", on_delete=models.PROTECT, related_name="documents")
    storage_name = models.CharField(max_length=255, unique=True, help_text="Random; no patient data.")
    filename = models.CharField(max_length=255, help_text="The name the file came with.")
    content_type = models.CharField(max_length=40, help_text="Detected from the content, never the name.")
    size = models.PositiveIntegerField(help_text="Bytes.")
    sha256 = models.CharField(max_length=64)
    source = models.CharField(max_length=120, help_text="Uploaded by staff, or the system it came from.")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Not stored: False when ``document_attach`` found the same bytes already attached to the item.
    is_new: bool = True

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # The same file sent twice (a resent result, a double click) is one document.
            models.UniqueConstraint(fields=["item", "sha256"], name="document_item_sha256_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.content_type})"

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.content_type, self.content_type)

    @property
    def download_name(self) -> str:
        """The original name, ending with the extension of what the content really is."""
        extensions = ALLOWED.get(self.content_type, ())
        if not extensions or self.filename.lower().endswith(extensions):
            return self.filename
        return f"{self.filename}{extensions[0]}"
