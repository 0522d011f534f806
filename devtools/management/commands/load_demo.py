"""Demo clinic, staff logins and patients for `make run` (only with DEBUG on)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools import demo


class Command(BaseCommand):
    help = "Load demo data (clinic, staff, ~25 patients). Idempotent. Refuses to run unless DEBUG is on."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--print-logins", action="store_true", help="Print the demo logins; create nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "load_demo creates logins with published passwords, so it only runs with DEBUG=1 (DEBUG is off)."
            )
        if options["print_logins"]:
            for email, password, role, _first, _last in demo.LOGINS:
                self.stdout.write(f"  {email} / {password} ({role.label})")
            return
        try:
            created, existing = demo.demo_load()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Demo data: {created} patients booked, {existing} already there.")
