"""Plain-text rendering for email subjects and bodies and SMS: no HTML escaping.

Django's default engine escapes every variable, which is right for HTML and wrong for text: a
clinic called "Spine & Pain" arrives as "Spine &amp; Pain". Every ``.txt`` message template goes
through the ``text`` engine (``autoescape: False``, see settings.TEMPLATES) instead.
"""

from __future__ import annotations

from typing import Any

from django.template import engines


def render_text(template_name: str, context: dict[str, Any] | None = None) -> str:
    return engines["text"].get_template(template_name).render(context or {})
