from __future__ import annotations

import zoneinfo

import phonenumbers
from django.core.exceptions import ValidationError


def validate_time_zone(value: str) -> None:
    if not value:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a known time zone (e.g. America/Los_Angeles).") from None


def normalize_mobile(value: str, region: str = "US") -> str:
    """Return the number in E.164, or raise ValidationError naming the problem."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(f"{value!r} is not a phone number.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError(f"{value!r} is not a valid phone number.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    if value and normalize_mobile(value) != value:
        raise ValidationError("Enter the mobile number in international form, e.g. +13105550100.")
