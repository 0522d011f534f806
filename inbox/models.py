"""The results inbox: every message from a lab or imaging system, stored before anything is done with it.

A message is stored first (raw, as received), answered, then processed by a Celery task that reads
the stored row: a process killed between the two loses nothing, the sweep picks the row up again.
``(clinic, source, control_id)`` is unique, so a resent message is recognised and changes nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import PublicIdModel


class MessageKind(models.TextChoices):
    HL7 = "hl7", "HL7 v2"
    FHIR = "fhir", "FHIR R4"


class MessageStatus(models.TextChoices):
    RECEIVED = "received", "Received"  # stored, not processed yet
    PROCESSED = "processed", "Processed"  # every result completed its item
    REVIEW = "review", "Waiting for a nurse"  # the review queue
    REJECTED = "rejected", "Rejected"  # malformed: answered AR / 400, kept for the record
    DISMISSED = "dismissed", "Dismissed"  # a nurse looked at it and set it aside, with a reason


class InboxMessage(PublicIdModel):
    clinic = models.ForeignKey("patients.Clinic", on_delete=models.PROTECT, related_name="inbox_messages")
    kind = models.CharField(max_length=4, choices=MessageKind.choices)
    # Who sent it: HL7 MSH-3^MSH-4 (sending application and facility), or the FHIR client's token name.
    source = models.CharField(max_length=120)
    # The sender's own id for the message (HL7 MSH-10, FHIR identifier); NULL when it has none
    # (a malformed message), which the unique constraint does not compare.
    control_id = models.CharField(max_length=200, null=True, blank=True)
    raw = models.TextField()
    # The service user results from this sender are recorded under (role ``system``): the FHIR
    # client's token user, or the HL7 source's own user, named after it in every history row.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.RECEIVED)
    # Why it is in the queue or was rejected, in a nurse's words; the ACK's text for HL7.
    outcome = models.TextField(blank=True)
    ack_code = models.CharField(max_length=2, blank=True, help_text="AA, AE or AR (HL7); the answer given.")
    # The patient as the sender named him (PID-3, or the FHIR subject): shown when no patient matched.
    sent_patient = models.CharField(max_length=80, blank=True)
    patient = models.ForeignKey(
        "patients.Patient", null=True, blank=True, on_delete=models.PROTECT, related_name="inbox_messages"
    )
    # The message in readable form, one entry per result: code, name, value, unit, the item it
    # completed or why it did not (filled by processing; shown by the review queue).
    results = models.JSONField(default=list, blank=True)
    # Documents that came with it (a DiagnosticReport's presentedForm, an HL7 ED OBX): type, title,
    # size, status (attached, waiting, refused, link) and the documents made of it (uuid, item).
    # The bytes are not copied here: the raw message holds them.
    documents = models.JSONField(default=list, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)
    dismiss_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "source", "control_id"], name="inbox_message_unique_per_source")
        ]
        indexes = [models.Index(fields=["clinic", "status", "-received_at"]), models.Index(fields=["status", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.source} {self.control_id or '-'} ({self.status})"
