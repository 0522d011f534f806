"""Synthetic data at scale for benchmarks (``manage.py seed_scale``), written in bulk.

Realistic in shape, not in content: clinics with staff, patients with medications and flags,
surgeries spread over the past and coming days, checklists in every item state with results,
history rows and (when the reminders app has its table) reminders in every status.

Speed comes from two things. Planning is pure (``prep.planning.plan_items``), so it runs once per
distinct booking shape (procedure, anaesthesia, medications, flags, age band) at a reference date,
and each surgery's items are that plan moved to its own date in the clinic's zone (calendar days
keep their wall-clock time, items at a fixed local time stay at it). Rows are then written by raw
inserts a table at a time (``executemany`` on SQLite, ``COPY`` on PostgreSQL), history rows
included, instead of calling the per-surgery services (which are what the
``patients.services.surgery_book`` benchmarks measure). That raw SQL is why this lives in the
development package and not in a production app.

Never for production data: every patient is fictitious and ``seed_scale`` only adds rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import random
import threading
import time
import zoneinfo
from collections import Counter
from collections.abc import Callable, Sequence

from django.contrib.auth.hashers import make_password
from django.core.management.color import no_style
from django.db import connection, models, transaction
from django.utils import timezone

from accounts.models import Role, User
from patients.models import Clinic, Medication, Patient, Surgery, SurgeryStatus
from prep import planning
from prep.models import (
    Checklist,
    ChecklistItem,
    ChecklistStatus,
    ChecklistSummary,
    Drug,
    ItemStatus,
    ProcedureVariant,
    ResultKind,
    TemplateItem,
)
from prep.selectors import readiness_compute

UTC = dt.UTC
# Benchmark logins (fictitious clinics on a throwaway database); locust signs in with them.
BENCH_PASSWORD = "bench-nurse-2026!"  # noqa: S105
TIME_ZONES = ("America/Los_Angeles", "America/New_York", "America/Chicago", "America/Denver")
SLOTS = tuple(dt.time(7 + m // 60, m % 60) for m in range(30, 8 * 60 + 31, 30))  # 07:30 .. 15:30
# (medication name, indication, drug slug or None): what spine-clinic patients commonly take.
MEDICATION_PROFILES: tuple[tuple[tuple[str, str, str | None], ...], ...] = (
    (),
    (),
    (),
    (("ibuprofen", "", "ibuprofen"),),
    (("aspirin", "primary", "aspirin-primary"),),
    (("aspirin", "secondary", "aspirin-secondary"), ("clopidogrel", "", "clopidogrel")),
    (("clopidogrel", "", "clopidogrel"),),
    (("warfarin", "", "warfarin"),),
    (("apixaban", "", "apixaban"),),
    (("naproxen", "", "naproxen"), ("metformin", "", "metformin")),
    (("rivaroxaban", "", "rivaroxaban"),),
)
FLAG_PROFILES: tuple[frozenset[str], ...] = (
    frozenset(),
    frozenset(),
    frozenset(),
    frozenset(),
    frozenset({"claustrophobic"}),
    frozenset({"cardiac_history"}),
    frozenset({"impaired_renal_function"}),
    frozenset({"latex_allergy"}),
)
FIRST = (
    "Maria",
    "James",
    "Aiko",
    "Robert",
    "Fatima",
    "Peter",
    "Grace",
    "Luis",
    "Emma",
    "David",
    "Sofia",
    "Hassan",
    "Olivia",
    "Chen",
    "Anna",
    "Thomas",
    "Priya",
    "Marek",
    "Lucia",
    "George",
    "Yuki",
    "Ahmed",
    "Ingrid",
    "Carlos",
)
LAST = (
    "Garcia",
    "Whitaker",
    "Tanaka",
    "Nguyen",
    "Haddad",
    "Kowalski",
    "Okoye",
    "Fernandez",
    "Schulz",
    "Cohen",
    "Rossi",
    "Karimi",
    "Brown",
    "Wei",
    "Lindqvist",
    "Miller",
    "Sharma",
    "Novak",
    "Martins",
    "Adams",
    "Sato",
    "Mansour",
    "Berg",
    "Mendoza",
    "Park",
    "Smith",
    "Johnson",
    "Lopez",
    "Kim",
    "Ali",
)


@dataclasses.dataclass
class SeedReport:
    clinics: int = 0
    staff: int = 0
    patients: int = 0
    surgeries: int = 0
    checklists: int = 0
    items: int = 0
    history_rows: int = 0
    reminders: int = 0
    plans_computed: int = 0
    seconds: float = 0.0
    item_states: Counter = dataclasses.field(default_factory=Counter)
    reminder_states: Counter = dataclasses.field(default_factory=Counter)
    clinic_slugs: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.patients} patients, {self.surgeries} surgeries, {self.items} items, {self.history_rows} history "
            f"rows, {self.reminders} reminders in {self.clinics} clinic(s) ({self.plans_computed} distinct plans) "
            f"in {self.seconds:.1f} s"
        )


@dataclasses.dataclass
class _PlanShape:
    """One reference plan: items relative to a reference surgery start, reused for every booking of that shape."""

    ref_start: dt.datetime
    items: list[planning.PlannedItem]


def _reminders_table_ready() -> bool:
    try:
        from reminders.models import Reminder
    except ImportError:
        return False
    return Reminder._meta.db_table in connection.introspection.table_names()


def _converter(field: models.Field, now: dt.datetime) -> Callable[[object], object]:
    """How one column's Python value goes to the database, without the ORM's per-value machinery."""
    sqlite = connection.vendor == "sqlite"
    auto = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    if isinstance(field, models.DateTimeField):
        if sqlite:
            # Django stores SQLite datetimes as naive UTC text.
            def to_text(v: object) -> object:
                v = now if (v is None and auto) else v
                return None if v is None else v.astimezone(UTC).replace(tzinfo=None).isoformat(" ")

            return to_text
        return (lambda v: now if v is None else v) if auto else _identity
    if isinstance(field, models.JSONField):
        return lambda v: json.dumps(v)
    if isinstance(field, models.UUIDField):
        return (lambda v: None if v is None else v.hex) if sqlite else _identity
    if isinstance(field, models.DateField | models.TimeField):
        return (lambda v: None if v is None else v.isoformat()) if sqlite else _identity
    if isinstance(field, models.DecimalField):
        return lambda v: field.get_db_prep_save(v, connection)
    return _identity


def _identity(value: object) -> object:
    return value


def _fast_insert(
    model: type[models.Model], rows: Sequence[object], *, now: dt.datetime, assign_pk: bool = True
) -> None:
    """Insert model instances (or dicts of attname -> value) in bulk, ids assigned here.

    ``bulk_create`` spends most of its time preparing values one at a time and (on SQLite) is
    limited to 999 parameters a statement; this writes plain tuples with ``executemany`` on SQLite
    and ``COPY`` on PostgreSQL. Ids are taken after the current maximum inside the caller's
    transaction (seeding is not meant to run next to other writers) and the sequence is reset after.
    """
    if not rows:
        return
    table = model._meta.db_table
    pk = model._meta.pk
    fields = [f for f in model._meta.concrete_fields if assign_pk or f is not pk]
    # Only the columns whose Python value differs from what the driver takes are converted.
    converting = [(i, c) for i, c in enumerate(_converter(f, now) for f in fields) if c is not _identity]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if assign_pk:
            # Table and column names come from the model, quoted; no value is interpolated.
            cursor.execute(f"SELECT COALESCE(MAX({quote(pk.column)}), 0) FROM {quote(table)}")  # noqa: S608  # nosec B608
            next_id = cursor.fetchone()[0] + 1
            for offset, row in enumerate(rows):
                if isinstance(row, dict):
                    row[pk.attname] = next_id + offset
                else:
                    row.pk = next_id + offset
        defaults = {f.attname: f.get_default() for f in fields if f.has_default() and not callable(f.default)}
        auto = [f.attname for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
        tuples = []
        for row in rows:
            if isinstance(row, dict):
                values = [row[f.attname] if f.attname in row else defaults.get(f.attname) for f in fields]
            else:
                for name in auto:  # what pre_save would do; history rows copy these values
                    if getattr(row, name) is None:
                        setattr(row, name, now)
                values = [getattr(row, f.attname) for f in fields]
            for position, conv in converting:
                values[position] = conv(values[position])
            tuples.append(values)
        columns = ", ".join(quote(f.column) for f in fields)
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            with raw.copy(f"COPY {quote(table)} ({columns}) FROM STDIN") as copy:
                for values in tuples:
                    copy.write_row(values)
        else:
            marks = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {quote(table)} ({columns}) VALUES ({marks})", tuples)  # noqa: S608  # nosec B608
        if assign_pk and connection.vendor == "postgresql":
            for sql in connection.ops.sequence_reset_sql(no_style(), [model]):
                cursor.execute(sql)


def _history_dicts(
    model: type[models.Model], objs: Sequence[models.Model], *, date: dt.datetime, reason: str
) -> list[dict]:
    """django-simple-history "+" rows for freshly inserted objects, as plain dicts."""
    tracked = [f.attname for f in model.history.model.tracked_fields]
    return [
        {
            "history_date": date,
            "history_type": "+",
            "history_change_reason": reason,
            "history_user_id": None,
            **{name: getattr(obj, name) for name in tracked},
        }
        for obj in objs
    ]


def _move(
    when: dt.datetime | None, ref_start: dt.datetime, start: dt.datetime, tz: zoneinfo.ZoneInfo, at_local: bool
) -> dt.datetime | None:
    """A time planned relative to ``ref_start`` moved to the booking at ``start``, in local wall-clock terms."""
    if when is None:
        return None
    ref_local = ref_start.astimezone(tz)
    local = when.astimezone(tz)
    day_offset = (local.date() - ref_local.date()).days
    day = start.astimezone(tz).date() + dt.timedelta(days=day_offset)
    if at_local:
        wall = local.time()  # "the day before at 18:00" stays at 18:00
    else:
        # "7 days before" keeps the surgery's wall time; "2 hours before" keeps its distance.
        delta = dt.datetime.combine(dt.date.min, local.time()) - dt.datetime.combine(dt.date.min, ref_local.time())
        wall_dt = dt.datetime.combine(day, start.astimezone(tz).time().replace(tzinfo=None)) + delta
        return planning.local_to_utc(wall_dt, tz)
    return planning.local_to_utc(dt.datetime.combine(day, wall), tz)


def _result_for(ti: TemplateItem | None, rng: random.Random, on: dt.date) -> str:
    if ti is None:
        return ""
    if ti.result_kind == ResultKind.CHOICE:
        choices = ti.result_choices or ["ok"]
        return "approve" if "approve" in choices else rng.choice(choices)
    if ti.result_kind == ResultKind.NUMBER:
        low = float(ti.result_min) if ti.result_min is not None else 1.0
        high = float(ti.result_max) if ti.result_max is not None else 20.0
        if ti.code == "hemoglobin":
            low, high = 11.0, 16.5
        elif ti.code == "inr":
            low, high = 0.9, 1.3
        return f"{rng.uniform(low, high):.1f}"
    if ti.result_kind == ResultKind.DATE:
        return (on - dt.timedelta(days=rng.randint(1, 40))).isoformat()
    if ti.result_kind == ResultKind.TEXT:
        return rng.choice(("Normal", "Normal sinus rhythm", "No abnormality", "Within normal limits"))
    return ""


def _choose_state(item: ChecklistItem, surgery: Surgery, now: dt.datetime, rng: random.Random) -> str:
    """The state an item would plausibly be in now, given its surgery's timeline."""
    patient_item = item.assignee == "patient"
    roll = rng.random()
    if surgery.status == SurgeryStatus.CANCELLED:
        return ItemStatus.OPEN if roll < 0.7 else ItemStatus.DONE if not patient_item else ItemStatus.ACCEPTED
    if surgery.status == SurgeryStatus.DONE:
        if item.code == "follow_up" and item.due_at > now:
            return ItemStatus.OPEN
        if roll < 0.04:
            return ItemStatus.NOT_APPLICABLE
        if patient_item:
            return ItemStatus.ACCEPTED if roll < 0.9 else ItemStatus.PATIENT_CONFIRMED
        return ItemStatus.DONE
    # Booked or postponed: overdue items are mostly done; future ones mostly open.
    if item.due_at <= now:
        if roll < 0.15:
            return ItemStatus.OPEN
        if roll < 0.2:
            return ItemStatus.NOT_APPLICABLE
        if patient_item:
            return ItemStatus.PATIENT_CONFIRMED if roll < 0.35 else ItemStatus.ACCEPTED
        return ItemStatus.DONE
    if roll < 0.6:
        return ItemStatus.OPEN
    if roll < 0.65:
        return ItemStatus.NOT_APPLICABLE
    if patient_item:
        return ItemStatus.PATIENT_CONFIRMED if roll < 0.85 else ItemStatus.ACCEPTED
    return ItemStatus.DONE if roll < 0.9 else ItemStatus.OPEN


def seed_scale(
    *,
    clinics: int,
    patients: int,
    days: int,
    now: dt.datetime | None = None,
    seed: int = 1,
    nurses_per_clinic: int = 10,
    surgeons_per_clinic: int = 3,
    with_reminders: bool = True,
    log: Callable[[str], None] | None = None,
) -> SeedReport:
    """Add ``clinics`` clinics sharing ``patients`` patients, one surgery each within ``days`` of ``now``.

    Each clinic gets an admin, ``surgeons_per_clinic`` surgeons and ``nurses_per_clinic`` nurses:
    every surgery has a surgeon and every ticked item a nurse, so neither may be zero.
    """
    if min(clinics, patients, days, nurses_per_clinic, surgeons_per_clinic) < 1:
        raise ValueError("clinics, patients, days, nurses and surgeons per clinic must each be at least 1")
    started = time.perf_counter()
    now = now or timezone.now()
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    report = SeedReport()
    say = log or (lambda _msg: None)

    procedures = list(ProcedureVariant.objects.filter(active=True).select_related("template"))
    if not procedures:
        raise ValueError("The catalogue is empty: run `manage.py load_catalogue` first.")
    template_items: dict[int, list[TemplateItem]] = {}
    for ti in TemplateItem.objects.all():
        template_items.setdefault(ti.template_id, []).append(ti)
    drugs = list(Drug.objects.all())
    drugs_by_slug = {d.slug: d for d in drugs}

    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            # SQLite's default page cache is 2 MB: random UUID index inserts into big tables then
            # thrash the disk. A larger cache for this connection keeps seeding linear.
            cursor.execute("PRAGMA cache_size = -262144")
    with transaction.atomic():
        clinic_rows, staff = _seed_clinics(clinics, nurses_per_clinic, surgeons_per_clinic, rng, report)
        say(f"clinics and staff: {time.perf_counter() - started:.1f} s")
        patient_rows, meds_by_patient = _seed_patients(clinic_rows, patients, now, rng, drugs_by_slug, report)
        say(f"patients and medications: {time.perf_counter() - started:.1f} s")
        surgeries = _seed_surgeries(patient_rows, procedures, staff, days, now, rng, report)
        say(f"surgeries: {time.perf_counter() - started:.1f} s")
        items_by_surgery = _seed_checklists(surgeries, meds_by_patient, template_items, drugs, staff, now, rng, report)
        say(f"checklists, items and history: {time.perf_counter() - started:.1f} s")
        if with_reminders and _reminders_table_ready():
            _seed_reminders(surgeries, items_by_surgery, now, rng, report)
            say(f"reminders: {time.perf_counter() - started:.1f} s")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # What autovacuum would do soon after a bulk load (PostgreSQL's "Populating a Database"
            # advice): without fresh statistics the planner guesses from the tables' old sizes.
            cursor.execute("ANALYZE")
    report.seconds = time.perf_counter() - started
    return report


def seed_copies(*, source: str, copies: int, seed: int = 1, log: Callable[[str], None] | None = None) -> SeedReport:
    """Add ``copies`` clinics, each a copy of clinic ``source``'s rows made inside PostgreSQL.

    For growing a benchmark data set fast: ``seed_scale`` spends its time in Python (planning, moving
    dates, readiness, the reminder planner: ~25-35 s per 10,000 patients on 2 cores), while one
    ``INSERT ... SELECT`` per table and copy writes the same rows without leaving the database. Each
    copy is a clinic of its own (same time zone as the source, so that wall-clock times stay right)
    with its own staff (``_seed_clinics``) and the source's patients under new identities: new ids
    (every foreign key moved with them), UUIDs, MRNs, email addresses, names, reminder keys and
    provider ids; the schedule, item states, history and reminders are the source's, so every
    copy's board has the source's shape. Ends with ``ANALYZE`` like ``seed_scale``.
    """
    if connection.vendor != "postgresql":
        raise ValueError("seed_copies copies rows inside PostgreSQL: use seed_scale on other engines")
    if copies < 1:
        raise ValueError("copies must be at least 1")
    from reminders.models import Reminder

    started = time.perf_counter()
    say = log or (lambda _msg: None)
    report = SeedReport()
    src = Clinic.objects.get(slug=source)
    src_users = list(User.objects.filter(clinic=src).order_by("pk").values_list("pk", "email", "role"))
    roles = Counter(role for _pk, _email, role in src_users)
    # (model, rows of the source clinic): parents before children, history after its object.
    in_clinic = "t.clinic_id = %(src)s"
    of_patients = "t.patient_id IN (SELECT id FROM patients_patient WHERE clinic_id = %(src)s)"
    of_checklists = (
        "t.checklist_id IN (SELECT c.id FROM prep_checklist c JOIN patients_surgery s ON s.id = c.surgery_id "
        "WHERE s.clinic_id = %(src)s)"
    )
    tables: list[tuple[type[models.Model], str]] = [
        (Patient, in_clinic),
        (Patient.history.model, in_clinic),
        (Medication, of_patients),
        (Surgery, in_clinic),
        (Surgery.history.model, in_clinic),
        (Checklist, "t.surgery_id IN (SELECT id FROM patients_surgery WHERE clinic_id = %(src)s)"),
        (ChecklistSummary, of_checklists),
        (ChecklistItem, of_checklists),
        (ChecklistItem.history.model, of_checklists),
        (Reminder, in_clinic),
    ]
    copied = {Patient, Medication, Surgery, Checklist, ChecklistItem, Reminder}
    quote = connection.ops.quote_name
    # Two database sessions copy at once on more than one core (PostgreSQL runs one statement on one
    # core), each in a transaction of its own; inside a caller's transaction (tests) one does all.
    sessions = 1 if connection.in_atomic_block else max(1, min(2, os.cpu_count() or 1, copies))
    with transaction.atomic(), connection.cursor() as cursor:
        # Each copy's ids come after the current maximum, one block of the source's id span per copy.
        base: dict[type[models.Model], tuple[int, int]] = {}
        for model in copied:
            table = quote(model._meta.db_table)
            where = dict(tables)[model].replace("%(src)s", str(src.pk))
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608  # nosec B608
            top = cursor.fetchone()[0]
            cursor.execute(f"SELECT MIN(t.id), MAX(t.id) FROM {table} t WHERE {where}")  # noqa: S608  # nosec B608
            low, high = cursor.fetchone()
            if low is None:
                raise ValueError(f"clinic {source} has no {model._meta.verbose_name_plural} to copy")
            base[model] = (top - low + 1, high - low + 1)
        clinics, staff = _seed_clinics(
            copies,
            roles["nurse"],
            roles["surgeon"],
            random.Random(seed),  # noqa: S311 - synthetic data, not security
            report,
            time_zone=src.time_zone,
        )
        say(f"clinics and staff: {time.perf_counter() - started:.1f} s")
        every: list[dict] = []
        for k, clinic in enumerate(clinics):
            users = {u.email.split("@")[0]: u.pk for role in staff[clinic.pk].values() for u in role}
            shifts = {users[email.split("@")[0]] - pk for pk, email, _role in src_users}
            if len(shifts) != 1:
                raise RuntimeError("the copy's staff ids do not follow the source's: cannot move user references")
            every.append(
                {
                    "src": src.pk,
                    "clinic": clinic.pk,
                    "k": k + 1,
                    "users": shifts.pop(),
                    "old_at": f"@{src.slug}.",
                    "new_at": f"@{clinic.slug}.",
                    **{m._meta.model_name: top + k * span for m, (top, span) in base.items()},
                }
            )
        if sessions == 1:
            counts = _copy_clinics(every, tables, copied, say, started)
    if sessions > 1:
        parts: list[Counter] = []

        def copy_part(part: list[dict]) -> None:
            try:
                parts.append(_copy_clinics(part, tables, copied, say, started))
            finally:
                connection.close()  # this thread's own session

        threads = [threading.Thread(target=copy_part, args=(every[i::sessions],)) for i in range(sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if len(parts) != sessions:
            raise RuntimeError("a copying session failed: see the error above")
        counts = sum(parts, Counter())
    report.patients += counts["patient"]
    report.surgeries += counts["surgery"]
    report.checklists += counts["checklist"]
    report.items += counts["checklistitem"]
    report.reminders += counts["reminder"]
    report.history_rows += sum(n for name, n in counts.items() if name.startswith("historical"))
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(copied)):
            cursor.execute(sql)
        cursor.execute("ANALYZE")  # as seed_scale: fresh statistics after a bulk load
    report.seconds = time.perf_counter() - started
    return report


def _copy_clinics(
    every: list[dict],
    tables: list[tuple[type[models.Model], str]],
    copied: set[type[models.Model]],
    say: Callable[[str], None],
    started: float,
) -> Counter:
    """The copies ``every`` names (one parameter dict each), in one transaction: rows per model name."""
    counts: Counter = Counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: every copied row queues one check
            # per reference until COMMIT (millions of single-row lookups, most of the copy's time). The
            # copies' references are moved by construction (tests/bench checks them), so the checks are
            # skipped for this transaction, as pg_restore does; that needs a superuser.
            cursor.execute("SET LOCAL session_replication_role = replica")
        for params in every:
            for model, where in tables:
                counts[model._meta.model_name] += _copy_rows(cursor, model, where, params, copied)
            say(f"copy {params['k']}: {time.perf_counter() - started:.1f} s")
    return counts


def _copy_rows(
    cursor: object, model: type[models.Model], where: str, params: dict, copied: set[type[models.Model]]
) -> int:
    """One ``INSERT ... SELECT`` of the source clinic's rows of ``model`` as one copy (``params``)."""
    quote = connection.ops.quote_name
    history = getattr(model, "instance_type", None)  # django-simple-history's model of the tracked one
    columns, values = [], []
    for field in model._meta.concrete_fields:
        col = f"t.{quote(field.column)}"
        if history is not None and field.primary_key:
            continue  # history_id: the table's own identity
        target = field.related_model if field.is_relation else None
        if (field.primary_key and target is None) or (history is not None and field.column == "id"):
            target = history or model
        if target is User:
            expr = f"{col} + %(users)s"
        elif target is Clinic:
            expr = "%(clinic)s"
        elif target in copied:
            expr = f"{col} + %({target._meta.model_name})s"
        elif isinstance(field, models.UUIDField):
            # Derived from the old UUID and the copy's clinic: an object and its history rows agree.
            expr = f"md5({col}::text || %(clinic)s::text)::uuid"
        elif field.column == "mrn":
            expr = f"'S' || %(clinic)s::text || substr({col}, strpos({col}, '-'))"
        elif field.column in ("email", "recipient"):
            expr = f"replace({col}, %(old_at)s, %(new_at)s)"
        elif field.column in ("first_name", "last_name"):
            names, div = (FIRST, 1) if field.column == "first_name" else (LAST, len(FIRST))
            # Drawn again from the patient's new id, so that its history rows carry the same name.
            choices = "ARRAY[" + ", ".join(f"'{n}'" for n in names) + "]"
            expr = f"({choices})[1 + ((t.id + %(patient)s) / {div} %% {len(names)})]"
        elif field.column == "key" and model._meta.model_name == "reminder":
            expr = f"'s' || (t.surgery_id + %(surgery)s)::text || substr({col}, strpos({col}, ':'))"
        elif field.column == "provider_id":
            expr = f"CASE WHEN {col} = '' THEN '' ELSE {col} || '-c' || %(clinic)s::text END"
        elif field.column == "covers":
            expr = (
                f"(SELECT COALESCE(jsonb_agg((e.value::bigint + %(checklistitem)s) ORDER BY e.n), '[]'::jsonb) "  # noqa: S608  # nosec B608
                f"FROM jsonb_array_elements_text({col}) WITH ORDINALITY AS e(value, n))"
            )
        else:
            expr = col
        columns.append(quote(field.column))
        values.append(expr)
    table = quote(model._meta.db_table)
    # Table and column names come from the models, quoted; every value is a parameter.
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {table} t WHERE {where}",  # noqa: S608  # nosec B608
        params,
    )
    return cursor.rowcount


def _seed_clinics(
    count: int, nurses: int, surgeons: int, rng: random.Random, report: SeedReport, time_zone: str | None = None
) -> tuple[list[Clinic], dict[int, dict]]:
    existing = Clinic.objects.filter(slug__startswith="scale-").count()
    password = make_password(BENCH_PASSWORD)  # hashed once: every bench login shares it
    clinic_rows = []
    for n in range(existing + 1, existing + count + 1):
        clinic_rows.append(
            Clinic(
                name=f"Scale Spine Centre {n}",
                slug=f"scale-{n}",
                phone="+13105550100",
                time_zone=time_zone or TIME_ZONES[(n - 1) % len(TIME_ZONES)],
            )
        )
    Clinic.objects.bulk_create(clinic_rows)
    clinic_rows = list(Clinic.objects.filter(slug__in=[c.slug for c in clinic_rows]).order_by("pk"))
    users = []
    for clinic in clinic_rows:
        users.append(User(email=f"admin@{clinic.slug}.bench.test", role=Role.CLINIC_ADMIN, clinic=clinic))
        for i in range(1, surgeons + 1):
            users.append(
                User(
                    email=f"surgeon{i}@{clinic.slug}.bench.test",
                    role=Role.SURGEON,
                    clinic=clinic,
                    first_name=rng.choice(FIRST),
                    last_name=rng.choice(LAST),
                )
            )
        for i in range(1, nurses + 1):
            users.append(
                User(
                    email=f"nurse{i}@{clinic.slug}.bench.test",
                    role=Role.NURSE,
                    clinic=clinic,
                    first_name=rng.choice(FIRST),
                    last_name=rng.choice(LAST),
                )
            )
    for user in users:
        user.username = user.email
        user.password = password
    User.objects.bulk_create(users)
    staff: dict[int, dict] = {}
    for user in User.objects.filter(clinic__in=clinic_rows):
        roles = staff.setdefault(user.clinic_id, {"nurse": [], "surgeon": [], "clinic_admin": []})
        roles[user.role].append(user)
    report.clinics += len(clinic_rows)
    report.staff += len(users)
    report.clinic_slugs += [c.slug for c in clinic_rows]
    return clinic_rows, staff


def _seed_patients(
    clinics: Sequence[Clinic],
    count: int,
    now: dt.datetime,
    rng: random.Random,
    drugs_by_slug: dict[str, Drug],
    report: SeedReport,
) -> tuple[list[Patient], dict[int, tuple[int, list[Medication]]]]:
    today = now.date()
    rows = []
    for i in range(count):
        clinic = clinics[i % len(clinics)]
        flags = rng.choice(FLAG_PROFILES)
        sms = rng.random() < 0.4
        age_days = rng.randint(25 * 365, 90 * 365)
        rows.append(
            Patient(
                clinic=clinic,
                mrn=f"S{clinic.pk}-{i:07d}",
                first_name=rng.choice(FIRST),
                last_name=rng.choice(LAST),
                birth_date=today - dt.timedelta(days=age_days),
                sex=rng.choice(("female", "male")),
                language="es" if rng.random() < 0.2 else "en",
                email=f"patient{i}@{clinic.slug}.example.test" if rng.random() < 0.9 else "",
                mobile=f"+1310555{i % 10000:04d}" if sms else "",
                channel_email=True,
                channel_sms=sms,
                sms_consent=sms,
                sms_consent_at=now if sms else None,
                sms_opted_out_at=now if sms and rng.random() < 0.03 else None,
                **dict.fromkeys(flags, True),
            )
        )
    _fast_insert(Patient, rows, now=now)
    _fast_insert(
        Patient.history.model, _history_dicts(Patient, rows, date=now, reason="seeded"), now=now, assign_pk=False
    )
    report.history_rows += len(rows)
    profiles: dict[int, int] = {}
    meds = []
    for patient in rows:
        profile = rng.randrange(len(MEDICATION_PROFILES))
        profiles[patient.pk] = profile
        for name, indication, slug in MEDICATION_PROFILES[profile]:
            drug = drugs_by_slug.get(slug) if slug else None
            meds.append(
                Medication(
                    patient=patient,
                    name=name,
                    indication=indication,
                    drug=drug,
                    is_blood_thinner=drug is not None and drug.is_bleeding_rule,
                )
            )
    _fast_insert(Medication, meds, now=now)
    by_patient: dict[int, list[Medication]] = {}
    for med in meds:
        by_patient.setdefault(med.patient_id, []).append(med)
    report.patients += len(rows)
    return rows, {pk: (profile, by_patient.get(pk, [])) for pk, profile in profiles.items()}


def _seed_surgeries(
    patients: Sequence[Patient],
    procedures: Sequence[ProcedureVariant],
    staff: dict[int, dict],
    days: int,
    now: dt.datetime,
    rng: random.Random,
    report: SeedReport,
) -> list[Surgery]:
    weights = [5 if p.slug.startswith("lumbar") else 2 for p in procedures]
    rows = []
    for patient in patients:
        clinic = patient.clinic
        tz = clinic.tz
        day = now.astimezone(tz).date() + dt.timedelta(days=rng.randint(-days, days - 1))
        start = planning.local_to_utc(dt.datetime.combine(day, rng.choice(SLOTS)), tz)
        procedure = rng.choices(procedures, weights)[0]
        roll = rng.random()
        if start <= now:
            status = SurgeryStatus.CANCELLED if roll < 0.07 else SurgeryStatus.DONE
        else:
            status = (
                SurgeryStatus.CANCELLED
                if roll < 0.04
                else SurgeryStatus.POSTPONED
                if roll < 0.06
                else SurgeryStatus.BOOKED
            )
        go = start - now < dt.timedelta(hours=30) and status != SurgeryStatus.CANCELLED and rng.random() < 0.5
        rows.append(
            Surgery(
                patient=patient,
                clinic=clinic,
                procedure=procedure,
                level=rng.choice(("L3-L4", "L4-L5", "L5-S1", "C5-C6", "V2", "")),
                side=rng.choice(("left", "right", "bilateral", "")),
                start_at=start,
                place="Day surgery unit",
                anaesthesia=procedure.default_anaesthesia if rng.random() < 0.85 else "general",
                surgeon=rng.choice(staff[clinic.pk]["surgeon"]),
                status=status,
                version=2 if status == SurgeryStatus.CANCELLED or roll > 0.95 else 1,
                go_decision="go" if go else "",
                go_decided_at=now if go else None,
            )
        )
    _fast_insert(Surgery, rows, now=now)
    _fast_insert(
        Surgery.history.model, _history_dicts(Surgery, rows, date=now, reason="booked"), now=now, assign_pk=False
    )
    report.history_rows += len(rows)
    report.surgeries += len(rows)
    return rows


def _seed_checklists(
    surgeries: Sequence[Surgery],
    meds_by_patient: dict[int, tuple[int, list[Medication]]],
    template_items: dict[int, list[TemplateItem]],
    drugs: Sequence[Drug],
    staff: dict[int, dict],
    now: dt.datetime,
    rng: random.Random,
    report: SeedReport,
) -> dict[int, list[ChecklistItem]]:
    checklists = [
        Checklist(
            surgery=s,
            template_id=s.procedure.template_id,
            catalogue_version=s.procedure.template.version,
            status=ChecklistStatus.CLOSED if s.status == SurgeryStatus.CANCELLED else ChecklistStatus.ACTIVE,
            closed_reason="Surgery cancelled: seeded" if s.status == SurgeryStatus.CANCELLED else "",
        )
        for s in surgeries
    ]
    _fast_insert(Checklist, checklists, now=now)
    report.checklists += len(checklists)

    shapes: dict[tuple, _PlanShape] = {}
    items: list[ChecklistItem] = []
    items_by_surgery: dict[int, list[ChecklistItem]] = {}
    for surgery, checklist in zip(surgeries, checklists, strict=True):
        patient = surgery.patient
        clinic = patient.clinic
        tz = clinic.tz
        profile, meds = meds_by_patient[patient.pk]
        age_now = patient.age_on(surgery.start_at.astimezone(tz).date())
        senior = age_now >= clinic.cardiac_age_threshold
        # Age matters at the clinic threshold and at the pregnancy question's 60: a band per rule.
        age_key = "senior" if senior else ("adult" if age_now <= 60 else age_now)
        key = (
            surgery.procedure_id,
            surgery.anaesthesia,
            profile,
            patient.flags,
            age_key,
            patient.sex,
            clinic.time_zone,
        )
        shape = shapes.get(key)
        if shape is None:
            # The reference booking: 60 days ahead at 08:00 local, a patient of the right age band.
            ref_start = planning.local_to_utc(
                dt.datetime.combine(now.astimezone(tz).date() + dt.timedelta(days=60), dt.time(8, 0)), tz
            )
            age = 75 if senior else (45 if age_now <= 60 else age_now)
            facts = planning.BookingFacts(
                start_at=ref_start,
                tz=tz,
                birth_date=ref_start.date() - dt.timedelta(days=age * 365 + 30),
                procedure_name=surgery.procedure.name,
                risk=surgery.procedure.risk,
                region=surgery.procedure.region,
                anaesthesia=surgery.anaesthesia,
                flags=patient.flags,
                clinic_age_threshold=clinic.cardiac_age_threshold,
                cardiac_risk=surgery.procedure.cardiac_risk,
                sex=patient.sex,
                age_bands=surgery.procedure.template.age_bands,
                medications=[
                    planning.MedicationFacts(
                        name=m.name,
                        indication=m.indication,
                        drug=m.drug,
                        is_blood_thinner=m.is_blood_thinner,
                        medication_id=index,
                    )
                    for index, m in enumerate(meds)
                ],
            )
            shape = _PlanShape(
                ref_start, planning.plan_items(facts, template_items[surgery.procedure.template_id], drugs)
            )
            shapes[key] = shape
        nurses = staff[clinic.pk]["nurse"]
        own: list[ChecklistItem] = []
        approved: set[str] = set()
        for planned in shape.items:
            at_local = planned.template_item.at_local_time is not None
            due = _move(planned.due_at, shape.ref_start, surgery.start_at, tz, at_local)
            item = ChecklistItem(
                checklist=checklist,
                template_item=planned.template_item,
                drug=planned.drug,
                drug_name=planned.drug_name,
                medication_id=meds[planned.medication_id].pk if planned.medication_id is not None else None,
                code=planned.code,
                category=planned.category,
                assignee=planned.assignee,
                required=planned.required,
                title=planned.title,
                due_at=due,
                last_dose_at=_move(planned.last_dose_at, shape.ref_start, surgery.start_at, tz, False),
                restart_at=_move(planned.restart_at, shape.ref_start, surgery.start_at, tz, False),
                locked=planned.locked,
                reason=planned.reason,
                source=planned.source,
                sort_order=planned.sort_order,
            )
            state = _choose_state(item, surgery, now, rng)
            if item.locked and item.code.removeprefix("hold:") not in approved:
                state = ItemStatus.OPEN  # a hold stays locked until its approval is done
            _apply_state(item, state, surgery, now, rng, nurses, tz)
            if item.code.startswith(planning.APPROVAL_PREFIX) and item.status == ItemStatus.DONE:
                approved.add(item.code.removeprefix(planning.APPROVAL_PREFIX))
            if item.locked and item.code.removeprefix("hold:") in approved:
                item.locked = False
            own.append(item)
        items.extend(own)
        items_by_surgery[surgery.pk] = own
    report.plans_computed += len(shapes)

    _fast_insert(ChecklistItem, items, now=now)
    report.items += len(items)
    report.item_states.update(i.status for i in items)
    report.history_rows += _seed_item_history(items, surgeries, now)
    # Each checklist's readiness summary, as the services write it with the items (lists sort on it).
    ChecklistSummary.objects.bulk_create(
        ChecklistSummary(
            checklist_id=checklist.pk,
            **readiness_compute(
                surgery=surgery, items=items_by_surgery[surgery.pk], clinic=surgery.patient.clinic, now=now
            ).summary_values(),
        )
        for surgery, checklist in zip(surgeries, checklists, strict=True)
    )
    return items_by_surgery


def _apply_state(
    item: ChecklistItem,
    state: str,
    surgery: Surgery,
    now: dt.datetime,
    rng: random.Random,
    nurses: Sequence[User],
    tz: zoneinfo.ZoneInfo,
) -> None:
    if state == ItemStatus.OPEN:
        return
    when = min(item.due_at, now) - dt.timedelta(hours=rng.randint(1, 96))
    nurse = rng.choice(nurses)
    item.status = state
    item.version = 2
    item.updated_by = nurse
    if state in (ItemStatus.DONE, ItemStatus.ACCEPTED):
        item.completed_at, item.completed_by = when, nurse
        item.result_value = _result_for(item.template_item, rng, when.astimezone(tz).date())
        item.result_at = when
        item.change_reason = "done" if state == ItemStatus.DONE else "accepted"
    if state in (ItemStatus.PATIENT_CONFIRMED, ItemStatus.ACCEPTED):
        item.confirmed_at = when - dt.timedelta(hours=2)
        item.evidence = {"confirmed": True, "at": item.confirmed_at.isoformat(), "channel": "portal"}
        if state == ItemStatus.PATIENT_CONFIRMED:
            item.updated_by = None
            item.change_reason = "confirmed by the patient"
    if state == ItemStatus.NOT_APPLICABLE:
        item.na_reason = rng.choice(("Done at the referring hospital", "Recent result on file", "Surgeon waived"))
        item.change_reason = item.na_reason
    item._seed_when = when


def _seed_item_history(items: Sequence[ChecklistItem], surgeries: Sequence[Surgery], now: dt.datetime) -> int:
    """One "+" row per item as generated (open, version 1) and one "~" row per item that changed since."""
    history_model = ChecklistItem.history.model
    tracked = [f.attname for f in history_model.tracked_fields]
    booked_at = {s.pk: min(now, s.start_at - dt.timedelta(days=30)) for s in surgeries}
    checklist_surgery = {}
    rows = []
    initial = {
        "status": ItemStatus.OPEN,
        "version": 1,
        "result_value": "",
        "result_at": None,
        "completed_at": None,
        "completed_by_id": None,
        "na_reason": "",
        "evidence": {},
        "confirmed_at": None,
        "change_reason": "",
        "updated_by_id": None,
    }
    for item in items:
        surgery_id = checklist_surgery.get(item.checklist_id)
        if surgery_id is None:
            surgery_id = checklist_surgery[item.checklist_id] = item.checklist.surgery_id
        # Booked before anything was done: an item due weeks ahead (the SDR team's assessment, 42
        # days before) can have been done before the usual 30 days.
        when = getattr(item, "_seed_when", None)
        if when is not None:
            booked_at[surgery_id] = min(booked_at[surgery_id], when - dt.timedelta(hours=1))
    for item in items:
        surgery_id = checklist_surgery[item.checklist_id]
        values = {name: getattr(item, name) for name in tracked}
        created = {**values, **initial}
        if item.locked is False and item.code.startswith(planning.HOLD_PREFIX):
            created["locked"] = True
        rows.append(
            {
                "history_date": booked_at[surgery_id],
                "history_type": "+",
                "history_change_reason": "generated",
                "history_user_id": None,
                **created,
            }
        )
        if item.status != ItemStatus.OPEN:
            rows.append(
                {
                    "history_date": getattr(item, "_seed_when", now),
                    "history_type": "~",
                    "history_change_reason": (item.change_reason or item.status)[:100],
                    "history_user_id": item.updated_by_id,
                    **values,
                }
            )
    _fast_insert(history_model, rows, now=now, assign_pk=False)
    return len(rows)


def _seed_reminders(
    surgeries: Sequence[Surgery],
    items_by_surgery: dict[int, list[ChecklistItem]],
    now: dt.datetime,
    rng: random.Random,
    report: SeedReport,
) -> None:
    """Reminders as the planner would have written them at booking time, then aged to now."""
    from reminders.models import Channel, Reminder, Status
    from reminders.planner import reminders_wanted

    rows = []
    for surgery in surgeries:
        booked = min(surgery.start_at - dt.timedelta(days=30), now)
        # Plan against the items as they were at booking: open (the states came later).
        items = items_by_surgery[surgery.pk]
        saved = [(i.status, i.locked) for i in items]
        for i in items:
            i.status = ItemStatus.OPEN
            if i.code.startswith(planning.HOLD_PREFIX):
                i.locked = False
        wanted = reminders_wanted(surgery=surgery, items=items, now=booked)
        for i, (status, locked) in zip(items, saved, strict=True):
            i.status, i.locked = status, locked
        patient = surgery.patient
        for plan in wanted:
            row = Reminder(
                clinic_id=patient.clinic_id,
                patient_id=patient.pk,
                surgery_id=surgery.pk,
                surgery_version=surgery.version,
                item_id=plan.items[0].pk,
                covers=plan.covers,
                kind=plan.kind,
                channel=plan.channel,
                key=plan.key,
                planned_at=plan.planned_at,
                due_at=plan.due_at,
                not_after=plan.not_after,
                next_attempt_at=plan.due_at,
            )
            _age_reminder(row, surgery, plan.items, patient, now, rng, Status, Channel)
            rows.append(row)
    _fast_insert(Reminder, rows, now=now)
    report.reminders += len(rows)
    report.reminder_states.update(r.status for r in rows)


def _age_reminder(
    row: object,
    surgery: Surgery,
    items: Sequence[ChecklistItem],
    patient: Patient,
    now: dt.datetime,
    rng: random.Random,
    Status: type,
    Channel: type,
) -> None:
    if surgery.status == SurgeryStatus.CANCELLED:
        row.status, row.status_reason = Status.CANCELLED, "Surgery moved or cancelled"
        return
    if row.due_at > now:
        closed = all(i.is_closed for i in items)
        if closed:
            row.status, row.status_reason = Status.CANCELLED, "No longer needed (item done, changed or on hold)"
        else:
            row.status = Status.PENDING
        return
    roll = rng.random()
    recipient = patient.mobile if row.channel == Channel.SMS else patient.email
    if roll < 0.03:
        row.status, row.last_error, row.attempts = Status.FAILED, "SMTP 550 error", 1
        row.status_reason = "Permanent error: not retried"
    elif roll < 0.06:
        row.status, row.status_reason = Status.EXPIRED, "Past its deadline"
    elif roll < 0.08:
        row.status, row.status_reason = Status.SUPPRESSED, "Patient opted out of texts or has no consent"
    elif roll < 0.10 and row.due_at > now - dt.timedelta(hours=6):
        # A handful stuck in flight, as after a worker crash: the lease reconciles them.
        row.status, row.attempts = Status.SENDING, 1
        row.claimed_until = now + dt.timedelta(minutes=5)
    else:
        delivered = row.channel == Channel.SMS and roll < 0.8
        row.status = Status.DELIVERED if delivered else Status.SENT
        row.attempts = 1
        row.sent_at = row.due_at + dt.timedelta(seconds=rng.randint(1, 40))
        row.delivered_at = row.sent_at + dt.timedelta(seconds=5) if delivered else None
        row.provider_id = f"seed-{rng.getrandbits(64):016x}"
        row.recipient = recipient
