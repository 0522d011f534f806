"""Generation through the services, item states with history, and keeping checklists right when plans change."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from actions.booking import surgery_cancel, surgery_update
from actions.decisions import hold_decide
from actions.items import item_accept, item_complete, item_mark_not_applicable, item_patient_confirm, item_undo
from actions.patients import medication_add, medication_stop, patient_create
from patients.models import Patient, Surgery, SurgeryStatus
from prep.models import Checklist, ChecklistItem, ChecklistStatus, ItemStatus, ProcedureVariant
from prep.selectors import Readiness, readiness_compute
from prep.services import ItemConflict
from tests.factories import PatientFactory

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 2, 10, 9, 0, tzinfo=LA)
pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False):
        yield


def at(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=LA)


def item(surgery: Surgery, code: str) -> ChecklistItem:
    return ChecklistItem.objects.get(checklist__surgery=surgery, code=code)


def local(value: dt.datetime) -> str:
    return value.astimezone(LA).isoformat(timespec="minutes")


def test_booking_generates_the_checklist_with_its_catalogue_version(book) -> None:
    surgery = book("trigeminal-rf", at("2026-03-09T08:00"), medications=["clopidogrel"])
    checklist = surgery.checklist
    assert checklist.catalogue_version == "2026.12.4"
    codes = set(checklist.items.values_list("code", flat=True))
    assert {"blood_group", "hemoglobin", "ecg", "chest_xray", "urinalysis", "consent", "arrival"} <= codes
    assert {"hold_approval:clopidogrel", "hold:clopidogrel"} <= codes
    assert all(i.source and i.reason for i in checklist.items.all())
    assert item(surgery, "hold:clopidogrel").locked
    assert item(surgery, "hemoglobin").history.count() == 1


def test_generation_runs_in_a_number_of_queries_that_does_not_grow_with_items(catalogue, clinic, nurse) -> None:
    from prep.services import checklist_generate
    from reminders.planner import checklist_changed

    def generate(n_meds: int) -> tuple[int, int]:
        patient = patient_create(
            clinic=clinic,
            by=nurse,
            mrn=f"Q{n_meds}",
            first_name="Q",
            last_name="Q",
            birth_date=dt.date(1950, 1, 1),
            claustrophobic=bool(n_meds),
        )
        names = ["warfarin", "clopidogrel", "apixaban", "aspirin:primary", "naproxen", "Mystery thinner"]
        for name in names[:n_meds]:
            drug, _, indication = name.partition(":")
            medication_add(patient=patient, by=nurse, name=drug, indication=indication, is_blood_thinner=True)
        surgery = Surgery.objects.create(
            patient=patient,
            procedure=ProcedureVariant.objects.get(slug="trigeminal-rf"),
            start_at=at("2026-03-09T08:00"),
            anaesthesia="general",
        )
        with CaptureQueriesContext(connection) as ctx:
            # What booking does (actions.booking.surgery_book): generate, then plan the reminders.
            checklist_changed(checklist=checklist_generate(surgery=surgery, by=nurse))
        return len(ctx.captured_queries), Checklist.objects.get(surgery=surgery).items.count()

    few_queries, few_items = generate(0)
    many_queries, many_items = generate(6)
    assert many_items >= few_items + 12  # 6 approvals, 5 holds, the INR, the MRI tips
    # Includes the reminder planner run in the same transaction. SQLite caps a statement at 999
    # parameters, so its bulk inserts of items and their history rows come in batches of about 30.
    extra_batches = 2 if connection.vendor == "sqlite" else 0
    assert few_queries <= many_queries <= few_queries + extra_batches
    assert many_queries <= 22


def test_booking_in_the_past_is_refused_and_nothing_is_saved(book, clinic, nurse) -> None:
    with pytest.raises(ValidationError) as info:
        book("lumbar-facet-rf", at("2026-02-01T08:00"))
    assert "start_at" in info.value.message_dict
    assert not Surgery.objects.exists() and not Checklist.objects.exists()


def test_birth_date_in_the_future_is_refused(clinic, nurse) -> None:
    with pytest.raises(ValidationError) as info:
        patient_create(clinic=clinic, by=nurse, mrn="X1", first_name="A", last_name="B", birth_date=dt.date(2027, 1, 1))
    assert "birth_date" in info.value.message_dict
    assert not Patient.objects.exists()


def test_duplicate_record_number_in_the_clinic_is_refused(clinic, other_clinic, nurse) -> None:
    patient_create(clinic=clinic, by=nurse, mrn="DUP", first_name="A", last_name="B", birth_date=dt.date(1950, 1, 1))
    with pytest.raises(ValidationError) as info:
        patient_create(
            clinic=clinic, by=nurse, mrn="DUP", first_name="C", last_name="D", birth_date=dt.date(1951, 1, 1)
        )
    assert "mrn" in info.value.message_dict
    # The same number in another clinic is a different patient.
    patient_create(
        clinic=other_clinic, by=None, mrn="DUP", first_name="E", last_name="F", birth_date=dt.date(1952, 1, 1)
    )
    assert Patient.objects.filter(mrn="DUP").count() == 2


def test_invalid_mobile_is_refused(clinic, nurse) -> None:
    with pytest.raises(ValidationError) as info:
        patient_create(
            clinic=clinic,
            by=nurse,
            mrn="M1",
            first_name="A",
            last_name="B",
            birth_date=dt.date(1950, 1, 1),
            mobile="12",
        )
    assert "mobile" in info.value.message_dict


@pytest.mark.parametrize(
    ("code", "value", "message"),
    [
        ("hemoglobin", "45", "outside the plausible range"),
        ("hemoglobin", "abc", "is not a number"),
        ("hemoglobin", "", "Enter the result"),
        ("blood_group", "C+", "is not one of"),
    ],
)
def test_bad_results_are_refused_and_the_item_stays_open(book, nurse, code: str, value: str, message: str) -> None:
    surgery = book("lumbar-facet-rf", at("2026-03-09T08:00"))
    with pytest.raises(ValidationError, match=message):
        item_complete(item=item(surgery, code), by=nurse, result=value)
    fresh = item(surgery, code)
    assert fresh.status == ItemStatus.OPEN and fresh.version == 1 and fresh.history.count() == 1


def test_item_states_and_history(book, nurse) -> None:
    surgery = book("trigeminal-rf", at("2026-03-09T08:00"))
    hb = item_complete(item=item(surgery, "hemoglobin"), by=nurse, result="13.5")
    assert (hb.status, hb.result_value, hb.completed_by) == (ItemStatus.DONE, "13.5", nurse)
    with pytest.raises(ItemConflict, match="already done"):
        item_complete(item=hb, by=nurse, result="12")
    undone = item_undo(item=hb, by=nurse, reason="wrong patient's sample")
    assert undone.status == ItemStatus.OPEN and undone.result_value == ""
    history = list(item(surgery, "hemoglobin").history.order_by("history_id"))
    assert [h.status for h in history] == ["open", "done", "open"]
    assert history[-1].history_change_reason == "Reopened: wrong patient's sample"
    assert history[1].history_user == nurse

    na = item_mark_not_applicable(item=item(surgery, "mri"), by=nurse, reason="recent MRI on file")
    assert na.status == ItemStatus.NOT_APPLICABLE
    with pytest.raises(ValidationError):
        item_mark_not_applicable(item=item(surgery, "ecg"), by=nurse, reason="  ")


def test_stale_form_is_refused(book, nurse) -> None:
    surgery = book("trigeminal-rf", at("2026-03-09T08:00"))
    loaded = item(surgery, "ecg")
    item_complete(item=loaded, by=nurse, result="sinus rhythm", expected_version=loaded.version)
    with pytest.raises(ItemConflict, match="changed by"):
        item_undo(item=loaded, by=nurse, reason="x", expected_version=loaded.version)
    assert item(surgery, "ecg").history.count() == 2


def test_patient_confirmation_is_evidence_until_accepted(book, nurse) -> None:
    surgery = book("trigeminal-rf", at("2026-03-09T08:00"))
    arrival = item_patient_confirm(item=item(surgery, "arrival"), evidence={"ride_arranged": True})
    assert arrival.status == ItemStatus.PATIENT_CONFIRMED
    report = readiness_compute(surgery=surgery, items=surgery.checklist.items.all(), clinic=surgery.patient.clinic)
    assert any("Patient confirmation to accept" in r for r in report.reasons) or report.state != Readiness.READY
    accepted = item_accept(item=arrival, by=nurse)
    assert accepted.status == ItemStatus.ACCEPTED and accepted.completed_by == nurse
    with pytest.raises(PermissionDenied):
        item_patient_confirm(item=item(surgery, "hemoglobin"), evidence={})


def test_hold_is_locked_until_the_prescriber_approves(book, nurse, surgeon) -> None:
    surgery = book("trigeminal-rf", at("2026-03-09T08:00"), medications=["warfarin", "aspirin:secondary"])
    with pytest.raises(ItemConflict, match="waiting for the prescriber"):
        item_complete(item=item(surgery, "hold:warfarin"), by=nurse, result="2026-02-01")
    with pytest.raises(PermissionDenied):
        hold_decide(item=item(surgery, "hold_approval:warfarin"), by=nurse, approve=True)
    hold_decide(item=item(surgery, "hold_approval:warfarin"), by=surgeon, approve=True, note="no stent")
    assert not item(surgery, "hold:warfarin").locked
    # Shared assessment: no dates until the prescriber sets the hold.
    with pytest.raises(ValidationError, match="hold_days"):
        hold_decide(item=item(surgery, "hold_approval:aspirin"), by=surgeon, approve=True)
    hold_decide(item=item(surgery, "hold_approval:aspirin"), by=surgeon, approve=True, hold_days=7)
    hold = item(surgery, "hold:aspirin")
    assert local(hold.last_dose_at) == "2026-03-02T08:00-08:00" and not hold.locked


def test_declined_hold_closes_the_instruction(book, surgeon) -> None:
    surgery = book("trigeminal-rf", at("2026-03-09T08:00"), medications=["clopidogrel"])
    hold_decide(item=item(surgery, "hold_approval:clopidogrel"), by=surgeon, approve=False, note="recent stent")
    hold = item(surgery, "hold:clopidogrel")
    assert hold.status == ItemStatus.NOT_APPLICABLE and "keep taking" in hold.na_reason


def test_surgery_moved_by_a_week(book, nurse) -> None:
    surgery = book("trigeminal-rf", at("2026-03-02T08:00"), medications=["warfarin"])
    item_complete(item=item(surgery, "hemoglobin"), by=nurse, result="13", result_date=dt.date(2026, 2, 1))
    item_complete(item=item(surgery, "ecg"), by=nurse, result="normal", result_date=dt.date(2026, 2, 9))
    assert local(item(surgery, "fasting_solids").due_at) == "2026-03-02T02:00-08:00"

    surgery_update(surgery=surgery, by=nurse, start_at=at("2026-03-09T08:00"), reason="theatre unavailable")
    surgery.refresh_from_db()
    assert surgery.version == 2
    # Open items move, keeping local wall times across the 8 March change.
    assert local(item(surgery, "fasting_solids").due_at) == "2026-03-09T02:00-07:00"
    assert local(item(surgery, "hold:warfarin").last_dose_at) == "2026-03-04T08:00-08:00"
    assert local(item(surgery, "consent").due_at) == "2026-03-08T17:00-07:00"
    # Hemoglobin of 1 Feb is now older than 30 days before 9 March: reopened, with the reason.
    hb = item(surgery, "hemoglobin")
    assert hb.status == ItemStatus.OPEN
    assert "older than 30 days" in hb.history.latest("history_id").history_change_reason
    assert "older than 30 days before the surgery on 2026-03-09 (theatre unavailable)" in hb.change_reason
    assert item(surgery, "ecg").status == ItemStatus.DONE  # 9 Feb is within 30 days of 9 March
    assert local(item(surgery, "ecg").due_at) == "2026-03-02T08:00-08:00"


def test_surgery_cancelled_closes_the_checklist(book, nurse) -> None:
    surgery = book("lumbar-facet-rf", at("2026-03-09T08:00"))
    with pytest.raises(ValidationError):
        surgery_cancel(surgery=surgery, by=nurse, reason="")
    surgery_cancel(surgery=surgery, by=nurse, reason="patient unwell")
    surgery.refresh_from_db()
    assert surgery.status == SurgeryStatus.CANCELLED and surgery.version == 2
    assert surgery.checklist.status == ChecklistStatus.CLOSED
    with pytest.raises(ValidationError):
        surgery_update(surgery=surgery, by=nurse, start_at=at("2026-03-10T08:00"))


def test_medication_added_and_stopped_after_generation(book, nurse) -> None:
    surgery = book("trigeminal-rf", at("2026-03-09T08:00"))
    assert not item_exists(surgery, "hold:apixaban")
    med = medication_add(patient=surgery.patient, by=nurse, name="Eliquis", is_blood_thinner=True)
    assert item(surgery, "hold:apixaban").locked
    assert local(item(surgery, "hold:apixaban").last_dose_at) == "2026-03-04T08:00-08:00"
    medication_stop(medication=med, by=nurse)
    hold = item(surgery, "hold:apixaban")
    assert hold.status == ItemStatus.NOT_APPLICABLE and "medication stopped" in hold.na_reason


def item_exists(surgery: Surgery, code: str) -> bool:
    return ChecklistItem.objects.filter(checklist__surgery=surgery, code=code).exists()


def test_patient_factory_builds(clinic) -> None:
    assert PatientFactory.build(clinic=clinic).mrn.startswith("MRN")
