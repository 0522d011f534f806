"""``manage.py hl7_listener --port 2575 --clinic SLUG``: receive HL7 v2 ORU^R01 results over MLLP."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from inbox.listener import Listener
from patients.models import Clinic


class Command(BaseCommand):
    help = "Listen for HL7 v2 results (ORU^R01) over MLLP for one clinic; ACK each once it is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", required=True, help="The clinic's slug: patients are matched by MRN there.")
        parser.add_argument("--port", type=int, default=2575, help="TCP port (2575 is HL7's registered port).")
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (0.0.0.0 for every interface).")

    def handle(self, *args: Any, **options: Any) -> None:
        clinic = Clinic.objects.filter(slug=options["clinic"]).first()
        if clinic is None:
            raise CommandError(f"No clinic with the slug {options['clinic']!r}.")
        listener = Listener(clinic=clinic, host=options["host"], port=options["port"])
        self.stdout.write(f"HL7 listener for {clinic.slug} on {options['host']}:{options['port']} (MLLP)")
        self.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C under honcho: a quiet stop
            asyncio.run(listener.serve_forever())
