"""An S3-compatible bucket for documents (``DOCUMENTS_S3_BUCKET``), private and without URLs."""

from __future__ import annotations

from storages.backends.s3 import S3Storage

from documents.storage import NoPublicUrl


class PrivateS3Storage(S3Storage):
    # Private objects, never replaced by a later upload of the same (random) name.
    default_acl = "private"
    file_overwrite = False
    querystring_auth = True

    def url(
        self, name: str | None, parameters: object = None, expire: object = None, http_method: object = None
    ) -> str:
        raise NoPublicUrl("Documents have no public URL; link to the document download view.")
