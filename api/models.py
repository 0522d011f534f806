"""API tokens: how another system (an EHR, a scheduler) signs in to one clinic.

Only a SHA-256 hash of the secret is stored; the token is shown once, when it is created.
Each token acts through its own service user (role ``system``) so that every change made
through the API is recorded in the field history under the token's name.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import PublicIdModel


class ApiToken(PublicIdModel):
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="Which system uses it, e.g. 'Epic scheduling interface'.")
    # The public half of the token, used to find the row; the secret half is only stored hashed.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_token", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    # Not a column: the whole token, set on the new row only so that the answer shows it once.
    token: str

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
