"""Django's form renderer, with the plain ``<input>`` widgets written in Python.

A patient page holds a form per action per checklist row: some 60 widgets, each rendered by the
template engine through ``input.html`` and an ``attrs.html`` include. That was the largest single
cost of the page after its queries (issue 18, bench/results.md). The markup is the same, character
for character: this module writes what those two templates write, and every other widget (select,
textarea, checkbox, radio, file, multi-widgets) still goes through its template.
"""

from __future__ import annotations

from typing import Any

from django.forms.renderers import DjangoTemplates
from django.http import HttpRequest
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, SafeString, mark_safe

# The widget templates whose whole body is ``{% include "django/forms/widgets/input.html" %}``
# (checked by tests/core/test_forms_renderer.py against the installed Django).
_INPUT_KINDS = ("color", "date", "datetime", "email", "hidden", "number", "password", "search", "tel", "text")
PLAIN_INPUTS = frozenset(f"django/forms/widgets/{kind}.html" for kind in (*_INPUT_KINDS, "time", "url"))


def _text(value: object) -> str:
    """``{{ value|stringformat:'s' }}``: the filter keeps safe input safe, the rest is escaped."""
    text = "%s" % (value,)  # noqa: UP031 - the filter's own formatting, tuples included
    return text if isinstance(value, SafeData) else str(conditional_escape(text))


def input_html(widget: dict[str, Any]) -> SafeString:
    """What ``django/forms/widgets/input.html`` renders for a widget's context."""
    parts = [f'<input type="{conditional_escape(widget["type"])}" name="{conditional_escape(widget["name"])}"']
    if widget["value"] is not None:
        parts.append(f' value="{_text(widget["value"])}"')
    for name, value in widget["attrs"].items():
        if value is False:
            continue
        parts.append(f" {conditional_escape(name)}")
        if value is not True:
            parts.append(f'="{_text(value)}"')
    parts.append(">")
    # Every value above is escaped; the tags are constants.
    return mark_safe("".join(parts))  # noqa: S308  # nosec B308 B703


class InputRenderer(DjangoTemplates):
    """Plain inputs in Python, everything else through Django's templates."""

    def render(self, template_name: str, context: dict[str, Any], request: HttpRequest | None = None) -> str:
        if template_name in PLAIN_INPUTS:
            return input_html(context["widget"])
        return super().render(template_name, context, request)
