"""Spanish catalogue: complete, compiled by the pure-Python command."""

from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.pofile import read_po
from django.core.management import call_command
from django.utils import translation

PO = Path(__file__).resolve().parents[2] / "locale" / "es" / "LC_MESSAGES" / "django.po"


def test_every_message_is_translated():
    with PO.open("rb") as handle:
        catalog = read_po(handle, locale="es")
    missing = [m.id for m in catalog if m.id and not (m.string if isinstance(m.string, str) else all(m.string))]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert missing == [] and fuzzy == []


def test_compile_translations_writes_a_mo_babel_only(tmp_path, settings):
    locale = tmp_path / "locale"
    shutil.copytree(PO.parent.parent.parent, locale)
    for mo in locale.rglob("*.mo"):
        mo.unlink()
    settings.LOCALE_PATHS = [locale]
    call_command("compile_translations")
    mo = locale / "es" / "LC_MESSAGES" / "django.mo"
    assert mo.exists() and mo.stat().st_size > 1000
    # Nothing outside the project's own locale folders is touched (e.g. a virtualenv inside it).
    from core.management.commands.compile_translations import locale_dirs

    assert all(".venv" not in str(d) and "site-packages" not in str(d) for d in locale_dirs())


def test_spanish_is_active_in_the_catalogue():
    with translation.override("es"):
        assert translation.gettext("My preparation") == "Mi preparación"
