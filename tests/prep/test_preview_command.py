"""``manage.py preview_checklist``: JSON of what a patient would get, nothing saved, bad input exits 2."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command

from patients.models import Patient, Surgery
from prep.models import Checklist, ChecklistItem

pytestmark = pytest.mark.django_db


def preview(*args: str) -> dict:
    out = StringIO()
    call_command("preview_checklist", *args, stdout=out)
    return json.loads(out.getvalue())


def test_preview_prints_the_checklist_sorted_by_due_time(catalogue: None) -> None:
    data = preview(
        "--procedure",
        "trigeminal-glycerol",
        "--surgery-at",
        "2026-03-09T08:00",
        "--tz",
        "America/Los_Angeles",
        "--birth-date",
        "1950-05-01",
        "--medication",
        "aspirin:primary",
        "--medication",
        "clopidogrel",
        "--flag",
        "claustrophobic",
    )
    assert data["procedure"] == "trigeminal-glycerol"
    assert data["risk"] == "high"
    assert data["surgery_at"] == "2026-03-09T08:00:00-07:00"
    assert data["catalogue_version"] == "2026.12.4"
    items = data["items"]
    assert [i["due_at"] for i in items] == sorted(i["due_at"] for i in items) or all(
        items[n]["due_at"] <= items[n + 1]["due_at"] for n in range(len(items) - 1)
    )
    by_code = {i["code"]: i for i in items}
    assert set(items[0]) >= {"code", "title", "assignee", "required", "due_at", "reason", "source"}
    assert by_code["fasting_solids"]["due_at"] == "2026-03-09T02:00:00-07:00"
    assert by_code["hold:aspirin"]["due_at"] == "2026-03-03T08:00:00-08:00"
    assert by_code["hold:clopidogrel"]["due_at"] == "2026-03-02T08:00:00-08:00"
    assert by_code["cardiac_evaluation"]["reason"].startswith("Age 75")
    assert "mri_comfort" in by_code
    assert not (Patient.objects.exists() or Surgery.objects.exists() or Checklist.objects.exists())
    assert not ChecklistItem.objects.exists()


def test_default_anaesthesia_is_the_variants(catalogue: None) -> None:
    local = preview("--procedure", "lumbar-facet-rf", "--surgery-at", "2026-06-01T09:00")
    assert local["anaesthesia"] == "local"
    assert "fasting_solids" not in {i["code"] for i in local["items"]}
    general = preview("--procedure", "lumbar-facet-rf", "--surgery-at", "2026-06-01T09:00", "--anaesthesia", "general")
    assert "fasting_solids" in {i["code"] for i in general["items"]}


def test_list_procedures(catalogue: None) -> None:
    out = StringIO()
    call_command("preview_checklist", "--list-procedures", stdout=out)
    assert len(out.getvalue().splitlines()) == 7 and "cervical-facet-rf\tintermediate" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--procedure", "hip-replacement", "--surgery-at", "2026-03-10T08:00"], "unknown procedure 'hip-replacement'"),
        (["--procedure", "trigeminal-rf", "--surgery-at", "next tuesday"], "is not a date and time"),
        (
            ["--procedure", "trigeminal-rf", "--surgery-at", "2026-03-10T08:00", "--condition", "unobtainium"],
            "--condition 'unobtainium' is not known",
        ),
        (
            ["--procedure", "trigeminal-rf", "--surgery-at", "2026-03-10T08:00", "--condition", "vte=last week"],
            "the date is not like 2026-01-31",
        ),
        (
            ["--procedure", "trigeminal-rf", "--surgery-at", "2026-03-10T08:00", "--crcl", "lots"],
            "--crcl 'lots' is not a whole number",
        ),
        (
            ["--procedure", "trigeminal-rf", "--surgery-at", "2026-03-10T08:00", "--booked-at", "2026-03-11T08:00"],
            "--booked-at is after --surgery-at",
        ),
        (
            ["--procedure", "trigeminal-rf", "--surgery-at", "2026-03-10T08:00", "--birth-date", "2027-01-01"],
            "--birth-date: The birth date must be before the surgery date",
        ),
        (
            ["--procedure", "trigeminal-rf", "--surgery-at", "2026-03-10T08:00", "--birth-date", "01/02/1950"],
            "is not a date",
        ),
        (
            ["--procedure", "trigeminal-rf", "--surgery-at", "2026-03-10T08:00", "--tz", "Mars/Olympus"],
            "not a known time zone",
        ),
        (["--procedure", "trigeminal-rf", "--surgery-at", "2026-03-10T08:00", "--flag", "vampire"], "unknown flag"),
    ],
)
def test_bad_input_exits_2_with_one_line(catalogue: None, args: list[str], message: str) -> None:
    err = StringIO()
    with pytest.raises(SystemExit) as info:
        call_command("preview_checklist", *args, stdout=StringIO(), stderr=err)
    assert info.value.code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and message in lines[0]


def test_a_date_beyond_the_calendar_exits_2(catalogue: None) -> None:
    err = StringIO()
    with pytest.raises(SystemExit) as info:
        call_command(
            "preview_checklist",
            "--procedure",
            "trigeminal-rf",
            "--surgery-at",
            "9999-12-31T08:00",
            stdout=StringIO(),
            stderr=err,
        )
    assert info.value.code == 2
    assert "too far from today" in err.getvalue() and len(err.getvalue().strip().splitlines()) == 1
