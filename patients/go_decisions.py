"""Go / no-go as a safety check: a Go stands only for the preparation it was given on.

``withdraw_go_if_needed`` is the one function any change calls when it makes the patient less
ready than at the Go (a new required item, a reopened one, a clinical alert): the Go is taken
back, with when and why, and the surgeon sees it on the worklist and the patient page.
It reads and writes only the surgery row, so ``prep`` and other apps can call it without
importing the booking services.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from patients.models import GoDecision, Surgery


@transaction.atomic
def withdraw_go_if_needed(*, surgery: Surgery, reason: str) -> bool:
    """Take back a Go after a change that adds required work. Returns True when one was withdrawn.

    No Go (undecided, No go): nothing to do. The decision's history (simple-history) keeps who
    had said Go and when; the row says when and why it was withdrawn.
    """
    locked = Surgery.objects.select_for_update().filter(pk=surgery.pk).first()
    if locked is None or locked.go_decision != GoDecision.GO:
        return False
    locked.go_decision = GoDecision.PENDING
    locked.go_withdrawn_at = timezone.now()
    locked.go_withdrawn_reason = reason.strip()[:300] or "The preparation changed after the Go."
    locked._change_reason = f"Go withdrawn: {locked.go_withdrawn_reason}"[:100]
    locked.save(update_fields=["go_decision", "go_withdrawn_at", "go_withdrawn_reason", "updated_at"])
    for name in ("go_decision", "go_withdrawn_at", "go_withdrawn_reason"):
        setattr(surgery, name, getattr(locked, name))
    return True
