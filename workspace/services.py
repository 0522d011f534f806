"""Writes owned by the workspace: notes and calls (the dry run of a change is ``actions.preview``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import User
from patients.models import Patient, Surgery
from workspace.models import CallOutcome, NoteKind, PatientNote


def note_add(
    *, patient: Patient, by: User, kind: str, text: str, outcome: str = "", surgery: Surgery | None = None
) -> PatientNote:
    text = (text or "").strip()
    errors: dict[str, str] = {}
    if kind not in NoteKind.values:
        errors["kind"] = "Choose a note or a phone call."
    if not text:
        errors["text"] = "Write what was said or done."
    if kind == NoteKind.CALL and (not outcome or outcome not in CallOutcome.values):
        errors["outcome"] = "Choose the outcome of the call."
    if kind == NoteKind.NOTE:
        outcome = ""
    if errors:
        raise ValidationError(errors)
    return PatientNote.objects.create(
        patient=patient, surgery=surgery, kind=kind, text=text[:4000], outcome=outcome, by=by, at=timezone.now()
    )
