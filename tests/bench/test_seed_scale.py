"""seed_scale writes realistic data in bulk: every item and reminder state, history, valid checklists."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.utils import timezone

from devtools.seeding import BENCH_PASSWORD, seed_scale
from patients.models import Surgery, SurgeryStatus
from prep import planning
from prep.models import ChecklistItem, ItemStatus
from prep.services import checklist_plan


@pytest.fixture
def seeded(catalogue):
    return seed_scale(clinics=2, patients=200, days=20, seed=3)


def test_every_item_and_surgery_state(seeded):
    assert seeded.patients == 200 and seeded.surgeries == 200 and seeded.checklists == 200
    assert set(seeded.item_states) == set(ItemStatus.values)
    statuses = set(Surgery.objects.values_list("status", flat=True))
    assert {SurgeryStatus.BOOKED, SurgeryStatus.DONE, SurgeryStatus.CANCELLED} <= statuses
    assert ChecklistItem.objects.count() == seeded.items
    now = timezone.now()
    starts = list(Surgery.objects.values_list("start_at", flat=True))
    assert min(starts) < now < max(starts) <= now + dt.timedelta(days=21)


def test_history_rows_follow_the_items(seeded):
    history = ChecklistItem.history.model.objects
    changed = ChecklistItem.objects.exclude(status=ItemStatus.OPEN).count()
    assert history.filter(history_type="+").count() == seeded.items
    assert history.filter(history_type="~").count() == changed
    item = ChecklistItem.objects.filter(status=ItemStatus.DONE).first()
    assert [h.status for h in item.history.order_by("history_date")] == [ItemStatus.OPEN, ItemStatus.DONE]


def test_reminders_in_every_status(seeded):
    from reminders.models import Reminder, Status

    assert seeded.reminders == Reminder.objects.count() > 0
    expected = {
        Status.PENDING,
        Status.SENT,
        Status.DELIVERED,
        Status.FAILED,
        Status.CANCELLED,
        Status.EXPIRED,
        Status.SUPPRESSED,
    }
    assert expected <= set(seeded.reminder_states)


def test_items_match_the_planner_for_the_booking(seeded):
    """Shifting a reference plan gives the due times planning would compute for the surgery itself."""
    surgery = Surgery.objects.filter(status=SurgeryStatus.BOOKED).select_related("patient__clinic").first()
    planned = {p.code: p for p in checklist_plan(surgery=surgery).items}
    items = {i.code: i for i in ChecklistItem.objects.filter(checklist__surgery=surgery)}
    assert set(items) == set(planned)
    for code, item in items.items():
        if not code.startswith(planning.APPROVAL_PREFIX):  # approvals may be pulled earlier by a hold
            assert item.due_at == planned[code].due_at, code


def test_holds_stay_locked_until_approved(seeded):
    for hold in ChecklistItem.objects.filter(code__startswith=planning.HOLD_PREFIX).select_related("checklist"):
        approval = ChecklistItem.objects.get(
            checklist=hold.checklist, code=hold.code.replace(planning.HOLD_PREFIX, planning.APPROVAL_PREFIX, 1)
        )
        assert hold.locked == (approval.status != ItemStatus.DONE)


def test_seeded_nurse_can_sign_in_and_see_the_board(seeded, client):
    # Through the login form, as the load test signs in.
    response = client.post("/accounts/login/", {"username": "nurse1@scale-1.bench.test", "password": BENCH_PASSWORD})
    assert response.status_code == 302
    response = client.get("/")
    assert response.status_code == 200
    assert b"/surgeries/" in response.content


def test_command(catalogue, capsys):
    call_command("seed_scale", "--patients", "30", "--days", "5", "--clinics", "1")
    out = capsys.readouterr().out
    assert "Seeded 30 patients" in out and "Item states" in out


def test_command_refuses_an_empty_catalogue(no_catalogue):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="catalogue"):
        call_command("seed_scale", "--patients", "10")


def test_staff_per_clinic_as_asked(catalogue):
    from accounts.models import Role, User

    report = seed_scale(clinics=2, patients=20, days=5, seed=4, nurses_per_clinic=2, surgeons_per_clinic=5)
    for slug in report.clinic_slugs:
        staff = User.objects.filter(clinic__slug=slug)
        assert staff.filter(role=Role.SURGEON).count() == 5
        assert staff.filter(role=Role.NURSE).count() == 2
        assert staff.filter(role=Role.CLINIC_ADMIN).count() == 1
    surgeons = set(Surgery.objects.values_list("surgeon__email", flat=True))
    assert surgeons <= {f"surgeon{i}@{slug}.bench.test" for slug in report.clinic_slugs for i in range(1, 6)}


@pytest.mark.parametrize("field", ["nurses_per_clinic", "surgeons_per_clinic"])
def test_a_clinic_needs_staff(catalogue, field):
    # Every surgery has a surgeon and every ticked item a nurse: none would be a crash halfway.
    with pytest.raises(ValueError, match="at least 1"):
        seed_scale(clinics=1, patients=5, days=5, **{field: 0})


def row_values(row) -> dict:
    names = ("state", "rank", "required", "done", "overdue", "next_due_at", "changes_at", "computed_at")
    return {name: getattr(row, name) for name in names}


def test_every_checklist_has_its_readiness_summary(seeded):
    """Seeding writes behind the services' back, so it writes the summaries too, from the same function."""
    from prep.models import Checklist, ChecklistSummary
    from prep.selectors import readiness_compute

    assert ChecklistSummary.objects.count() == seeded.checklists
    for checklist in Checklist.objects.select_related("summary", "surgery__patient__clinic")[:50]:
        surgery, row = checklist.surgery, checklist.summary
        report = readiness_compute(
            surgery=surgery, items=checklist.items.all(), clinic=surgery.patient.clinic, now=row.computed_at
        )
        assert row_values(row) == report.summary_values()


@pytest.mark.postgres
def test_copies_are_the_source_clinic_under_new_identities(catalogue, client):
    """seed_copies (PostgreSQL): every row of a copy belongs to the copy, and every reference moved with it."""
    from devtools.seeding import seed_copies
    from patients.models import Patient
    from prep.models import Checklist, ChecklistSummary
    from reminders.models import Reminder

    source = seed_scale(clinics=1, patients=60, days=10, seed=5)
    report = seed_copies(source=source.clinic_slugs[0], copies=2)
    assert (report.patients, report.surgeries, report.items) == (120, 120, 2 * source.items)
    assert report.reminders == 2 * source.reminders and report.history_rows == 2 * source.history_rows
    for slug in report.clinic_slugs:
        items = ChecklistItem.objects.filter(checklist__surgery__clinic__slug=slug)
        assert items.count() == source.items
        assert not items.exclude(checklist__surgery__patient__clinic__slug=slug).exists()
        assert not items.exclude(completed_by=None).exclude(completed_by__clinic__slug=slug).exists()
        assert not items.exclude(medication=None).exclude(medication__patient__clinic__slug=slug).exists()
        assert ChecklistSummary.objects.filter(checklist__surgery__clinic__slug=slug).count() == 60
        assert not Surgery.objects.filter(clinic__slug=slug).exclude(surgeon__clinic__slug=slug).exists()
        for reminder in Reminder.objects.filter(clinic__slug=slug).select_related("surgery", "patient")[:200]:
            assert reminder.patient.clinic.slug == slug and reminder.surgery.patient_id == reminder.patient_id
            assert reminder.key.startswith(f"s{reminder.surgery_id}:")
            assert set(
                ChecklistItem.objects.filter(pk__in=reminder.covers).values_list("checklist__surgery", flat=True)
            ) == {reminder.surgery_id}
        for patient in Patient.objects.filter(clinic__slug=slug)[:20]:
            assert patient.mrn.startswith(f"S{patient.clinic_id}-") and slug in (patient.email or slug)
            history = patient.history.get()
            assert (history.uuid, history.first_name, history.mrn) == (patient.uuid, patient.first_name, patient.mrn)
    assert Patient.objects.values("uuid").distinct().count() == 180
    # The copies' surgeries have their checklists; ids continue from the sequences afterwards.
    assert Checklist.objects.count() == 180
    response = client.post(
        "/accounts/login/", {"username": f"nurse1@{report.clinic_slugs[1]}.bench.test", "password": BENCH_PASSWORD}
    )
    assert response.status_code == 302
    assert b"/surgeries/" in client.get("/").content
