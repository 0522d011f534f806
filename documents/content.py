"""What a document may be, decided from its bytes (``filetype``), never from its name or declared type.

Pure functions, no database: the service (``documents.services``) and the upload action call them
before anything is stored. Each refusal is one sentence a nurse can act on.
"""

from __future__ import annotations

import hashlib
import math
import unicodedata
from dataclasses import dataclass

import filetype
from django.core.exceptions import ValidationError

# Detected content type -> the file-name extensions that may say so (the first is the one added).
ALLOWED: dict[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
}
ALLOWED_WORDS = "a PDF, PNG or JPEG file"
# Names browsers and senders use for the same types.
_DECLARED_ALIASES = {
    "application/x-pdf": "application/pdf",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
}
# Declared types that say nothing about the content (checked by the bytes alone).
_GENERIC = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
KIND_LABELS = {"application/pdf": "PDF", "image/png": "PNG image", "image/jpeg": "JPEG image"}
_WORDS = {"application/pdf": "a PDF", "image/png": "a PNG image", "image/jpeg": "a JPEG image"}
FILENAME_MAX = 255


@dataclass(frozen=True)
class CheckedContent:
    content_type: str
    size: int
    sha256: str
    filename: str


def size_check(size: int, *, limit: int) -> None:
    """Refuse an empty file or one over ``limit`` bytes (called before the upload is even read)."""
    if size <= 0:
        raise ValidationError({"file": "The file is empty: choose the document again."})
    if size > limit:
        raise ValidationError(
            {"file": f"The file is {_megabytes(size)}; documents may be at most {_megabytes(limit)}."}
        )


def _megabytes(size: int) -> str:
    # Rounded up to a tenth: a file just over the limit never reads as the limit itself.
    tenths = math.ceil(size * 10 / (1024 * 1024))
    return f"{tenths / 10:.1f} MB".replace(".0 MB", " MB")


def clean_filename(filename: str) -> str:
    """The last part of the name, without control characters or path separators, at most 255 long."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C").strip()
    name = name.lstrip(".") or "document"
    if len(name) > FILENAME_MAX:
        stem, dot, ext = name.rpartition(".")
        keep = FILENAME_MAX - len(ext) - 1
        name = f"{stem[:keep]}.{ext}" if dot and 0 < len(ext) <= 10 else name[:FILENAME_MAX]
    return name


def content_check(content: bytes, *, filename: str, declared_type: str | None, limit: int) -> CheckedContent:
    """The content's real type, size and digest; a ``ValidationError`` on ``file`` names what is wrong."""
    size_check(len(content), limit=limit)
    name = clean_filename(filename)
    kind = filetype.guess(content)
    detected = kind.mime if kind is not None else ""
    if detected not in ALLOWED:
        what = f"its content is {detected}" if detected else "its content is not a recognised document"
        raise ValidationError({"file": f"{name} is not {ALLOWED_WORDS} ({what}); nothing was saved."})
    declared = (declared_type or "").split(";")[0].strip().lower()
    declared = _DECLARED_ALIASES.get(declared, declared)
    if declared not in _GENERIC and declared != detected:
        raise ValidationError(
            {"file": f"{name} was sent as {declared} but its content is {_WORDS[detected]}; nothing was saved."}
        )
    extension = "." + name.rpartition(".")[2].lower() if "." in name else ""
    known = {ext for exts in ALLOWED.values() for ext in exts}
    if extension in known and extension not in ALLOWED[detected]:
        # A PNG named .pdf: the name lies about the content, so neither can be trusted.
        raise ValidationError(
            {"file": f"{name} is named {extension} but its content is {_WORDS[detected]}; nothing was saved."}
        )
    return CheckedContent(
        content_type=detected, size=len(content), sha256=hashlib.sha256(content).hexdigest(), filename=name
    )
