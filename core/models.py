"""Shared model bases and the worker heartbeat."""

import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models

if TYPE_CHECKING:
    from accounts.models import User


class PublicIdModel(models.Model):
    """Rows reachable from a URL carry a UUID; database integers never leave the server."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True


class TrackedModel(PublicIdModel):
    """Clinical records say who created and last changed them, and when."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Set just before a save, read by django-simple-history for the history row: why the record
    # changed, and who changed it when that is not the request's user.
    _change_reason: str
    _history_user: "User | None"

    class Meta:
        abstract = True


class Heartbeat(models.Model):
    """Last run of a periodic task, written by the worker: proves beat -> broker -> worker."""

    name = models.CharField(max_length=64, primary_key=True)
    last_run_at = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_run_at:%Y-%m-%d %H:%M:%S}"
