"""Demo data for `make run`: one clinic, three staff logins, ~25 patients in every readiness state.

Everything is booked and ticked through the real services, so the demo shows what production
would hold. Idempotent: a patient whose record number exists is left alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from actions import booking as booking_actions
from actions import decisions as decision_actions
from actions import items as item_actions
from actions import patients as patient_actions
from actions import questionnaires as questionnaire_actions
from devtools.demo_history import demo_history
from patients.models import Clinic, Patient, Surgery
from prep.models import ChecklistItem, ConfirmAs, ItemStatus, ProcedureVariant, ResultKind
from workspace.models import CallOutcome, NoteKind
from workspace.services import note_add

CLINIC = {
    "slug": "demo-spine",
    "name": "Westside Spine & Pain (demo)",
    "time_zone": "America/Los_Angeles",
    "phone": "+13105550100",
    "clock_12h": True,
}
# Known demo passwords (>= 12 characters); load_demo refuses to run unless DEBUG is on.
LOGINS = (
    ("nurse@demo.preop.test", "demo-nurse-2026!", Role.NURSE, "Nina", "Okafor"),
    ("surgeon@demo.preop.test", "demo-surgeon-2026!", Role.SURGEON, "Samuel", "Reyes"),
    ("admin@demo.preop.test", "demo-admin-2026!", Role.CLINIC_ADMIN, "Alice", "Moreau"),
)


@dataclass(frozen=True)
class DemoPatient:
    first: str
    last: str
    born: dt.date
    day: int  # days from today (clinic time)
    time: str  # local wall time of the surgery
    procedure: str
    scenario: str  # open | tests | ready | confirmed | partial_ready
    medications: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    calls: int = 0
    hours: int | None = None  # instead of day/time: this many hours from now (the "not ready" ones)


PATIENTS = (
    DemoPatient(
        "Maria",
        "Garcia",
        dt.date(1961, 3, 14),
        0,
        "15:30",
        "lumbar-facet-rf",
        "open",
        ("clopidogrel",),
        calls=2,
        hours=5,
    ),
    DemoPatient(
        "James",
        "Whitaker",
        dt.date(1944, 7, 2),
        1,
        "08:00",
        "trigeminal-rf",
        "tests",
        ("warfarin",),
        ("cardiac_history",),
        calls=1,
        hours=20,
    ),
    DemoPatient("Aiko", "Tanaka", dt.date(1979, 11, 30), 1, "09:30", "cervical-facet-rf", "ready"),
    DemoPatient("Robert", "Nguyen", dt.date(1958, 1, 8), 1, "11:00", "lumbar-facet-rf", "partial_ready"),
    DemoPatient(
        "Fatima",
        "Haddad",
        dt.date(1970, 5, 21),
        2,
        "08:30",
        "endoscopic-rhizotomy",
        "tests",
        ("aspirin:secondary",),
        calls=1,
    ),
    DemoPatient("Peter", "Kowalski", dt.date(1966, 9, 3), 2, "13:00", "thoracic-facet-rf", "open", calls=1, hours=9),
    DemoPatient("Grace", "Okoye", dt.date(1983, 2, 17), 3, "08:00", "lumbar-facet-rf", "ready", ("ibuprofen",)),
    DemoPatient(
        "Luis", "Fernandez", dt.date(1952, 12, 12), 3, "10:30", "trigeminal-glycerol", "tests", ("apixaban",), calls=2
    ),
    DemoPatient("Emma", "Schulz", dt.date(1975, 6, 9), 4, "09:00", "lumbar-facet-rf", "open", (), ("claustrophobic",)),
    DemoPatient(
        "David", "Cohen", dt.date(1949, 4, 25), 4, "14:00", "cervical-facet-rf", "confirmed", ("aspirin:primary",)
    ),
    DemoPatient("Sofia", "Rossi", dt.date(1988, 8, 14), 5, "08:30", "lumbar-facet-rf", "tests"),
    DemoPatient("Hassan", "Karimi", dt.date(1963, 10, 1), 5, "11:30", "trigeminal-rf", "open", ("clopidogrel",)),
    DemoPatient("Olivia", "Brown", dt.date(1972, 1, 28), 6, "09:00", "thoracic-facet-rf", "ready"),
    DemoPatient(
        "Chen",
        "Wei",
        dt.date(1957, 3, 3),
        7,
        "10:00",
        "lumbar-facet-rf",
        "tests",
        ("naproxen",),
        ("impaired_renal_function",),
    ),
    DemoPatient("Anna", "Lindqvist", dt.date(1990, 12, 5), 8, "08:00", "cervical-facet-rf", "open"),
    DemoPatient(
        "Thomas",
        "Miller",
        dt.date(1938, 5, 19),
        9,
        "09:30",
        "endoscopic-rhizotomy",
        "open",
        ("warfarin",),
        ("cardiac_history",),
    ),
    DemoPatient("Priya", "Sharma", dt.date(1981, 7, 7), 10, "13:00", "lumbar-facet-rf", "open", (), ("latex_allergy",)),
    DemoPatient("Marek", "Novak", dt.date(1968, 2, 2), 10, "08:30", "trigeminal-glycerol", "open", ("rivaroxaban",)),
    DemoPatient("Lucia", "Martins", dt.date(1976, 9, 23), 11, "10:00", "thoracic-facet-rf", "tests"),
    DemoPatient(
        "George", "Adams", dt.date(1955, 11, 11), 11, "14:30", "lumbar-facet-rf", "open", ("aspirin:secondary",)
    ),
    DemoPatient("Yuki", "Sato", dt.date(1985, 4, 4), 12, "08:00", "cervical-facet-rf", "open", (), ("claustrophobic",)),
    DemoPatient("Ahmed", "Mansour", dt.date(1960, 6, 30), 12, "11:00", "trigeminal-rf", "open", ("ticagrelor",)),
    DemoPatient("Ingrid", "Berg", dt.date(1973, 3, 9), 13, "09:00", "lumbar-facet-rf", "ready"),
    DemoPatient("Carlos", "Mendoza", dt.date(1964, 8, 16), 13, "13:30", "endoscopic-rhizotomy", "open"),
    DemoPatient("Helen", "Park", dt.date(1951, 10, 27), 14, "08:00", "lumbar-facet-rf", "open", ("dabigatran",)),
    # A child booked for selective dorsal rhizotomy (issue 22): fasting by age band, texts for a parent.
    DemoPatient("Mateo", "Alvarez", dt.date(2017, 4, 12), 9, "07:30", "sdr", "open", ("baclofen",)),
)


def demo_staff(clinic: Clinic) -> dict[str, User]:
    users = {}
    for email, password, role, first, last in LOGINS:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(
                email=email, password=password, first_name=first, last_name=last, clinic=clinic, role=role
            )
        if role == Role.CLINIC_ADMIN and (not user.is_staff or user.is_superuser):
            # The demo admin manages the clinic's staff, patients and settings in the Django admin, limited
            # to the clinic (core.admin_scope); superusers are for the installation's operators only, and an
            # older demo database that made him one is corrected.
            user.is_staff, user.is_superuser = True, False
            user.save(update_fields=["is_staff", "is_superuser"])
        if role == Role.NURSE and not user.is_lead_nurse:
            # The demo nurse leads the nursing team: she also sees the clinic dashboard.
            user.is_lead_nurse = True
            user.save(update_fields=["is_lead_nurse"])
        users[role] = user
    return users


def _start_at(spec: DemoPatient, clinic: Clinic, now: dt.datetime) -> dt.datetime:
    from prep.planning import local_to_utc

    if spec.hours is not None:
        return (now + dt.timedelta(hours=spec.hours)).replace(minute=0, second=0, microsecond=0)
    day = timezone.localdate(now, clinic.tz) + dt.timedelta(days=spec.day)
    start = local_to_utc(dt.datetime.combine(day, dt.time.fromisoformat(spec.time)), clinic.tz)
    if start <= now + dt.timedelta(hours=2):
        # Run late in the day: keep "today" bookings in the future, on the half hour.
        start = (now + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    return start


def _result_for(item: ChecklistItem, today: dt.date) -> str:
    ti = item.template_item
    kind = ti.result_kind if ti else ResultKind.NONE
    if kind == ResultKind.CHOICE:
        return {"blood_group": "O+"}.get(item.code, ti.result_choices[0])
    if kind == ResultKind.NUMBER:
        return {"hemoglobin": "13.4", "inr": "1.1"}.get(item.code, str(ti.result_min or 1))
    if kind == ResultKind.DATE:
        return today.isoformat()
    if kind == ResultKind.TEXT:
        return {"ecg": "Sinus rhythm, normal", "chest_xray": "No acute findings"}.get(item.code, "Normal")
    return ""


def _tick(surgery_id: int, users: dict[str, User], *, codes: set[str] | None, today: dt.date) -> None:
    """Close required items (all, or those in ``codes``) the way staff and patients would."""
    nurse, surgeon = users[Role.NURSE], users[Role.SURGEON]
    for item in ChecklistItem.objects.filter(checklist__surgery_id=surgery_id, code__startswith="hold_approval:"):
        if codes is None and item.status == ItemStatus.OPEN:
            key = item.code.removeprefix("hold_approval:")
            has_dates = ChecklistItem.objects.filter(checklist_id=item.checklist_id, code=f"hold:{key}").exists()
            decision_actions.hold_decide(
                item=item, by=surgeon, approve=True, hold_days=None if has_dates else 5, note="Demo: approved"
            )
    items = ChecklistItem.objects.filter(checklist__surgery_id=surgery_id, required=True, status=ItemStatus.OPEN)
    for item in items.select_related("template_item", "checklist__surgery__patient__clinic"):
        if item.locked or (codes is not None and item.code not in codes):
            continue
        if item.assignee == "patient":
            item = item_actions.item_patient_confirm(item=item, evidence={"confirmed": "yes, by the patient"})
            item_actions.item_accept(item=item, by=nurse)
        else:
            item_actions.item_complete(
                item=item, by=surgeon if item.assignee == "surgeon" else nurse, result=_result_for(item, today)
            )


# A health questionnaire the patient has sent (issue 20): a nurse finds it "to reconcile" on the board,
# with a new medicine (a GLP-1 agonist) and a stent that the record does not have yet.
DEMO_QUESTIONNAIRE = {
    "medicines": {
        "medicines-count": "2",
        "medicines-0-name": "Aspirin 81 mg",
        "medicines-1-name": "Ozempic 1 mg weekly",
    },
    "allergies": {
        "allergy_medicines": "penicillin",
        "allergy_latex": "no",
        "allergy_contrast": "no",
        "anaesthesia_problems": "no",
    },
    "conditions": {
        "stent": "drug_eluting",
        "stent_month": "",
        "heart_valve": "no",
        "atrial_fibrillation": "no",
        "clot": "no",
        "stroke": "no",
        "diabetes": "yes",
        "kidney_disease": "no",
        "sleep_apnoea": "yes",
        "pregnancy": "not_applicable",
        "stairs": "no",
    },
    "practical": {"escort": "yes", "overnight_adult": "yes", "interpreter": "no"},
}


def _questionnaire_sent(patient: Patient, surgery: Surgery) -> None:
    today = timezone.localdate()
    month = today.month - 4
    stent_month = f"{today.year + (month - 1) // 12}-{(month - 1) % 12 + 1:02d}"
    for code, data in DEMO_QUESTIONNAIRE.items():
        values = {**data, "stent_month": stent_month} if code == "conditions" else data
        response, errors = questionnaire_actions.questionnaire_section_save(
            patient=patient, surgery=surgery, section_code=code, data=values, language=patient.language
        )
        if errors:
            raise RuntimeError(f"demo questionnaire, part {code}: {errors}")
    questionnaire_actions.questionnaire_submit(response=response)


def demo_load(*, now: dt.datetime | None = None) -> tuple[int, int]:
    """Create what is missing; return (patients created, patients already there)."""
    now = now or timezone.now()
    if not ProcedureVariant.objects.exists():
        raise RuntimeError("The catalogue is empty: run `python manage.py load_catalogue` first.")
    clinic, _ = Clinic.objects.get_or_create(slug=CLINIC["slug"], defaults=CLINIC)
    users = demo_staff(clinic)
    nurse = users[Role.NURSE]
    today = timezone.localdate(now, clinic.tz)
    created = existing = 0
    for index, spec in enumerate(PATIENTS, start=1):
        mrn = f"DEMO-{index:04d}"
        if Patient.objects.filter(clinic=clinic, mrn=mrn).exists():
            existing += 1
            continue
        with transaction.atomic():
            patient = patient_actions.patient_create(
                clinic=clinic,
                by=nurse,
                mrn=mrn,
                first_name=spec.first,
                last_name=spec.last,
                birth_date=spec.born,
                email=f"{spec.first.lower()}.{spec.last.lower()}@example.org",
                mobile=f"+1310555{index:04d}",
                channel_sms=index % 3 == 0,
                sms_consent=index % 3 == 0,
                language="es" if index % 7 == 0 else "en",
                **dict.fromkeys(spec.flags, True),
            )
            if patient.guardian_required_on(today):
                # A child's messages and sign-in link go to a parent, never to the child's own contact.
                patient_actions.guardian_add(
                    patient=patient,
                    by=nurse,
                    first_name="Lucia",
                    last_name=spec.last,
                    relationship="mother",
                    birth_year=spec.born.year - 31,
                    language="es",
                    email=f"lucia.{spec.last.lower()}@example.org",
                    mobile=f"+1310556{index:04d}",
                    channel_sms=True,
                    sms_consent=True,
                )
            for med in spec.medications:
                name, _, indication = med.partition(":")
                patient_actions.medication_add(patient=patient, by=nurse, name=name.capitalize(), indication=indication)
            surgery = booking_actions.surgery_book(
                patient=patient,
                procedure=ProcedureVariant.objects.get(slug=spec.procedure),
                start_at=_start_at(spec, clinic, now),
                by=nurse,
                surgeon=users[Role.SURGEON],
            )
            if spec.scenario in ("tests", "partial_ready"):
                _tick(surgery.pk, users, codes={"blood_group", "hemoglobin", "ecg", "urinalysis"}, today=today)
            if spec.scenario == "partial_ready":
                _tick(surgery.pk, users, codes={"chest_xray", "consent"}, today=today)
            if spec.scenario == "ready":
                _tick(surgery.pk, users, codes=None, today=today)
            if spec.scenario == "confirmed":
                _tick(surgery.pk, users, codes={"blood_group", "hemoglobin"}, today=today)
                for item in ChecklistItem.objects.filter(
                    checklist__surgery=surgery, assignee="patient", status=ItemStatus.OPEN, locked=False
                ).exclude(template_item__confirm_as=ConfirmAs.FORM)[:1]:
                    item_actions.item_patient_confirm(item=item, evidence={"confirmed": "I will arrive on time"})
                _questionnaire_sent(patient, surgery)
            for call in range(spec.calls):
                note_add(
                    patient=patient,
                    surgery=surgery,
                    by=nurse,
                    kind=NoteKind.CALL,
                    outcome=CallOutcome.REACHED if call == spec.calls - 1 else CallOutcome.VOICEMAIL,
                    text="Went through the preparation; the patient has the instructions."
                    if call == spec.calls - 1
                    else "No answer; left a message to call back.",
                )
        created += 1
    # Eight past weeks for the clinic dashboard (issue 21): written once, beside the bookings above.
    demo_history(clinic=clinic, users=users, now=now)
    return created, existing
