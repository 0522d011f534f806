"""``{{ value|clock:"D j M H:i" }}``: Django's ``date`` on the clinic's clock (see ``core.clock``)."""

from __future__ import annotations

from typing import Any

from django import template
from django.template.defaultfilters import date as date_filter

from core.clock import django_format

register = template.Library()


@register.filter(expects_localtime=True)
def clock(value: Any, fmt: str = "D j M Y, H:i") -> str:
    if value in (None, ""):
        return ""
    return date_filter(value, django_format(fmt))
