"""The Python renderer of plain inputs writes what Django's widget templates write."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import django
import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.utils.safestring import mark_safe

from core.forms_renderer import PLAIN_INPUTS, InputRenderer

WIDGETS = Path(django.__file__).parent / "forms" / "templates"


@pytest.mark.parametrize("name", sorted(PLAIN_INPUTS))
def test_every_plain_input_template_is_only_the_input_include(name):
    # If a Django upgrade gives one of them markup of its own, it must leave PLAIN_INPUTS.
    body = (WIDGETS / name).read_text().strip()
    assert body == '{% include "django/forms/widgets/input.html" %}'


CASES = [
    forms.TextInput(attrs={"class": "form-control", "data-maxlength": 300, "required": True}),
    forms.TextInput(attrs={"disabled": False, "placeholder": 'say "<b>&</b>"', "size": 6}),
    forms.HiddenInput(),
    forms.NumberInput(attrs={"min": 1, "max": 30, "step": 0.5}),
    forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    forms.EmailInput(attrs={"autocomplete": "email", "aria-describedby": mark_safe("a b")}),
    forms.PasswordInput(render_value=True),
    forms.TimeInput(format="%H:%M"),
]
VALUES = [None, "", "plain", 'quote " and <tag> & amp', 3, 2.5, dt.date(2026, 12, 2), dt.time(7, 30), ("a", 1)]


@pytest.mark.parametrize("widget", CASES, ids=lambda w: type(w).__name__)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_same_markup_as_the_templates(widget, value):
    attrs = {"id": "id_x_y", "aria-invalid": "true"}
    assert widget.render("field", value, attrs=attrs, renderer=InputRenderer()) == widget.render(
        "field", value, attrs=attrs, renderer=DjangoTemplates()
    )


def test_other_widgets_still_go_through_their_templates():
    widget = forms.Select(choices=[("", "Choose…"), ("a", "A & B")])
    assert widget.render("s", "a", renderer=InputRenderer()) == widget.render("s", "a", renderer=DjangoTemplates())


def test_it_is_the_project_renderer(settings):
    assert settings.FORM_RENDERER == "core.forms_renderer.InputRenderer"
    assert forms.Form().renderer.__class__ is InputRenderer
