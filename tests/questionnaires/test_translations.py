"""The questionnaire's Spanish: its own catalogue complete, and every question asked in both languages."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from questionnaires import definition as qdef

PO = Path(__file__).resolve().parents[2] / "questionnaires" / "locale" / "es" / "LC_MESSAGES" / "django.po"


def test_every_message_of_the_questionnaire_is_translated():
    with PO.open("rb") as handle:
        catalog = read_po(handle, locale="es")
    missing = [m.id for m in catalog if m.id and not m.string]
    assert missing == [] and not [m.id for m in catalog if m.id and m.fuzzy]


def test_every_text_of_the_questionnaire_file_has_its_spanish():
    definition = qdef.read_definition()
    assert definition.title_es and definition.intro_es
    for section in definition.sections:
        assert section.title_es, section.code
        for question in section.questions:
            assert question.text_es and question.text_es != question.text_en, question.code
            for option in question.options:
                assert option.label_es, (question.code, option.value)


def test_the_portal_templates_strings_are_in_a_catalogue():
    """Every {% trans %} of the questionnaire's portal templates has its Spanish somewhere."""
    import re

    from django.utils import translation

    root = Path(__file__).resolve().parents[2] / "templates" / "portal"
    texts = set()
    for name in ("questionnaire.html", "questionnaire_section.html"):
        body = (root / name).read_text(encoding="utf-8")
        texts |= set(re.findall(r'{% trans "([^"]+)" %}', body))
    from core.management.commands.compile_translations import compile_all

    compile_all()
    with translation.override("es"):
        untranslated = sorted(t for t in texts if translation.gettext(t) == t and t not in ("No",))
    assert untranslated == []
