"""Remove stored document files that no document row names (see ``documents_orphans_delete``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from documents.services import documents_orphans_delete


class Command(BaseCommand):
    help = "Remove stored document files without a document row, older than --hours (default 1)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=int, default=1, help="Only files at least this old.")

    def handle(self, *args: Any, hours: int, **options: Any) -> None:
        removed = documents_orphans_delete(older_than=dt.timedelta(hours=hours))
        self.stdout.write(f"Removed {removed} stored file(s) without a document.")
