"""The use cases: one transaction each, side effects on the outbox only through explicit planner calls."""

from __future__ import annotations

import pytest
import time_machine
from django.core.exceptions import ValidationError

from actions.booking import booking_create
from actions.items import item_patient_confirm
from actions.patients import MedicationValues
from actions.preview import booking_dry_run
from patients.models import Patient
from prep import services as prep_services
from prep.models import ChecklistItem, ProcedureVariant
from reminders.models import Kind, Reminder, Status
from reminders.planner import checklist_changed
from tests.factories import aware

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen():
    with time_machine.travel(aware("2026-02-02T10:00"), tick=False) as traveller:
        yield traveller


def _arrival_reminders(surgery) -> set[int]:
    return set(
        Reminder.objects.filter(surgery=surgery, kind=Kind.ARRIVAL, status=Status.PENDING).values_list("pk", flat=True)
    )


def test_a_service_alone_leaves_the_outbox_alone_and_the_action_replans(book, frozen):
    # No hook runs behind a service's back: the reminder plan changes only where an action says so.
    first = book(start_at=aware("2026-02-20T09:00"), anaesthesia="local")
    arrival = ChecklistItem.objects.get(checklist__surgery=first, code="arrival")
    assert _arrival_reminders(first)
    prep_services.item_patient_confirm(item=arrival, evidence={"confirmed": "yes"})
    assert _arrival_reminders(first), "the service does not touch the outbox"
    checklist_changed(checklist=first.checklist)
    assert not _arrival_reminders(first)

    second = book(start_at=aware("2026-02-20T09:00"), anaesthesia="local")
    arrival = ChecklistItem.objects.get(checklist__surgery=second, code="arrival")
    assert _arrival_reminders(second)
    item_patient_confirm(item=arrival, evidence={"confirmed": "yes"})
    assert not _arrival_reminders(second), "the action re-plans in its own transaction"


def _patient_values(mrn: str) -> dict:
    birth_date = aware("1950-01-01T12:00").date()
    return {"mrn": mrn, "first_name": "Ana", "last_name": "Ruiz", "birth_date": birth_date, "email": "ana@example.org"}


def _warfarin() -> MedicationValues:
    return MedicationValues(name="warfarin", indication="", drug=None, dose="5 mg", is_blood_thinner=True)


def test_booking_records_the_medications_before_the_checklist_is_planned(catalogue, clinic, nurse, frozen):
    surgery = booking_create(
        clinic=clinic,
        by=nurse,
        patient_values=_patient_values("B1"),
        medications=[_warfarin()],
        surgery_values={
            "procedure": ProcedureVariant.objects.get(slug="lumbar-facet-rf"),
            "start_at": aware("2026-02-20T09:00"),
        },
    )
    codes = set(surgery.checklist.items.values_list("code", flat=True))
    assert any(code.startswith("hold") and "warfarin" in code for code in codes)
    assert surgery.patient.medications.get().dose == "5 mg"
    assert Reminder.objects.filter(surgery=surgery, status=Status.PENDING).exists()


def test_booking_is_all_or_nothing(catalogue, clinic, nurse, frozen):
    with pytest.raises(ValidationError) as info:
        booking_create(
            clinic=clinic,
            by=nurse,
            patient_values=_patient_values("B2"),
            medications=[_warfarin()],
            surgery_values={
                "procedure": ProcedureVariant.objects.get(slug="lumbar-facet-rf"),
                "start_at": aware("2026-01-20T09:00"),  # in the past
            },
        )
    assert "start_at" in info.value.message_dict
    assert not Patient.objects.filter(mrn="B2").exists()


def test_the_preview_runs_the_booking_and_keeps_nothing(catalogue, clinic, nurse, frozen):
    surgery, items, error = booking_dry_run(
        action=lambda: booking_create(
            clinic=clinic,
            by=nurse,
            patient_values=_patient_values("B3"),
            medications=[_warfarin()],
            surgery_values={
                "procedure": ProcedureVariant.objects.get(slug="lumbar-facet-rf"),
                "start_at": aware("2026-02-20T09:00"),
            },
        )
    )
    assert error is None and surgery is not None
    assert any(item.code.startswith("hold") for item in items)
    assert not Patient.objects.filter(mrn="B3").exists()
    assert not Reminder.objects.exists()
