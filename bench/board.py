"""Board and patient-page speed on a big clinic: 10,000 patients, 2,000 surgeries in the next 14 days.

Runs against the database engine of DATABASE_URL (SQLite by default) in a throwaway database of its
own (created and destroyed here, never var/db.sqlite3), and reports the median server time of the
board's first page and of a patient page, measured in-process with Django's test Client.

    .venv/bin/python -m bench.board            # SQLite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/preop .venv/bin/python -m bench.board
"""

from __future__ import annotations

import datetime as dt
import os
import random
import statistics
import sys
import time

PATIENTS = int(os.environ.get("BENCH_PATIENTS", 10_000))
SURGERIES = int(os.environ.get("BENCH_SURGERIES", 2_000))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 30))


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django
    from django.conf import settings

    django.setup()
    from django.db import connections

    db = connections["default"].settings_dict
    # A database of its own, so that a test run or `make run` data is never touched.
    if db["ENGINE"].endswith("sqlite3"):
        db["TEST"]["NAME"] = str(settings.VAR_DIR / "bench.sqlite3")
    else:
        db["TEST"]["NAME"] = f"bench_{db['NAME']}"


def seed(rng: random.Random) -> dict:
    from django.utils import timezone

    from accounts.models import Role, User
    from patients.models import Clinic, Medication, Patient, Surgery
    from prep import planning
    from prep.loader import catalogue_load
    from prep.models import Checklist, ChecklistItem, Drug, ItemStatus, ProcedureVariant, TemplateItem
    from prep.services import readiness_refresh_due
    from workspace.models import NoteKind, PatientNote

    catalogue_load()
    clinic = Clinic.objects.create(name="Bench Spine Center", slug="bench", time_zone="America/Los_Angeles")
    nurse = User.objects.create_user(email="nurse@bench.test", password=None, clinic=clinic)
    surgeons = [
        User.objects.create_user(
            email=f"surgeon{i}@bench.test",
            password=None,
            clinic=clinic,
            role=Role.SURGEON,
            first_name="Surgeon",
            last_name=str(i),
        )
        for i in range(6)
    ]
    now = timezone.now()
    patients = [
        Patient(
            clinic=clinic,
            mrn=f"B{i:06d}",
            first_name=f"First{i}",
            last_name=f"Last{i % 997}",
            birth_date=dt.date(1935 + i % 60, 1 + i % 12, 1 + i % 28),
            email=f"p{i}@example.org",
            claustrophobic=i % 17 == 0,
            cardiac_history=i % 23 == 0,
        )
        for i in range(PATIENTS)
    ]
    Patient.objects.bulk_create(patients, batch_size=2000)
    patients = list(Patient.objects.filter(clinic=clinic).order_by("pk"))
    drugs = list(Drug.objects.all())
    by_slug = {d.slug: d for d in drugs}
    booked = rng.sample(patients, SURGERIES)
    meds = []
    for patient in booked[::5]:
        drug = by_slug[rng.choice(["clopidogrel", "warfarin", "apixaban", "aspirin-secondary", "ibuprofen"])]
        meds.append(
            Medication(patient=patient, drug=drug, name=drug.name, indication=drug.indication, is_blood_thinner=True)
        )
    Medication.objects.bulk_create(meds, batch_size=2000)
    meds_by_patient = {m.patient_id: [m] for m in meds}
    procedures = list(ProcedureVariant.objects.select_related("template"))
    template_items = {}
    for ti in TemplateItem.objects.order_by("template_id", "sort_order"):
        template_items.setdefault(ti.template_id, []).append(ti)
    surgeries = []
    for patient in booked:
        procedure = rng.choice(procedures)
        start = now + dt.timedelta(minutes=rng.randrange(60, 14 * 24 * 60, 30))
        surgeries.append(
            Surgery(
                patient=patient,
                clinic=clinic,
                procedure=procedure,
                start_at=start,
                anaesthesia=procedure.default_anaesthesia,
                surgeon=rng.choice(surgeons),
            )
        )
    Surgery.objects.bulk_create(surgeries, batch_size=2000)
    surgeries = list(Surgery.objects.filter(clinic=clinic).select_related("patient", "procedure__template"))
    Checklist.objects.bulk_create(
        [Checklist(surgery=s, template_id=s.procedure.template_id, catalogue_version="bench") for s in surgeries],
        batch_size=2000,
    )
    checklists = dict(Checklist.objects.filter(surgery__patient__clinic=clinic).values_list("surgery_id", "id"))
    items = []
    for surgery in surgeries:
        patient = surgery.patient
        facts = planning.BookingFacts(
            start_at=surgery.start_at,
            tz=clinic.tz,
            birth_date=patient.birth_date,
            procedure_name=surgery.procedure.name,
            risk=surgery.procedure.risk,
            region=surgery.procedure.region,
            anaesthesia=surgery.anaesthesia,
            flags=patient.flags,
            clinic_age_threshold=clinic.cardiac_age_threshold,
            age_bands=surgery.procedure.template.age_bands,
            medications=[
                planning.MedicationFacts(
                    name=m.name, indication=m.indication, drug=m.drug, is_blood_thinner=True, medication_id=m.pk
                )
                for m in meds_by_patient.get(patient.pk, [])
            ],
        )
        for p in planning.plan_items(facts, template_items[surgery.procedure.template_id], drugs):
            done = p.due_at < now and rng.random() < 0.6
            items.append(
                ChecklistItem(
                    checklist_id=checklists[surgery.pk],
                    template_item=p.template_item,
                    drug=p.drug,
                    drug_name=p.drug_name,
                    medication_id=p.medication_id,
                    code=p.code,
                    category=p.category,
                    assignee=p.assignee,
                    required=p.required,
                    title=p.title,
                    due_at=p.due_at,
                    last_dose_at=p.last_dose_at,
                    restart_at=p.restart_at,
                    locked=p.locked,
                    reason=p.reason,
                    source=p.source,
                    sort_order=p.sort_order,
                    status=ItemStatus.DONE if done else ItemStatus.OPEN,
                    result_value="13" if done and p.code == "hemoglobin" else "",
                    completed_at=now if done else None,
                    completed_by=nurse if done else None,
                )
            )
    ChecklistItem.objects.bulk_create(items, batch_size=5000)
    # Written behind the services' back: their readiness summaries are filled the way a list would.
    readiness_refresh_due(surgeries=Surgery.objects.filter(clinic=clinic), now=now)
    notes = [
        PatientNote(
            patient=s.patient,
            surgery=s,
            kind=NoteKind.CALL,
            outcome="reached",
            text="Called",
            by=nurse,
            at=now - dt.timedelta(hours=rng.randrange(1, 200)),
        )
        for s in surgeries
        if rng.random() < 0.4
    ]
    PatientNote.objects.bulk_create(notes, batch_size=5000)
    return {"nurse": nurse, "surgeries": surgeries, "items": len(items)}


def _median_ms(client, urls: list[str]) -> tuple[float, float]:
    timings = []
    for url in urls:
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(timings), max(timings)


def main() -> None:
    _setup_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases, teardown_test_environment

    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False)
    try:
        started = time.perf_counter()
        data = seed(random.Random(4))
        seeded = time.perf_counter() - started
        client = Client()
        client.force_login(data["nurse"])
        for _ in range(3):
            client.get("/")  # warm caches and the session
        board_median, board_max = _median_ms(client, ["/"] * REQUESTS)
        sample = random.Random(5).sample(data["surgeries"], REQUESTS)
        client.get(f"/surgeries/{sample[0].uuid}/")
        page_median, page_max = _median_ms(client, [f"/surgeries/{s.uuid}/" for s in sample])
        vendor = connection.vendor
        print(
            f"bench.board on {vendor}: {PATIENTS} patients, {SURGERIES} surgeries, {data['items']} checklist items "
            f"(seeded in {seeded:.1f} s)"
        )
        print(f"  board, first page : median {board_median:6.1f} ms  (max {board_max:.1f} ms, {REQUESTS} requests)")
        print(f"  patient page      : median {page_median:6.1f} ms  (max {page_max:.1f} ms, {REQUESTS} requests)")
        sys.stdout.flush()
    finally:
        teardown_databases(old, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()
