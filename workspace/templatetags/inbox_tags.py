"""The results inbox's link with its count, for the board's header (one COUNT on an index)."""

from __future__ import annotations

from typing import Any

from django import template

from inbox.selectors import review_count

register = template.Library()


@register.inclusion_tag("workspace/_inbox_link.html")
def inbox_link(user: Any) -> dict[str, Any]:
    clinic_id = getattr(user, "clinic_id", None)
    return {"waiting": review_count(clinic_id=clinic_id) if clinic_id else 0}
