"""Notes and the call log kept by staff about a patient (also gives the board its 'last contact')."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.models import PublicIdModel


class NoteKind(models.TextChoices):
    NOTE = "note", "Note"
    CALL = "call", "Phone call"


class CallOutcome(models.TextChoices):
    NONE = "", "—"
    REACHED = "reached", "Reached the patient"
    VOICEMAIL = "voicemail", "Left a voicemail"
    NO_ANSWER = "no_answer", "No answer"
    WRONG_NUMBER = "wrong_number", "Wrong number"


class PatientNote(PublicIdModel):
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="notes")
    surgery = models.ForeignKey(
        "patients.Surgery", null=True, blank=True, on_delete=models.SET_NULL, related_name="notes"
    )
    kind = models.CharField(max_length=8, choices=NoteKind.choices, default=NoteKind.NOTE)
    text = models.TextField()
    outcome = models.CharField(max_length=16, choices=CallOutcome.choices, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["patient", "kind", "at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"
