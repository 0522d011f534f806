"""The health questionnaire: each version of its definition, each patient's responses, and the
nurse's decision on every line of a submitted response."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import PublicIdModel, TrackedModel


class QuestionnaireDefinition(PublicIdModel):
    """One version of the questionnaire file, stored once: a response keeps the questions it answered."""

    code = models.SlugField(max_length=60)
    version = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    content = models.JSONField(help_text="The YAML file's content for this version.")
    loaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code", "-loaded_at"]
        constraints = [models.UniqueConstraint(fields=["code", "version"], name="questionnaire_version_unique")]

    def __str__(self) -> str:
        return f"{self.title} ({self.version})"


class ResponseStatus(models.TextChoices):
    DRAFT = "draft", "Draft (being filled in)"
    SUBMITTED = "submitted", "Submitted, waiting for a nurse"
    RECONCILED = "reconciled", "Reconciled by a nurse"
    # Sent, then sent again before a nurse looked: the newer one (which starts from these answers) is
    # the one reconciled; this one is kept as it was.
    SUPERSEDED = "superseded", "Replaced by a newer submission before reconciliation"


class QuestionnaireResponse(TrackedModel):
    """A patient's answers for one booking. Submitting again makes a new response (``number`` + 1);
    the earlier ones are kept as they were."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="questionnaire_responses")
    surgery = models.ForeignKey("patients.Surgery", on_delete=models.CASCADE, related_name="questionnaire_responses")
    definition = models.ForeignKey(QuestionnaireDefinition, on_delete=models.PROTECT, related_name="responses")
    number = models.PositiveIntegerField(default=1, help_text="1 for the first submission, 2 for the next…")
    status = models.CharField(max_length=12, choices=ResponseStatus.choices, default=ResponseStatus.DRAFT)
    answers = models.JSONField(default=dict, blank=True)
    sections_saved = models.JSONField(default=list, blank=True, help_text="Section codes saved at least once.")
    language = models.CharField(max_length=5, default="en")
    submitted_at = models.DateTimeField(null=True, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    reconciled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["surgery_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["surgery", "number"], name="questionnaire_response_number_unique")
        ]
        indexes = [models.Index(fields=["surgery", "status"])]

    def __str__(self) -> str:
        return f"questionnaire {self.number} ({self.status})"

    @property
    def label(self) -> str:
        return f"health questionnaire no. {self.number} (version {self.definition.version})"


class LineDecision(models.TextChoices):
    ACCEPT = "accept", "Accepted"
    REJECT = "reject", "Rejected"


class ReconciliationLine(PublicIdModel):
    """The nurse's decision on one line of a submitted response, with what was compared."""

    response = models.ForeignKey(QuestionnaireResponse, on_delete=models.CASCADE, related_name="lines")
    key = models.CharField(max_length=80)
    label = models.CharField(max_length=300)
    answer_text = models.TextField(blank=True)
    record_text = models.TextField(blank=True)
    kind = models.CharField(max_length=10, help_text="new, changed, same or info")
    decision = models.CharField(max_length=8, choices=LineDecision.choices)
    decided_at = models.DateTimeField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["response_id", "id"]
        constraints = [models.UniqueConstraint(fields=["response", "key"], name="reconciliation_line_unique")]

    def __str__(self) -> str:
        return f"{self.key}: {self.decision}"
