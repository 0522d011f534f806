"""Errors from the services, as JSON that names the field."""

from __future__ import annotations

import uuid as uuid_lib
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from prep.services import ItemConflict

NON_FIELD = "non_field_errors"


def uuid_or_404(value: object) -> uuid_lib.UUID:
    try:
        return uuid_lib.UUID(str(value))
    except ValueError:
        raise Http404("No such record.") from None


def validation_error(exc: DjangoValidationError, *, field: str = NON_FIELD) -> ValidationError:
    """A Django ValidationError as DRF's, keyed by field; errors without a field go under ``field``."""
    if hasattr(exc, "error_dict"):
        return ValidationError({name: [str(m) for m in messages] for name, messages in exc.message_dict.items()})
    return ValidationError({field: exc.messages})


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = validation_error(exc)
    elif isinstance(exc, ItemConflict):
        return Response(
            {"detail": str(exc), "current_version": exc.item.version, "status": exc.item.status},
            status=status.HTTP_409_CONFLICT,
        )
    elif isinstance(exc, DjangoPermissionDenied) and str(exc):
        # The service's own reason ("Only the surgeon or prescriber can ..."); DRF would replace it.
        return Response({"detail": str(exc)}, status=status.HTTP_403_FORBIDDEN)
    return drf_exception_handler(exc, context)
