"""Show the checklist a patient would get, as JSON, without saving anything."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from patients.models import CONDITION_CODES, PATIENT_FLAGS, Anaesthesia, Language, Relationship, Sex
from prep import medicines, planning
from prep.models import Drug, KnownMedicine, ProcedureVariant, ShowTime, TemplateItem
from prep.selectors import item_text


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
        parser.add_argument(
            "--medication",
            action="append",
            default=[],
            help="Repeatable: DRUG[:INDICATION], or free text as a patient writes it ('Eliquis 5 mg', 'aspirina 81').",
        )
        parser.add_argument(
            "--condition",
            action="append",
            default=[],
            help=f"Repeatable: CODE[=YYYY-MM-DD], CODE one of {', '.join(CONDITION_CODES)}.",
        )
        parser.add_argument("--crcl", help="Creatinine clearance in mL/min.")
        parser.add_argument("--sex", choices=Sex.values, default=Sex.UNKNOWN)
        parser.add_argument(
            "--booked-at", help="Local wall time the booking is made, e.g. 2026-03-01T09:00 (default: now)."
        )
        parser.add_argument("--flag", action="append", default=[], help=f"One of {', '.join(PATIENT_FLAGS)}.")
        parser.add_argument("--age-threshold", type=int, default=65, help="The clinic's cardiac age threshold.")
        parser.add_argument(
            "--first-name", default="", help="The child's first name in the parent wording (default: 'your child')."
        )
        parser.add_argument(
            "--language", choices=("en", "es"), default="en", help="Language of the parent wording (a child only)."
        )
        parser.add_argument(
            "--guardian",
            help=(
                "Preview with a parent or guardian: 'FIRST LAST,RELATIONSHIP[,LANGUAGE]', e.g. 'Ana Garcia,mother,es' "
                f"(RELATIONSHIP one of {', '.join(Relationship.values)}). The guardian receives the messages and reads "
                "the parent wording in their language; an adult with a guardian is previewed as one who needs one."
            ),
        )
        parser.add_argument(
            "--timing-option",
            action="append",
            default=[],
            help="Repeatable: CODE=OPTION, a clinic's timing option (e.g. fasting_clear_liquids=children_1h).",
        )

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
        dictionary = medicines.build(drugs, KnownMedicine.objects.all())
        medications = [self._medication(raw, drugs, dictionary) for raw in options["medication"]]
        conditions = self._conditions(options["condition"])
        crcl = None
        if options["crcl"] is not None:
            try:
                crcl = int(options["crcl"])
            except ValueError:
                raise BadInput(f"--crcl {options['crcl']!r} is not a whole number of mL/min.") from None
            if not 1 <= crcl <= 250:
                raise BadInput(f"--crcl {crcl} is outside 1-250 mL/min.")
        now = timezone.now()
        if options["booked_at"]:
            try:
                booked = dt.datetime.fromisoformat(options["booked_at"])
            except ValueError:
                raise BadInput(
                    f"--booked-at {options['booked_at']!r} is not a date and time like 2026-03-01T09:00."
                ) from None
            if booked.tzinfo is not None:
                raise BadInput("--booked-at is a local wall time: give it without an offset and use --tz.")
            now = planning.local_to_utc(booked, tz)
            if now > start_at:
                raise BadInput("--booked-at is after --surgery-at.")
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
            cardiac_risk=procedure.cardiac_risk,
            sex=options["sex"],
            conditions=conditions,
            crcl=crcl,
            now=now,
            policies=self._timing_options(options["timing_option"], procedure),
            age_bands=procedure.template.age_bands,
        )
        template_items = list(TemplateItem.objects.filter(template=procedure.template))
        try:
            plan = planning.plan_checklist(facts, template_items, drugs)
        except planning.PlanningError as exc:
            raise BadInput(f"--{exc.field.replace('_', '-')}: {exc}") from None
        local = lambda value: value.astimezone(tz).isoformat() if value else None  # noqa: E731
        band = planning.age_band_for(procedure.template.age_bands, plan.age)
        guardian = self._guardian(options["guardian"])
        # A child's texts speak to the parent (as the portal's do); a guardian reads them in their own
        # language. An adult's guardian reads the adult's own wording, as in the portal.
        for_parent = plan.audience == "parent"
        language = guardian["language"] if guardian else options["language"]

        def parent_wording(p: planning.PlannedItem) -> dict[str, str]:
            # For a child, what the parent reads (the portal adds the framing around it).
            if not for_parent:
                return {}
            ti = p.template_item
            time = p.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if ti.show_time != ShowTime.DAY else ""
            words = {"for_parent": True, "language": language, "first_name": options["first_name"]}
            return {
                "parent_title": item_text(ti, field="patient_title", time_text=time, **words),
                "parent_instructions": item_text(ti, field="instructions", time_text=time, **words),
            }

        return {
            "procedure": procedure.slug,
            "risk": procedure.risk,
            "anaesthesia": facts.anaesthesia,
            "surgery_at": local(start_at),
            "catalogue_version": procedure.template.version,
            "age": plan.age,
            "age_band": plan.age_band,
            "age_band_name": band["name"] if band else "",
            "audience": plan.audience,
            # Who receives the sign-in link, the reminders and the portal (the patient's own contact
            # gets nothing while a guardian is needed: under 18 on the day, or an adult with one).
            "messages_to": "guardian" if for_parent or guardian else "patient",
            **({"guardian": guardian} if guardian else {}),
            **(
                {"warning": "A patient under 18: booking needs a parent or guardian with an email or mobile number."}
                if plan.audience == "parent" and guardian is None
                else {}
            ),
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
                    **parent_wording(p),
                }
                for p in plan.items
            ],
            "unmatched_medications": plan.unmatched,
            "alerts": [a.as_dict() for a in plan.alerts],
        }

    @staticmethod
    def _medication(raw: str, drugs: list[Drug], dictionary: medicines.Dictionary) -> planning.MedicationFacts:
        name, _, indication = raw.partition(":")
        if indication and indication not in ("primary", "secondary", "prophylactic", "therapeutic"):
            name, indication = raw, ""  # a colon inside free text, not DRUG:INDICATION
        drug, _ = planning.match_drug(name, indication, drugs)
        if drug is not None:
            return planning.MedicationFacts(name=name, indication=indication, drug=drug)
        read = dictionary.resolve(name)
        return planning.MedicationFacts(
            name=name.strip(),
            indication=indication,
            candidates=read.drugs,
            no_rule=read.known is not None,
            how=read.how,
        )

    @staticmethod
    def _guardian(raw: str | None) -> dict[str, str] | None:
        if not raw:
            return None
        parts = [part.strip() for part in raw.split(",")]
        if len(parts) not in (2, 3) or not parts[0] or len(parts[0].split()) < 2:
            raise BadInput(
                f"--guardian {raw!r}: give 'FIRST LAST,RELATIONSHIP[,LANGUAGE]', e.g. 'Ana Garcia,mother,es'."
            )
        name, relationship = parts[0], parts[1]
        language = parts[2] if len(parts) == 3 else Language.EN
        if relationship not in Relationship.values:
            raise BadInput(
                f"--guardian: unknown relationship {relationship!r}; known: {', '.join(Relationship.values)}."
            )
        if language not in Language.values:
            raise BadInput(f"--guardian: unknown language {language!r}; known: {', '.join(Language.values)}.")
        return {"name": name, "relationship": relationship, "language": language}

    @staticmethod
    def _timing_options(raws: list[str], procedure: ProcedureVariant) -> dict[str, planning.TestPolicy]:
        found: dict[str, planning.TestPolicy] = {}
        for raw in raws:
            code, _, option = raw.partition("=")
            item = TemplateItem.objects.filter(template=procedure.template, code=code).first()
            if item is None or not option:
                raise BadInput(f"--timing-option {raw!r}: give CODE=OPTION with CODE an item of {procedure.slug}.")
            if option not in item.timing_options:
                known = ", ".join(item.timing_options) or "none"
                raise BadInput(f"--timing-option {raw!r}: {code} has no option {option!r}; known: {known}.")
            found[code] = planning.TestPolicy(timing_option=option)
        return found

    @staticmethod
    def _conditions(raws: list[str]) -> dict[str, dt.date | None]:
        found: dict[str, dt.date | None] = {}
        for raw in raws:
            code, _, day = raw.partition("=")
            if code not in CONDITION_CODES:
                raise BadInput(f"--condition {code!r} is not known; known: {', '.join(CONDITION_CODES)}.")
            try:
                found[code] = dt.date.fromisoformat(day) if day else None
            except ValueError:
                raise BadInput(f"--condition {raw!r}: the date is not like 2026-01-31.") from None
        return found
