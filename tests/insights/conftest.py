"""A known history for the clinic dashboard, built through the real actions with time-machine.

Westside (America/Los_Angeles; DST starts on Sunday 8 March 2026, inside the history) books five
surgeries on Monday 2 March, then lives through three weeks; Sydney (Australia/Sydney) books one
whose start is Monday morning there and still Sunday in Los Angeles. The readiness recorder runs
five minutes after each moment it records, except while it is "down" (15 March 00:00 to 16 March
12:00 UTC), when one moment is caught up late. Every figure the tests assert follows from the
timeline below by hand.

    A  Thu 12 Mar 09:00 PDT  everything closed 4 Mar; hemoglobin reopened 6 Mar, closed again 8 Mar
    B  Fri 13 Mar 09:00 PDT  nothing until 11 Mar 12:00 PDT; the lab's hemoglobin comes by interface;
                             the patient confirmed the arrival in the portal on 10 Mar (accepted 11 Mar)
    C  Mon 16 Mar 08:00 PDT  cancelled 13 Mar 20:00 PDT, reason "tests missing" (a preparation reason)
    D  Wed 18 Mar 09:00 PDT  nothing done; No go 17 Mar 10:00 PDT, reason "patient unwell"; its 72 h
                             moment (15 Mar 16:00 UTC) falls in the recorder's downtime
    F  Thu 19 Mar 09:00 PDT  moved on 16 Mar (after its 72 h snapshot) to Thu 26 Mar: out of the period
    E  Mon 16 Mar 07:00 AEDT (Sydney) everything closed 10 Mar
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
import time_machine

from accounts.models import Role
from actions.booking import surgery_book, surgery_cancel, surgery_update
from actions.decisions import surgery_record_go_decision
from actions.items import item_accept, item_complete, item_patient_confirm, item_undo
from actions.patients import patient_create
from audit.models import AccessLog
from inbox.models import InboxMessage, MessageKind, MessageStatus
from insights.services import readiness_snapshots_record
from prep.models import ItemStatus, ProcedureVariant
from tests.factories import ClinicFactory, PatientFactory, UserFactory, aware
from tests.reminders.conftest import providers, sms_server, smtp_server  # noqa: F401  # fixtures
from tests.workspace.conftest import client_for  # noqa: F401  # fixture

RESULTS = {"blood_group": "A+", "hemoglobin": "13.1"}
OPEN = (ItemStatus.OPEN, ItemStatus.PATIENT_CONFIRMED)
UTC = "UTC"


def utc(value: str) -> dt.datetime:
    return aware(value, UTC)


def close_all(surgery, *, nurse, surgeon, lab=None) -> None:
    """Every required item closed: results typed by the nurse (``lab``'s for the hemoglobin when given)."""
    for item in surgery.checklist.items.filter(required=True, status__in=OPEN).select_related("template_item"):
        if item.status == ItemStatus.PATIENT_CONFIRMED:
            item_accept(item=item, by=nurse)
        elif item.assignee == "surgeon":
            item_complete(item=item, by=surgeon)
        else:
            kind = item.template_item.result_kind if item.template_item else "none"
            by = lab if (lab is not None and item.code == "hemoglobin") else nurse
            item_complete(item=item, by=by, result=RESULTS.get(item.code, "normal" if kind != "none" else ""))


def item(surgery, code):
    return surgery.checklist.items.select_related("template_item").get(code=code)


@pytest.fixture
def sydney(db):
    return ClinicFactory(slug="sydney", name="Harbour Spine Sydney", time_zone="Australia/Sydney")


@pytest.fixture
def history(catalogue, clinic, nurse, surgeon, clinic_admin, sydney):
    sydney_nurse = UserFactory(clinic=sydney, email="nurse@sydney.test", first_name="Syd", last_name="Nurse")
    sydney_surgeon = UserFactory(clinic=sydney, role=Role.SURGEON, email="surgeon@sydney.test")
    sydney_admin = UserFactory(clinic=sydney, role=Role.CLINIC_ADMIN, email="admin@sydney.test")
    lab = UserFactory(clinic=clinic, role="system", email="lab@westside.test", first_name="Lab", last_name="Feed")
    procedure = ProcedureVariant.objects.get(slug="lumbar-facet-rf")

    def book(at_clinic, by, start, mrn):
        values = PatientFactory.build(clinic=at_clinic, mrn=mrn)
        patient = patient_create(
            clinic=at_clinic,
            by=by,
            **{f: getattr(values, f) for f in ("mrn", "first_name", "last_name", "birth_date", "email", "mobile")},
        )
        return surgery_book(patient=patient, procedure=procedure, start_at=start, by=by, anaesthesia="local")

    def record(instant: str) -> int:
        with time_machine.travel(utc(instant), tick=False):
            return readiness_snapshots_record().recorded

    def at(instant: dt.datetime):
        return time_machine.travel(instant, tick=False)

    runs: dict[str, int] = {}
    with at(aware("2026-03-02T09:00")):
        a = book(clinic, nurse, aware("2026-03-12T09:00"), "A-1")
        b = book(clinic, nurse, aware("2026-03-13T09:00"), "B-1")
        c = book(clinic, nurse, aware("2026-03-16T08:00"), "C-1")
        d = book(clinic, nurse, aware("2026-03-18T09:00"), "D-1")
        f = book(clinic, nurse, aware("2026-03-19T09:00"), "F-1")
        e = book(sydney, sydney_nurse, aware("2026-03-16T07:00", "Australia/Sydney"), "E-1")
        for s in (a, b, c, d, f):
            s.surgeon = surgeon
            s.save(update_fields=["surgeon"])
    with at(aware("2026-03-03T10:00")):
        AccessLog.objects.create(role="patient", patient=a.patient, clinic=clinic, action="GET portal:me", allowed=True)
    with at(aware("2026-03-04T10:00")):
        close_all(a, nurse=nurse, surgeon=surgeon)
    with at(aware("2026-03-06T10:00")):
        item_undo(item=item(a, "hemoglobin"), by=nurse, reason="wrong patient's result")
    with at(aware("2026-03-08T10:00")):  # PDT from today
        item_complete(item=item(a, "hemoglobin"), by=nurse, result="12.9")
    runs["A72"] = record("2026-03-09T16:05")
    runs["A72 again"] = record("2026-03-09T16:05")
    with at(aware("2026-03-10T10:00", "Australia/Sydney")):
        close_all(e, nurse=sydney_nurse, surgeon=sydney_surgeon)
    with at(aware("2026-03-10T10:00")):
        AccessLog.objects.create(role="patient", patient=b.patient, clinic=clinic, action="GET portal:me", allowed=True)
        item_patient_confirm(item=item(b, "arrival"), evidence={"done": True})
        InboxMessage.objects.create(
            clinic=clinic, kind=MessageKind.HL7, source="LAB", control_id="1", raw="x", status=MessageStatus.PROCESSED
        )
        InboxMessage.objects.create(
            clinic=sydney, kind=MessageKind.HL7, source="LAB", control_id="9", raw="x", status=MessageStatus.REVIEW
        )
    runs["A48 B72"] = record("2026-03-10T16:05")
    runs["A24 B48"] = record("2026-03-11T16:05")
    with at(aware("2026-03-11T12:00")):
        close_all(b, nurse=nurse, surgeon=surgeon, lab=lab)
    with at(aware("2026-03-12T10:00")):
        review = InboxMessage.objects.create(
            clinic=clinic, kind=MessageKind.FHIR, source="LAB", control_id="2", raw="x", status=MessageStatus.REVIEW
        )
    runs["B24"] = record("2026-03-12T16:05")
    runs["E72"] = record("2026-03-12T20:05")
    runs["C72"] = record("2026-03-13T15:05")
    runs["E48"] = record("2026-03-13T20:05")
    with at(aware("2026-03-13T20:00")):
        surgery_cancel(surgery=c, by=nurse, reason="no blood tests", reason_code="prep_tests")
    runs["C48 (cancelled)"] = record("2026-03-14T15:05")
    runs["E24"] = record("2026-03-14T20:05")
    # The recorder is down from 15 March 00:00 to 16 March 12:00 UTC: D's 72 h moment passes unrecorded.
    runs["D72 late"] = record("2026-03-16T12:00")
    runs["D48 F72"] = record("2026-03-16T16:05")
    with at(utc("2026-03-16T17:00")):
        surgery_update(surgery=f, by=nurse, reason="surgeon away", start_at=aware("2026-03-26T09:00"))
    runs["D24"] = record("2026-03-17T16:05")
    with at(aware("2026-03-17T10:00")):
        surgery_record_go_decision(
            surgery=d, by=surgeon, decision="no_go", no_go_reason="patient_unwell", note="fever since Sunday"
        )
    with at(aware("2026-03-20T10:00")):
        AccessLog.objects.create(role="patient", patient=d.patient, clinic=clinic, action="GET portal:me", allowed=True)
    for s in (a, b, c, d, e, f):
        s.refresh_from_db()
    return SimpleNamespace(
        a=a,
        b=b,
        c=c,
        d=d,
        e=e,
        f=f,
        runs=runs,
        review=review,
        lab=lab,
        clinic=clinic,
        sydney=sydney,
        sydney_admin=sydney_admin,
        sydney_nurse=sydney_nurse,
        now=utc("2026-03-25T12:00"),
    )
