"""Migration patients 0003-0004: surgeries booked before the ``clinic`` column get their patient's."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("patients", "0002_initial"), ("prep", "0001_initial")]
AFTER = [("patients", "0004_surgery_clinic_required")]


def test_existing_surgeries_get_their_patients_clinic():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        Clinic, Patient = old.get_model("patients", "Clinic"), old.get_model("patients", "Patient")
        Surgery, Procedure = old.get_model("patients", "Surgery"), old.get_model("prep", "ProcedureVariant")
        template = old.get_model("prep", "ChecklistTemplate").objects.create(slug="t", name="T", version="1")
        procedure = Procedure.objects.create(
            slug="m", name="M", default_anaesthesia="local", template=template, risk="low", region="lumbar"
        )
        ids = {}
        for n in range(2):
            clinic = Clinic.objects.create(name=f"Clinic {n}", slug=f"c{n}", time_zone="America/Los_Angeles")
            patient = Patient.objects.create(
                clinic=clinic, mrn=f"M{n}", first_name="A", last_name="B", birth_date=dt.date(1960, 1, 1)
            )
            surgery = Surgery.objects.create(
                patient=patient,
                procedure=procedure,
                anaesthesia="local",
                start_at=dt.datetime(2026, 12, 1, 17, tzinfo=dt.UTC),
            )
            ids[surgery.pk] = clinic.pk
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps
        migrated = dict(new.get_model("patients", "Surgery").objects.values_list("pk", "clinic_id"))
        assert migrated == ids
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
