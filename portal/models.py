"""Patient portal: password-less sign-in links.

Only a hash of each link's token is stored, so a copy of the database cannot be used to sign in.
The portal session itself lives in Django's session (see ``portal.session``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import PublicIdModel


class LinkChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class SignInLink(PublicIdModel):
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="signin_links")
    # Set when the link went to a parent or guardian: they sign in for the patient with the patient's
    # date of birth and their own year of birth.
    guardian = models.ForeignKey(
        "patients.Guardian", null=True, blank=True, on_delete=models.CASCADE, related_name="signin_links"
    )
    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token; the token is not kept.")
    channel = models.CharField(max_length=8, choices=LinkChannel.choices)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Blank when the patient asked for the link.",
    )
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Wrong dates of birth (or guardian's years of birth) given."
    )
    locked_at = models.DateTimeField(null=True, blank=True, help_text="Locked after too many wrong dates of birth.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["patient", "created_at"])]

    def __str__(self) -> str:
        return f"sign-in link {self.uuid} ({self.channel})"
