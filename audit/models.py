"""The access log: append-only, one row per request that shows or changes patient data."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class AppendOnlyError(Exception):
    pass


class AccessLogQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("Access-log rows are never changed.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Access-log rows are never deleted.")


class AccessLog(models.Model):
    # Who, what, when, from where, allowed or not. Never clinical values: the path is stored
    # without its query string (a search may hold a name) and the patient by reference only.
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    user_email = models.CharField(max_length=254, blank=True)
    role = models.CharField(
        max_length=20, blank=True, help_text="nurse, surgeon, clinic_admin, patient, guardian, system…"
    )
    clinic = models.ForeignKey("patients.Clinic", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey("patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # A portal request by a parent or guardian for the patient: who it was (role "guardian").
    guardian = models.ForeignKey("patients.Guardian", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    patients_count = models.PositiveIntegerField(default=0)
    action = models.CharField(max_length=120, help_text="HTTP method and view, or an auth event.")
    path = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    allowed = models.BooleanField()
    status_code = models.PositiveIntegerField(null=True, blank=True)

    objects = AccessLogQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["clinic", "-at"]), models.Index(fields=["patient", "-at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.user_email or self.role} {self.action}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Access-log rows are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Access-log rows are never deleted.")
