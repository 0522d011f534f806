"""``manage.py seed_scale --clinics C --patients N --days D``: synthetic data at scale (see devtools.seeding)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.seeding import seed_scale


class Command(BaseCommand):
    help = (
        "Add fictitious clinics, patients, surgeries over the past and coming DAYS, checklists in every state, "
        "history and reminders, written in bulk. For benchmarks: never run it on a production database."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clinics", type=int, default=1)
        parser.add_argument("--patients", type=int, default=10_000)
        parser.add_argument("--days", type=int, default=35, help="Surgeries fall within this many days of today.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (same seed, same data).")
        parser.add_argument("--no-reminders", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = seed_scale(
                clinics=options["clinics"],
                patients=options["patients"],
                days=options["days"],
                seed=options["seed"],
                with_reminders=not options["no_reminders"],
                log=(lambda msg: self.stdout.write(f"  {msg}")) if options["verbosity"] > 1 else None,
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(f"Seeded {report.summary()}."))
        self.stdout.write("Item states: " + ", ".join(f"{k} {v}" for k, v in sorted(report.item_states.items())))
        if report.reminders:
            self.stdout.write(
                "Reminder states: " + ", ".join(f"{k} {v}" for k, v in sorted(report.reminder_states.items()))
            )
        self.stdout.write(f"Clinics: {', '.join(report.clinic_slugs)}; nurse logins nurse1..10@<clinic>.bench.test")
