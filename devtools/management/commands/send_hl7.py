"""``manage.py send_hl7 FILE... --port 2575``: send sample HL7 v2 results to the listener, as a lab would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from devtools import hl7feed


class Command(BaseCommand):
    help = "Send HL7 v2 messages (one per file) over MLLP and print each ACK. Sample files: devtools/samples/hl7/."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", help="HL7 v2 message files (segments on separate lines).")
        parser.add_argument("--port", type=int, default=2575)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--keep-times", action="store_true", help="Send the files' times as they are (default: now)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        messages = []
        for name in options["files"]:
            path = Path(name)
            if not path.is_file():
                raise CommandError(f"No such file: {name}")
            text = path.read_text(encoding="utf-8")
            messages.append(text if options["keep_times"] else hl7feed.restamp(text, timezone.localtime()))
        try:
            acks = hl7feed.send(options["host"], options["port"], messages)
        except OSError as exc:
            raise CommandError(f"Cannot reach the listener at {options['host']}:{options['port']}: {exc}") from None
        for name, ack in zip(options["files"], acks, strict=True):
            code, text = hl7feed.ack_code(ack)
            self.stdout.write(f"{Path(name).name}: {code} {text}")
