"""An upload handler that stops keeping a file once it passes the documents' size limit.

Django writes an upload of more than 2.5 MB to a temporary file before any view runs (the CSRF
check reads the form first), so without this a 2 GB upload would fill the disk before the size is
checked. The handler drops the file as soon as it passes ``DOCUMENTS_MAX_BYTES`` and marks the
request, so that the view can say why; the rest of the body is read and thrown away. A proxy in
front should also cap the body (README, Production).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

TOO_LARGE = "document_too_large"


class DocumentSizeLimitHandler(FileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > settings.DOCUMENTS_MAX_BYTES:
            if self.request is not None:
                setattr(self.request, TOO_LARGE, True)
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handlers keep the file
