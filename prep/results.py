"""Validating a result typed by a nurse against what the template item asks for."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from prep.models import ResultKind, TemplateItem


def result_clean(template_item: TemplateItem | None, raw: str, *, today: dt.date) -> str:
    """The normalised result, or ValidationError with a message naming the problem."""
    raw = (raw or "").strip()
    kind = template_item.result_kind if template_item else ResultKind.NONE
    if kind == ResultKind.NONE or template_item is None:
        return ""
    if not raw:
        raise ValidationError("Enter the result before marking this item done.", code="required")
    if kind == ResultKind.CHOICE:
        choices = template_item.result_choices
        if raw not in choices:
            raise ValidationError(f"{raw!r} is not one of: {', '.join(choices)}.", code="invalid_choice")
        return raw
    if kind == ResultKind.NUMBER:
        try:
            value = Decimal(raw.replace(",", "."))
        except InvalidOperation:
            raise ValidationError(f"{raw!r} is not a number.", code="invalid") from None
        if not value.is_finite():
            raise ValidationError(f"{raw!r} is not a number.", code="invalid")
        low, high, unit = template_item.result_min, template_item.result_max, template_item.result_unit
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValidationError(
                f"{value} {unit} is outside the plausible range {low}–{high} {unit}.".replace("  ", " "),
                code="out_of_range",
            )
        return f"{value.normalize():f}"
    if kind == ResultKind.DATE:
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            raise ValidationError(f"{raw!r} is not a date (YYYY-MM-DD).", code="invalid") from None
        if day > today:
            raise ValidationError("The date cannot be in the future.", code="future")
        return day.isoformat()
    if len(raw) > 200:
        raise ValidationError("Keep the result under 200 characters.", code="max_length")
    return raw


def result_check(template_item: TemplateItem | None, value: str) -> tuple[str, str]:
    """(why the result keeps the item open, what the nurse must be alerted to): '' when nothing.

    The thresholds are the clinic's (catalogue data, clinical-reference 5c); a threshold not
    verified from a primary source says so in the message, which only staff see.
    """
    if template_item is None or template_item.result_kind != ResultKind.NUMBER or not value:
        return "", ""
    number, unit = Decimal(value), template_item.result_unit
    tbc = " (threshold to be confirmed by the clinic)" if template_item.thresholds_to_be_confirmed else ""
    name = template_item.title_en.split(" (")[0]
    low, high = template_item.result_accept_min, template_item.result_accept_max
    if high is not None and number > high:
        return f"{name} {value} {unit} is above the clinic's limit of {high}{tbc}: not ready; repeat the test.", ""
    if low is not None and number < low:
        return f"{name} {value} {unit} is below the clinic's limit of {low}{tbc}: not ready; repeat the test.", ""
    low, high = template_item.result_alert_min, template_item.result_alert_max
    if low is not None and number < low:
        return "", f"{name} {value} {unit} is below the clinic's alert level of {low}{tbc}: tell the surgeon."
    if high is not None and number > high:
        return "", f"{name} {value} {unit} is above the clinic's alert level of {high}{tbc}: tell the surgeon."
    return "", ""
