"""Claim and send due reminders in this process: ``--once`` for one pass, else a loop."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from reminders.services import reminders_run_once


class Command(BaseCommand):
    help = "Send every reminder due now in this process and print how many were sent, failed, expired, skipped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="One pass over everything due now, then exit.")

    def handle(self, *args: object, **options: object) -> None:
        while True:
            counts = reminders_run_once()
            self.stdout.write(
                f"sent={counts.sent} failed={counts.failed} expired={counts.expired} "
                f"skipped={counts.skipped} retrying={counts.retrying}"
            )
            if options["once"]:
                return
            time.sleep(settings.REMINDERS_DISPATCH_INTERVAL)
