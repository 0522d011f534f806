"""Compile every ``locale/*/LC_MESSAGES/*.po`` into ``.mo`` with Babel (pure Python).

Django's ``compilemessages`` needs GNU gettext's ``msgfmt``, which a fresh machine may not have;
the ``.mo`` files are build products (git-ignored), so the set-up runs this before tests and
``make run``. Fuzzy entries are left out, as ``msgfmt`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


def locale_dirs() -> list[Path]:
    dirs = [Path(p) for p in settings.LOCALE_PATHS]
    base = Path(settings.BASE_DIR)
    for app in apps.get_app_configs():
        path = Path(app.path) / "locale"
        # Only the project's own apps: installed packages (in a virtualenv that may live inside
        # the project, e.g. .venv/) ship their own compiled catalogues and are never touched.
        try:
            relative = path.relative_to(base)
        except ValueError:
            continue
        if path.is_dir() and not any(part.startswith(".") or part == "site-packages" for part in relative.parts):
            dirs.append(path)
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


def compile_po(po_path: Path, *, force: bool = False) -> bool:
    """Write the ``.mo`` next to ``po_path``; False when it was already up to date."""
    mo_path = po_path.with_suffix(".mo")
    if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
        return False
    locale = po_path.parent.parent.name
    with po_path.open("rb") as handle:
        catalog = read_po(handle, locale=locale, domain=po_path.stem)
    tmp = mo_path.with_suffix(".mo.tmp")
    with tmp.open("wb") as handle:
        write_mo(handle, catalog, use_fuzzy=False)
    tmp.replace(mo_path)  # atomic: a test run reading the catalogue never sees half a file
    return True


def compile_all(*, force: bool = False) -> list[Path]:
    compiled = []
    for directory in locale_dirs():
        for po_path in sorted(directory.glob("*/LC_MESSAGES/*.po")):
            if compile_po(po_path, force=force):
                compiled.append(po_path)
    return compiled


class Command(BaseCommand):
    help = "Compile the .po translation catalogues into .mo files with Babel (no GNU gettext needed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force", action="store_true", help="Recompile even when the .mo is newer.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            compiled = compile_all(force=options["force"])
        except (OSError, ValueError) as exc:
            raise CommandError(f"Could not compile the translations: {exc}") from exc
        base = Path(settings.BASE_DIR)
        for path in compiled:
            shown = path.relative_to(base) if base in path.parents else path
            self.stdout.write(f"compiled {shown}")
        if not compiled and options["verbosity"] > 1:
            self.stdout.write("translations already up to date")
