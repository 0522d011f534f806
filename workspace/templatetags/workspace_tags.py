"""Badges that say their state in words and an icon, never by colour alone."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from prep.selectors import Readiness

register = template.Library()

# Small inline SVGs (no icon font or CDN); aria-hidden because the text says the same.
_ICONS = {
    "check": '<path d="M6.2 11.6 2.6 8l-1.1 1.1 4.7 4.7L14.6 5.4l-1.1-1.1z"/>',
    "clock": '<path d="M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1zm0 1.5a5.5 5.5 0 1 1 0 11 5.5 5.5 0 0 1 0-11zM7.3 4v4.4l3.3 2'
    ' .7-1.2-2.5-1.5V4z"/>',
    "warning": '<path d="M8 1 0.5 14.5h15zm0 3.2 4.9 8.8H3.1zM7.3 7v3.2h1.4V7zm0 4v1.4h1.4V11z"/>',
    "cross": '<path d="M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1zM5.2 4.2 8 7l2.8-2.8 1 1L9 8l2.8 2.8-1 1L8 9l-2.8 2.8-1-1'
    'L7 8 4.2 5.2z"/>',
    "dash": '<path d="M3 7.3h10v1.4H3z"/>',
    "person": '<path d="M8 2a3 3 0 1 1 0 6 3 3 0 0 1 0-6zm0 7c3 0 5.5 1.5 5.5 3.5V14h-11v-1.5C2.5 10.5 5 9 8 9z"/>',
}
READINESS_ICONS = {
    Readiness.READY: "check",
    Readiness.ON_TRACK: "clock",
    Readiness.AT_RISK: "warning",
    Readiness.NOT_READY: "cross",
}
STATUS = {
    "open": ("Open", "clock", "st-open"),
    "done": ("Done", "check", "st-done"),
    "accepted": ("Accepted", "check", "st-done"),
    "not_applicable": ("Not applicable", "dash", "st-na"),
    "patient_confirmed": ("Patient confirmed", "person", "st-confirmed"),
}


@register.simple_tag
def icon(name: str) -> SafeString:
    # Constant markup from _ICONS, no user input.
    return mark_safe(  # noqa: S308  # nosec B308 B703
        f'<svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false"'
        f' fill="currentColor">{_ICONS[name]}</svg>'
    )


@register.simple_tag
def readiness_badge(state: str) -> SafeString:
    label = Readiness.LABELS.get(state, state)
    return format_html(
        '<span class="badge badge-readiness {}">{} {}</span>', state, icon(READINESS_ICONS.get(state, "dash")), label
    )


@register.simple_tag
def status_badge(item: object, *, locked: bool = False) -> SafeString:
    status = getattr(item, "status", "open")
    label, glyph, css = STATUS.get(status, (status, "dash", "st-open"))
    if status == "open" and getattr(item, "locked", False):
        label, glyph, css = "Waiting for approval", "warning", "st-locked"
    return format_html('<span class="badge badge-status {}">{} {}</span>', css, icon(glyph), label)


@register.filter
def readiness_label(state: str) -> str:
    return Readiness.LABELS.get(state, state)
