"""Show the checklist a patient would get, as JSON, without saving anything."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from patients.models import PATIENT_FLAGS, Anaesthesia
from prep import planning
from prep.models import Drug, ProcedureVariant, TemplateItem


class BadInput(Exception):
    pass


class Command(BaseCommand):
    help = "Preview the checklist for a procedure and patient facts (JSON, nothing saved). Bad input exits 2."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--procedure", help="Procedure variant slug (see --list-procedures).")
        parser.add_argument("--list-procedures", action="store_true")
        parser.add_argument("--surgery-at", help="Local wall time of the surgery, e.g. 2026-03-10T08:00.")
        parser.add_argument("--tz", default=None, help="Time zone, e.g. America/Los_Angeles (default: settings).")
        parser.add_argument("--birth-date", default="1960-01-01", help="YYYY-MM-DD")
        parser.add_argument("--anaesthesia", choices=Anaesthesia.values, help="Default: the variant's usual one.")
        parser.add_argument("--medication", action="append", default=[], help="DRUG[:INDICATION], repeatable.")
        parser.add_argument("--flag", action="append", default=[], help=f"One of {', '.join(PATIENT_FLAGS)}.")
        parser.add_argument("--age-threshold", type=int, default=65, help="The clinic's cardiac age threshold.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list_procedures"]:
            for proc in ProcedureVariant.objects.filter(active=True).order_by("slug"):
                self.stdout.write(f"{proc.slug}\t{proc.risk}\t{proc.default_anaesthesia}\t{proc.name}")
            return
        try:
            payload = self._preview(options)
        except BadInput as exc:
            self.stderr.write(f"preview_checklist: {exc}")
            raise SystemExit(2) from None
        self.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False))

    def _preview(self, options: dict[str, Any]) -> dict[str, Any]:
        from django.conf import settings

        if not options["procedure"]:
            raise BadInput("--procedure is required (see --list-procedures).")
        procedure = ProcedureVariant.objects.select_related("template").filter(slug=options["procedure"]).first()
        if procedure is None:
            known = ", ".join(ProcedureVariant.objects.order_by("slug").values_list("slug", flat=True))
            raise BadInput(f"unknown procedure {options['procedure']!r}; known: {known or 'none (load_catalogue)'}.")
        tz_name = options["tz"] or settings.DEFAULT_CLINIC_TIME_ZONE
        try:
            tz = zoneinfo.ZoneInfo(tz_name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise BadInput(f"--tz {tz_name!r} is not a known time zone.") from None
        if not options["surgery_at"]:
            raise BadInput("--surgery-at is required, e.g. 2026-03-10T08:00.")
        try:
            wall = dt.datetime.fromisoformat(options["surgery_at"])
        except ValueError:
            raise BadInput(
                f"--surgery-at {options['surgery_at']!r} is not a date and time like 2026-03-10T08:00."
            ) from None
        if wall.tzinfo is not None:
            raise BadInput("--surgery-at is a local wall time: give it without an offset and use --tz.")
        start_at = planning.local_to_utc(wall, tz)
        try:
            birth = dt.date.fromisoformat(options["birth_date"])
        except ValueError:
            raise BadInput(f"--birth-date {options['birth_date']!r} is not a date like 1950-05-01.") from None
        unknown_flags = [f for f in options["flag"] if f not in PATIENT_FLAGS]
        if unknown_flags:
            raise BadInput(f"unknown flag {unknown_flags[0]!r}; known: {', '.join(PATIENT_FLAGS)}.")
        drugs = list(Drug.objects.all())
        medications = []
        for raw in options["medication"]:
            name, _, indication = raw.partition(":")
            drug, why = planning.match_drug(name, indication, drugs)
            if drug is None:
                raise BadInput(f"medication {raw!r}: {why}.")
            medications.append(planning.MedicationFacts(name=name, indication=indication, drug=drug))
        facts = planning.BookingFacts(
            start_at=start_at,
            tz=tz,
            birth_date=birth,
            procedure_name=procedure.name,
            risk=procedure.risk,
            region=procedure.region,
            anaesthesia=options["anaesthesia"] or procedure.default_anaesthesia,
            flags=frozenset(options["flag"]),
            clinic_age_threshold=options["age_threshold"],
            medications=medications,
        )
        template_items = list(TemplateItem.objects.filter(template=procedure.template))
        try:
            planned = planning.plan_items(facts, template_items, drugs)
        except planning.PlanningError as exc:
            raise BadInput(f"--{exc.field.replace('_', '-')}: {exc}") from None
        local = lambda value: value.astimezone(tz).isoformat() if value else None  # noqa: E731
        return {
            "procedure": procedure.slug,
            "risk": procedure.risk,
            "anaesthesia": facts.anaesthesia,
            "surgery_at": local(start_at),
            "catalogue_version": procedure.template.version,
            "items": [
                {
                    "code": p.code,
                    "title": p.title,
                    "assignee": p.assignee,
                    "required": p.required,
                    "due_at": local(p.due_at),
                    "reason": p.reason,
                    "source": p.source,
                    **({"last_dose_at": local(p.last_dose_at), "restart_at": local(p.restart_at)} if p.locked else {}),
                }
                for p in planned
            ],
        }
