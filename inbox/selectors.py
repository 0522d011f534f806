"""Reads on the results inbox for the nurses' pages: the review queue, one message, what it may complete.

Scoped to the user's clinic like ``patients.access``: another clinic's message is a 404, and every
read notes what it showed for the access log.
"""

from __future__ import annotations

import uuid as uuid_lib

from django.core.cache import cache
from django.db.models import QuerySet
from django.http import Http404

from accounts import permissions as perms
from accounts.models import User
from audit import context as audit
from inbox.models import InboxMessage, MessageStatus
from patients.models import ACTIVE_SURGERY_STATUSES
from prep.models import ChecklistItem, ChecklistStatus, ItemStatus

QUEUE_STATUSES = (MessageStatus.REVIEW,)
QUEUE_LIMIT = 200


def _clinic_id(user: User) -> int:
    if not user.is_authenticated or not user.is_active or user.clinic_id is None or user.role == perms.SYSTEM:
        audit.note_denied(kind="inbox")
        raise Http404("No such message.")
    return user.clinic_id


# Seconds. Every change of a message's status forgets the clinic's count at once (after its commit),
# so the TTL only bounds how stale a count can be where the cache is not shared between processes
# (no Redis: the listener's changes reach the web process's count within it). Long enough that the
# board's query count does not depend on when it last expired.
COUNT_TTL = 300


def count_key(clinic_id: int) -> str:
    return f"inbox:review-count:{clinic_id}"


def review_count(*, clinic_id: int) -> int:
    """Messages waiting for a nurse, for the board's header.

    Kept in the cache (the services forget it on every status change): the board stays within its
    query budget, and the number is exact wherever the cache is shared (Redis); with per-process
    memory (no Redis), another process's change shows within ``COUNT_TTL``.
    """
    key = count_key(clinic_id)
    found = cache.get(key)
    if found is None:
        found = InboxMessage.objects.filter(clinic_id=clinic_id, status__in=QUEUE_STATUSES).count()
        cache.set(key, found, COUNT_TTL)
    return int(found)


def review_queue(*, user: User) -> list[InboxMessage]:
    """The clinic's messages waiting for review, oldest first (they have waited longest)."""
    clinic_id = _clinic_id(user)
    rows = list(
        InboxMessage.objects.filter(clinic_id=clinic_id, status__in=QUEUE_STATUSES)
        .select_related("patient")
        .order_by("received_at", "id")[:QUEUE_LIMIT]
    )
    audit.note_shown(kind="inbox", patient_ids=[m.patient_id for m in rows])
    return rows


def recent_handled(*, user: User, limit: int = 20) -> list[InboxMessage]:
    """The last messages processed, rejected or dismissed: what came in lately, for the record."""
    clinic_id = _clinic_id(user)
    rows = list(
        InboxMessage.objects.filter(clinic_id=clinic_id)
        .exclude(status__in=(*QUEUE_STATUSES, MessageStatus.RECEIVED))
        .select_related("patient", "handled_by")
        .order_by("-received_at", "-id")[:limit]
    )
    audit.note_shown(kind="inbox", patient_ids=[m.patient_id for m in rows])
    return rows


def message_get_for_user(*, user: User, uuid: object) -> InboxMessage:
    clinic_id = _clinic_id(user)
    try:
        key = uuid_lib.UUID(str(uuid))
        message = InboxMessage.objects.select_related("patient", "clinic", "handled_by").get(
            uuid=key, clinic_id=clinic_id
        )
    except (ValueError, InboxMessage.DoesNotExist):
        audit.note_denied(kind="inbox")
        raise Http404("No such message.") from None
    audit.note(kind="inbox", patient_id=message.patient_id)
    return message


def open_items_for(*, message: InboxMessage) -> QuerySet[ChecklistItem]:
    """The items a result of this message could complete: the patient's open result items."""
    if message.patient_id is None:
        return ChecklistItem.objects.none()
    return (
        ChecklistItem.objects.filter(
            checklist__surgery__patient_id=message.patient_id,
            checklist__surgery__status__in=ACTIVE_SURGERY_STATUSES,
            checklist__status=ChecklistStatus.ACTIVE,
            status=ItemStatus.OPEN,
            locked=False,
        )
        .exclude(template_item__loinc="")
        .exclude(template_item__isnull=True)
        .select_related("template_item", "checklist__surgery__procedure")
        .order_by("checklist__surgery__start_at", "sort_order")
    )
