"""Children (issue 22): fasting by age band, selective dorsal rhizotomy, texts for a parent.

Expected times come from the clinical reference (1b, 2): breast milk 4 h, infant formula and other
milk 6 h, light meal 6 h, clear liquids 2 h (1 h as a clinic's option for children), counted as
elapsed time back from the booked start in America/Los_Angeles, so a daylight-saving mistake shows
as a wrong hour or offset.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from io import StringIO

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command

from prep import planning
from prep.models import ChecklistItem, ClinicTestPolicy, ProcedureVariant, TemplateItem
from prep.selectors import item_text, surgery_age_band, surgery_texts_for_parent

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
pytestmark = pytest.mark.django_db

FASTING = ("fasting_solids", "fasting_formula", "fasting_breast_milk", "fasting_clear_liquids")
CHILD_ONLY = ("parent_stays_overnight", "school_plan", "prepare_child", "fasting_breast_milk", "fasting_formula")


def plan(
    procedure: str, at: str, birth: str, *, anaesthesia: str = "", option: str = "", sex: str = "unknown"
) -> planning.Plan:
    proc = ProcedureVariant.objects.select_related("template").get(slug=procedure)
    policies = {"fasting_clear_liquids": planning.TestPolicy(timing_option=option)} if option else {}
    facts = planning.BookingFacts(
        start_at=planning.local_to_utc(dt.datetime.fromisoformat(at), LA),
        tz=LA,
        birth_date=dt.date.fromisoformat(birth),
        procedure_name=proc.name,
        risk=proc.risk,
        region=proc.region,
        anaesthesia=anaesthesia or proc.default_anaesthesia,
        cardiac_risk=proc.cardiac_risk,
        sex=sex,
        policies=policies,
        age_bands=proc.template.age_bands,
    )
    return planning.plan_checklist(facts, list(TemplateItem.objects.filter(template=proc.template)))


def fasting(result: planning.Plan) -> dict[str, str]:
    return {p.code: p.due_at.astimezone(LA).isoformat(timespec="minutes") for p in result.items if p.code in FASTING}


@pytest.mark.parametrize(
    ("who", "birth", "band", "expect"),
    [
        (
            "an infant of 8 months on breast milk",
            "2025-10-15",
            "infant",
            {
                "fasting_solids": "2026-06-15T02:00-07:00",
                "fasting_formula": "2026-06-15T02:00-07:00",
                "fasting_breast_milk": "2026-06-15T04:00-07:00",
                "fasting_clear_liquids": "2026-06-15T06:00-07:00",
            },
        ),
        (
            "a toddler of 2 years on formula",
            "2024-05-01",
            "young_child",
            {
                "fasting_solids": "2026-06-15T02:00-07:00",
                "fasting_formula": "2026-06-15T02:00-07:00",
                "fasting_breast_milk": "2026-06-15T04:00-07:00",
                "fasting_clear_liquids": "2026-06-15T06:00-07:00",
            },
        ),
        (
            "a 9-year-old: milk counts as food, no milk items",
            "2017-02-10",
            "child",
            {"fasting_solids": "2026-06-15T02:00-07:00", "fasting_clear_liquids": "2026-06-15T06:00-07:00"},
        ),
        (
            "an adult: the adult rules, unchanged",
            "1980-01-01",
            "adult",
            {"fasting_solids": "2026-06-15T02:00-07:00", "fasting_clear_liquids": "2026-06-15T06:00-07:00"},
        ),
    ],
)
def test_fasting_times_by_age_band(catalogue: None, who: str, birth: str, band: str, expect: dict) -> None:
    result = plan("sdr", "2026-06-15T08:00", birth)
    assert result.age_band == band, who
    assert result.audience == ("patient" if band == "adult" else "parent")
    assert fasting(result) == expect, who


@pytest.mark.parametrize(
    ("at", "expect"),
    [
        # Spring forward (Sunday 8 March 2026, 02:00 -> 03:00): 07:30 PDT is 14:30 UTC; 6 elapsed hours
        # before is 00:30 PST, not the 01:30 a wall-clock subtraction gives; 4 h before is 03:30 PDT.
        (
            "2026-03-08T07:30",
            {
                "fasting_solids": "2026-03-08T00:30-08:00",
                "fasting_formula": "2026-03-08T00:30-08:00",
                "fasting_breast_milk": "2026-03-08T03:30-07:00",
                "fasting_clear_liquids": "2026-03-08T05:30-07:00",
            },
        ),
        # Fall back (Sunday 1 November 2026, 02:00 -> 01:00): 6 h before 07:30 PST is the second 01:30.
        (
            "2026-11-01T07:30",
            {
                "fasting_solids": "2026-11-01T01:30-08:00",
                "fasting_formula": "2026-11-01T01:30-08:00",
                "fasting_breast_milk": "2026-11-01T03:30-08:00",
                "fasting_clear_liquids": "2026-11-01T05:30-08:00",
            },
        ),
    ],
)
def test_fasting_times_for_an_infant_across_a_clock_change(catalogue: None, at: str, expect: dict) -> None:
    result = plan("sdr", at, "2025-07-01")
    assert fasting(result) == expect
    start = planning.local_to_utc(dt.datetime.fromisoformat(at), LA)
    hours = {p.code: (start - p.due_at) / dt.timedelta(hours=1) for p in result.items if p.code in FASTING}
    assert hours == {"fasting_solids": 6, "fasting_formula": 6, "fasting_breast_milk": 4, "fasting_clear_liquids": 2}


@pytest.mark.parametrize(
    ("birth", "band"),
    [
        ("2025-06-16", "infant"),  # 1 year old the day after the surgery
        ("2025-06-15", "young_child"),  # first birthday on the surgery day
        ("2023-06-16", "young_child"),
        ("2023-06-15", "child"),
        ("2008-06-16", "child"),  # 17 on the surgery day: texts go to a parent
        ("2008-06-15", "adult"),  # 18th birthday on the surgery day
    ],
)
def test_the_band_is_the_age_on_the_surgery_day(catalogue: None, birth: str, band: str) -> None:
    result = plan("sdr", "2026-06-15T08:00", birth)
    assert result.age_band == band
    codes = {p.code for p in result.items}
    assert ("fasting_breast_milk" in codes) == (band in ("infant", "young_child"))
    assert ("parent_stays_overnight" in codes) == (band != "adult")


def test_a_clinic_may_let_children_drink_clear_liquids_until_1_hour_before(catalogue: None) -> None:
    child = plan("sdr", "2026-06-15T08:00", "2017-02-10", option="children_1h")
    adult = plan("sdr", "2026-06-15T08:00", "1980-01-01", option="children_1h")
    assert fasting(child)["fasting_clear_liquids"] == "2026-06-15T07:00-07:00"
    assert fasting(adult)["fasting_clear_liquids"] == "2026-06-15T06:00-07:00"
    reason = next(p.reason for p in child.items if p.code == "fasting_clear_liquids")
    assert "Clinic policy for age band child" in reason and "to be confirmed by the clinic" in reason
    # The shipped default stays at 2 hours (ASA), with no policy note.
    default = plan("sdr", "2026-06-15T08:00", "2017-02-10")
    assert fasting(default)["fasting_clear_liquids"] == "2026-06-15T06:00-07:00"


def test_local_anaesthesia_means_no_fasting_for_a_child_either(catalogue: None) -> None:
    result = plan("lumbar-facet-rf", "2026-06-15T08:00", "2025-10-15")
    assert result.age_band == "infant" and not fasting(result)


def test_adult_only_items_never_reach_a_child_on_sdr(catalogue: None) -> None:
    child = {p.code for p in plan("sdr", "2026-06-15T08:00", "2017-02-10", sex="female").items}
    adult = {p.code for p in plan("sdr", "2026-06-15T08:00", "1980-01-01", sex="female").items}
    # A stay of several days: no ride home on the day, no adult alone overnight at home.
    assert not {"escort", "overnight_adult"} & (child | adult)
    # ESC 2022 is an adult guideline: the procedure's cardiovascular risk sends adults, not children.
    assert "cardiac_evaluation" in adult and "cardiac_evaluation" not in child
    # Pregnancy: the catalogue's 10-60 range (clinic_tbc); a 9-year-old is outside it.
    assert "pregnancy_check" in adult and "pregnancy_check" not in child
    assert not set(CHILD_ONLY) & adult
    twelve = {p.code for p in plan("sdr", "2026-06-15T08:00", "2014-01-10", sex="female").items}
    assert "pregnancy_check" in twelve


SDR_CHILD_CODES = [
    "sdr_assessment",
    "mri",
    "physio_plan",
    "school_plan",
    "blood_group",
    "hemoglobin",
    "ecg",
    "chest_xray",
    "urinalysis",
    "contrast_allergy",
    "prepare_child",
    "health_questionnaire",
    "parent_stays_overnight",
    "inpatient_stay",
    "if_unwell",
    "what_to_bring",
    "hospital_stay_bag",
    "admission",
    "consent",
    "fasting_solids",
    "fasting_clear_liquids",
    "arrival",
    "warning_signs",
    "follow_up",
]


@pytest.fixture
def booked_january():
    with time_machine.travel(dt.datetime(2026, 1, 10, 9, 0, tzinfo=LA), tick=False):
        yield


def test_sdr_checklist_of_a_9_year_old_through_the_services(book, booked_january) -> None:
    start = dt.datetime(2026, 3, 8, 7, 30, tzinfo=LA)  # the morning the clocks spring forward
    surgery = book("sdr", start, birth_date=dt.date(2017, 2, 10), first_name="Sofia", sex="female")
    items = list(ChecklistItem.objects.filter(checklist__surgery=surgery))
    assert [i.code for i in items] == SDR_CHILD_CODES
    assert surgery.checklist.catalogue_version == "2026.12.4"
    by_code = {i.code: i for i in items}
    # Computed from the booked time, as elapsed time: 6 h and 2 h before 14:30 UTC (an aware
    # datetime's own subtraction in LA would be wall-clock time, one hour off across the change).
    booked = surgery.start_at.astimezone(dt.UTC)
    assert booked.isoformat() == "2026-03-08T14:30:00+00:00"
    assert by_code["fasting_solids"].due_at == booked - dt.timedelta(hours=6)
    assert by_code["fasting_solids"].due_at.astimezone(LA).isoformat() == "2026-03-08T00:30:00-08:00"
    assert by_code["fasting_clear_liquids"].due_at == booked - dt.timedelta(hours=2)
    assert by_code["parent_stays_overnight"].required and not by_code["school_plan"].required
    assert by_code["parent_stays_overnight"].reason == "Age band child on the day of surgery"
    assert surgery_age_band(surgery=surgery)["slug"] == "child"
    assert surgery_texts_for_parent(surgery=surgery)


def test_a_reschedule_moves_the_childs_fasting_times_with_the_booked_time(book, booked_january, nurse) -> None:
    from actions.booking import surgery_update

    surgery = book("sdr", dt.datetime(2026, 3, 8, 7, 30, tzinfo=LA), birth_date=dt.date(2024, 5, 1))
    moved = dt.datetime(2026, 3, 20, 13, 15, tzinfo=LA)
    surgery_update(surgery=surgery, by=nurse, start_at=moved)
    due = {
        i.code: i.due_at.astimezone(LA).isoformat(timespec="minutes")
        for i in ChecklistItem.objects.filter(checklist__surgery=surgery, code__in=FASTING)
    }
    assert due == {
        "fasting_solids": "2026-03-20T07:15-07:00",
        "fasting_formula": "2026-03-20T07:15-07:00",
        "fasting_breast_milk": "2026-03-20T09:15-07:00",
        "fasting_clear_liquids": "2026-03-20T11:15-07:00",
    }


def test_the_clinics_1_hour_option_through_the_services(book, booked_january, clinic) -> None:
    policy = ClinicTestPolicy(clinic=clinic, code="fasting_clear_liquids", timing_option="children_1h", note="ESAIC")
    policy.full_clean()
    policy.save()
    start = dt.datetime(2026, 3, 8, 7, 30, tzinfo=LA).astimezone(dt.UTC)
    child = book("sdr", start, birth_date=dt.date(2017, 2, 10))
    adult = book("sdr", start, birth_date=dt.date(1980, 2, 10))
    liquids = lambda s: ChecklistItem.objects.get(checklist__surgery=s, code="fasting_clear_liquids")  # noqa: E731
    assert liquids(child).due_at == start - dt.timedelta(hours=1)
    assert liquids(adult).due_at == start - dt.timedelta(hours=2)
    assert not surgery_texts_for_parent(surgery=adult)


def test_a_timing_option_the_item_does_not_have_is_refused(catalogue: None, clinic) -> None:
    with pytest.raises(ValidationError, match="'children_30min' is not a timing option of 'fasting_clear_liquids'"):
        ClinicTestPolicy(clinic=clinic, code="fasting_clear_liquids", timing_option="children_30min").full_clean()
    with pytest.raises(ValidationError, match="is not a test of the catalogue's clinic policy"):
        ClinicTestPolicy(clinic=clinic, code="fasting_solids").full_clean()
    with pytest.raises(ValidationError, match="only its timing option can change"):
        ClinicTestPolicy(
            clinic=clinic, code="fasting_clear_liquids", timing_option="children_1h", enabled=False
        ).full_clean()


def test_item_text_gives_the_parent_wording_for_a_child(catalogue: None) -> None:
    solids = TemplateItem.objects.get(template__slug="sdr", code="fasting_solids")
    words = {"language": "en", "first_name": "Maya", "time_text": "2:00 AM"}
    assert item_text(solids, field="patient_title", for_parent=True, **words) == "Stop giving Maya food"
    assert item_text(solids, field="instructions", for_parent=True, **words).startswith(
        "Do not give Maya any food after 2:00 AM."
    )
    assert item_text(solids, field="patient_title", for_parent=False, **words) == "Stop eating"
    spanish = {"language": "es", "first_name": "Maya", "time_text": "2:00 a. m."}
    assert item_text(solids, field="patient_title", for_parent=True, **spanish) == "Deje de darle comida a Maya"
    # No name or time at hand: words that still read.
    assert item_text(solids, field="instructions", for_parent=True, language="en").startswith(
        "Do not give your child any food after the time shown."
    )
    # No parent wording in the catalogue (the INR test): the patient's text.
    inr = TemplateItem.objects.get(template__slug="sdr", code="inr")
    assert item_text(inr, field="why", for_parent=True, language="es") == inr.why_es
    with pytest.raises(ValueError, match="field must be one of"):
        item_text(solids, field="title_en", for_parent=True, language="en")


def test_parent_texts_come_in_pairs_and_name_the_child(catalogue: None) -> None:
    for ti in TemplateItem.objects.all():
        for field in ("patient_title_parent", "instructions_parent", "why_parent"):
            en, es = getattr(ti, f"{field}_en"), getattr(ti, f"{field}_es")
            assert bool(en) == bool(es), (ti.template.slug, ti.code, field)
            assert en.count("{first_name}") <= 6, (ti.code, field)
        if ti.instructions_parent_en:
            assert "{first_name}" in ti.instructions_parent_en or ti.code == "chest_xray", ti.code
    # Every item a child can get on SDR speaks to the parent.
    sdr = TemplateItem.objects.filter(template__slug="sdr")
    child_items = {p.code for p in plan("sdr", "2026-06-15T08:00", "2025-10-15").items}
    assert all(ti.instructions_parent_en for ti in sdr if ti.code in child_items)


def preview(*args: str) -> dict:
    out = StringIO()
    call_command("preview_checklist", *args, stdout=out)
    return json.loads(out.getvalue())


def test_preview_shows_the_age_band_and_the_parent_wording(catalogue: None) -> None:
    args = ("--procedure", "sdr", "--surgery-at", "2026-03-08T07:30", "--tz", "America/Los_Angeles")
    data = preview(*args, "--birth-date", "2025-07-01", "--first-name", "Maya", "--booked-at", "2026-01-10T09:00")
    assert (data["age"], data["age_band"], data["audience"]) == (0, "infant", "parent")
    assert data["age_band_name"] == "Infant (under 1 year)"
    by_code = {i["code"]: i for i in data["items"]}
    assert by_code["fasting_breast_milk"]["due_at"] == "2026-03-08T03:30:00-07:00"
    assert by_code["fasting_solids"]["parent_title"] == "Stop giving Maya food"
    assert by_code["fasting_solids"]["parent_instructions"].startswith(
        "Do not give Maya any food after 2026-03-08 00:30."
    )
    assert by_code["fasting_breast_milk"]["parent_title"] == "Last breastfeed for Maya"
    spanish = preview(*args, "--birth-date", "2017-02-10", "--first-name", "Maya", "--language", "es")
    solids = {i["code"]: i for i in spanish["items"]}["fasting_solids"]
    assert solids["parent_title"] == "Deje de darle comida a Maya"
    assert solids["parent_instructions"].startswith("No le dé comida a Maya después de 2026-03-08 00:30.")
    option = preview(*args, "--birth-date", "2017-02-10", "--timing-option", "fasting_clear_liquids=children_1h")
    assert {i["code"]: i for i in option["items"]}["fasting_clear_liquids"]["due_at"] == "2026-03-08T06:30:00-07:00"
    adult = preview(*args, "--birth-date", "1980-01-01")
    assert (adult["age_band"], adult["audience"]) == ("adult", "patient")
    assert not any("parent_title" in i for i in adult["items"])


def test_preview_refuses_an_unknown_timing_option(catalogue: None) -> None:
    err = StringIO()
    with pytest.raises(SystemExit) as info:
        call_command(
            "preview_checklist",
            "--procedure",
            "sdr",
            "--surgery-at",
            "2026-03-08T07:30",
            "--timing-option",
            "fasting_clear_liquids=children_30min",
            stdout=StringIO(),
            stderr=err,
        )
    assert info.value.code == 2
    assert "has no option 'children_30min'; known: children_1h" in err.getvalue()


def test_an_infants_milk_feeds_are_in_the_fasting_reminders(book, booked_january) -> None:
    from reminders.models import Reminder

    surgery = book("sdr", dt.datetime(2026, 3, 8, 7, 30, tzinfo=LA), birth_date=dt.date(2025, 7, 1))
    codes = dict(ChecklistItem.objects.filter(checklist__surgery=surgery).values_list("pk", "code"))
    (fasting,) = Reminder.objects.filter(surgery=surgery, kind="fasting")
    # One message 12 h before the first fasting time (00:30 PST), naming all four times.
    assert fasting.planned_at.astimezone(LA).isoformat() == "2026-03-07T12:30:00-08:00"
    assert [codes[pk] for pk in fasting.covers] == [
        "fasting_solids",
        "fasting_formula",
        "fasting_breast_milk",
        "fasting_clear_liquids",
    ]


def test_preview_with_a_guardian_sends_everything_to_her_in_her_language(catalogue: None) -> None:
    """`--guardian` (issue 22): a 7-year-old for SDR with a Spanish-speaking mother: the messages go to
    her, the parent wording is in Spanish; without one the preview warns that booking needs one."""
    args = ("--procedure", "sdr", "--surgery-at", "2026-03-10T08:00", "--tz", "America/Los_Angeles")
    child = (*args, "--birth-date", "2019-01-05", "--first-name", "Sofia", "--booked-at", "2026-01-10T09:00")
    data = preview(*child, "--guardian", "Carmen Ruiz,mother,es")
    assert data["guardian"] == {"name": "Carmen Ruiz", "relationship": "mother", "language": "es"}
    assert (data["audience"], data["messages_to"]) == ("parent", "guardian") and "warning" not in data
    solids = {i["code"]: i for i in data["items"]}["fasting_solids"]
    assert solids["parent_title"] == "Deje de darle comida a Sofia"
    assert solids["parent_instructions"].startswith("No le dé comida a Sofia después de 2026-03-10 02:00.")
    alone = preview(*child)
    assert alone["messages_to"] == "guardian" and "parent or guardian" in alone["warning"]
    # An adult who needs a guardian: the guardian receives the messages, in the adult's own wording.
    adult = preview(*args, "--birth-date", "1990-01-01", "--guardian", "Luis Ruiz,legal_guardian")
    assert (adult["audience"], adult["messages_to"]) == ("patient", "guardian")
    assert not any("parent_title" in i for i in adult["items"])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Carmen,mother", "give 'FIRST LAST,RELATIONSHIP[,LANGUAGE]'"),
        ("Carmen Ruiz,aunt", "unknown relationship 'aunt'"),
        ("Carmen Ruiz,mother,fr", "unknown language 'fr'"),
    ],
)
def test_preview_refuses_a_malformed_guardian(catalogue: None, value: str, message: str) -> None:
    err = StringIO()
    with pytest.raises(SystemExit) as info:
        call_command(
            "preview_checklist",
            "--procedure",
            "sdr",
            "--surgery-at",
            "2026-03-08T07:30",
            "--guardian",
            value,
            stdout=StringIO(),
            stderr=err,
        )
    assert info.value.code == 2 and message in err.getvalue()
