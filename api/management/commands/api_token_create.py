"""python manage.py api_token_create --clinic SLUG --name NAME: prints the token once."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api.services import api_token_create
from patients.models import Clinic


class Command(BaseCommand):
    help = "Create an API token for a clinic and print it (it is stored hashed and never shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinic", required=True, help="The clinic's slug.")
        parser.add_argument("--name", required=True, help="Which system will use the token.")

    def handle(self, *args: Any, clinic: str, name: str, **options: Any) -> None:
        try:
            clinic_row = Clinic.objects.get(slug=clinic)
        except Clinic.DoesNotExist:
            raise CommandError(f"No clinic with slug {clinic!r}.") from None
        try:
            token, raw = api_token_create(clinic=clinic_row, name=name, by=None)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(f"Token {token.prefix}… for {clinic_row.name} ({token.name}). Store it now:")
        self.stdout.write(raw)
