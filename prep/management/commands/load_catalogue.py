from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from prep.loader import DEFAULT_PATH, CatalogueError, catalogue_load


class Command(BaseCommand):
    help = "Load the clinical catalogue (procedures, templates, items, drug rules) from its YAML file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
        parser.add_argument(
            "--force",
            action="store_true",
            help="Reload even if this version was loaded before (overwrites admin edits).",
        )

    def handle(self, *args: Any, path: Path, force: bool, **options: Any) -> None:
        try:
            report = catalogue_load(path=path, force=force)
        except CatalogueError as exc:
            raise CommandError(f"Catalogue not loaded: {exc}") from None
        if report.already_loaded:
            self.stdout.write(f"Catalogue {report.version} is already loaded (use --force to reload it).")
            return
        changed = ", ".join(f"{n} {k}" for k, n in sorted(report.created.items())) or "nothing"
        updated = ", ".join(f"{n} {k}" for k, n in sorted(report.updated.items())) or "nothing"
        self.stdout.write(f"Catalogue {report.version} loaded: created {changed}; updated {updated}.")
