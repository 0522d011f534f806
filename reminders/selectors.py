"""Reads on reminders for staff pages, scoped to the user's clinic."""

from __future__ import annotations

from typing import TypedDict

from django.db.models import Count, QuerySet, Sum
from django.http import Http404

from accounts.models import User
from audit import context as audit
from patients.models import Surgery
from reminders.models import Reminder, Status


def reminders_for_surgery(*, surgery: Surgery) -> list[Reminder]:
    """Every reminder of a surgery (all versions), oldest due first, in one query.

    Each row gets ``due_local``: its due time in the clinic's zone, for display.
    """
    rows = list(
        Reminder.objects.filter(surgery_id=surgery.pk).select_related("clinic", "guardian").order_by("due_at", "id")
    )
    for row in rows:
        row.due_local = row.due_at.astimezone(row.clinic.tz)
    return rows


def reminders_for_user(*, user: User) -> QuerySet[Reminder]:
    """The reminders of the user's clinic; outsiders get a 404 (patients.access style)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active or user.clinic_id is None:
        raise Http404("No such record.")
    return Reminder.objects.filter(clinic_id=user.clinic_id)


def outbox_summary(*, user: User, failures: int = 50) -> dict[str, object]:
    """Counts by status and the latest failures of the user's clinic (two queries)."""
    qs = reminders_for_user(user=user)
    by_status = list(qs.order_by().values_list("status").annotate(n=Count("id"), resent=Sum("resends")))
    counts = {status: n for status, n, _ in by_status}
    rows = list(
        qs.filter(status=Status.FAILED)
        .select_related("patient", "surgery", "clinic")
        .order_by("-updated_at")[:failures]
    )
    for row in rows:
        row.due_local = row.due_at.astimezone(row.clinic.tz)
    # The page shows these patients' names and record numbers: the access log counts them.
    audit.note_shown(kind="reminder outbox", patient_ids=[row.patient_id for row in rows])
    return {
        "counts": [(value, label, counts.get(value, 0)) for value, label in Status.choices],
        "total": sum(counts.values()),
        # Emails sent again after a lost commit (the one window SMTP leaves open): each may be a
        # duplicate, sent with the same Message-ID.
        "email_resends": sum(resent or 0 for _, _, resent in by_status),
        "failures": rows,
    }


class ReminderMetrics(TypedDict):
    by_status: list[tuple[str, str, int]]  # (channel, status, rows)
    email_resends: int


def reminder_metrics() -> ReminderMetrics:
    """Installation-wide counts for monitoring (no patient data): rows by status and channel, resends."""
    rows = list(
        Reminder.objects.order_by().values_list("channel", "status").annotate(n=Count("id"), resent=Sum("resends"))
    )
    return {
        "by_status": [(channel, status, n) for channel, status, n, _ in rows],
        "email_resends": sum(resent or 0 for channel, _, _, resent in rows if channel == "email"),
    }
