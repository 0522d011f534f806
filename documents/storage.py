"""The documents' storage: private, with no URL at all.

Documents are served only by ``workspace.views.document_download`` (access-checked and logged), so
the storage refuses to make a URL: a template or a serializer that asked for one would get an
error, never a link around the check. The S3 variant is in ``documents.storage_s3`` (it needs boto3,
imported only when that backend is configured).
"""

from __future__ import annotations

import secrets

from django.core.files.storage import FileSystemStorage, Storage, storages

ALIAS = "documents"


class NoPublicUrl(Exception):
    pass


class PrivateFileSystemStorage(FileSystemStorage):
    """A folder outside every served path (``settings`` refuses one under the static files)."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("directory_permissions_mode", 0o700)
        kwargs.setdefault("file_permissions_mode", 0o600)
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def url(self, name: str | None) -> str:
        raise NoPublicUrl("Documents have no public URL; link to the document download view.")


def document_storage() -> Storage:
    return storages[ALIAS]


def random_name(extension: str) -> str:
    """A name that says nothing of the patient: 128 random bits, two levels of folders."""
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token[2:4]}/{token}{extension}"
