"""Medicines you can trust: the pharmacist's findings (issue 13), each as a scenario.

Through ``preview_checklist`` (the same planning code as generation) and through the services.
Expectations come from clinical-reference.md sections 3 and 5-5d, not from the code.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from actions.booking import surgery_book, surgery_update
from actions.decisions import hold_decide
from actions.items import item_complete
from actions.patients import medication_add, patient_create, patient_update
from patients.models import Surgery
from prep import medicines
from prep.models import ChecklistItem, ClinicTestPolicy, Drug, ItemStatus, KnownMedicine, ProcedureVariant

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
pytestmark = pytest.mark.django_db


def preview(*args: str) -> dict:
    out = StringIO()
    call_command("preview_checklist", "--tz", "America/Los_Angeles", *args, stdout=out)
    return json.loads(out.getvalue())


def codes(data: dict) -> dict[str, dict]:
    return {i["code"]: i for i in data["items"]}


def alert_codes(data: dict) -> dict[str, str]:
    return {a["code"]: a["severity"] for a in data["alerts"]}


HIGH = ("--procedure", "trigeminal-rf", "--surgery-at", "2026-06-15T08:00", "--booked-at", "2026-05-01T09:00")


# --- Finding 2: what people write is read ------------------------------------------------------------

FREE_TEXT = [
    ("Eliquis 5 mg twice daily", "apixaban"),
    ("Aspirin 81 mg", "aspirin"),
    ("aspirina", "aspirin"),
    ("aspirina 81", "aspirin"),
    ("Plavix", "clopidogrel"),
    ("heparin", "heparin"),
    ("heparina", "heparin"),
    ("Xarelto 20mg daily", "rivaroxaban"),
    ("rivaroxabán", "rivaroxaban"),
    ("Coumadin 5 mg", "warfarin"),
    ("warfarina", "warfarin"),
    ("Pradaxa 150 mg", "dabigatran"),
    ("Brilinta 90 mg", "ticagrelor"),
    ("Effient", "prasugrel"),
    ("Savaysa", "edoxaban"),
    ("Lovenox 40 mg daily", "enoxaparin"),
    ("enoxaparina", "enoxaparin"),
    ("Fragmin", "dalteparin"),
    ("Arixtra", "fondaparinux"),
    ("Zontivity", "vorapaxar"),
    ("fish oil 1000 mg", "fish-oil"),
    ("aceite de pescado", "fish-oil"),
    ("Advil 400", "ibuprofen"),
    ("ibuprofeno", "ibuprofen"),
    ("Aleve", "naproxen"),
    ("Ozempic 1 mg weekly", "semaglutide"),
    ("Mounjaro", "tirzepatide"),
    ("Jardiance 10 mg", "empagliflozin"),
    ("Farxiga", "dapagliflozin"),
    ("Steglatro", "ertugliflozin"),
    ("Lantus 20 units at night", "insulin"),
    ("metformina 850", "metformin"),
    ("eliquiss", "apixaban"),
    ("clopidogrell 75", "clopidogrel"),
    ("heparin drip", "heparin"),
]


@pytest.mark.parametrize(("text", "key"), FREE_TEXT, ids=[t for t, _ in FREE_TEXT])
def test_free_text_medicine_gives_the_decision_item(catalogue: None, text: str, key: str) -> None:
    data = preview(*HIGH, "--medication", text)
    assert f"hold_approval:{key}" in codes(data), [c for c in codes(data) if ":" in c]
    assert data["unmatched_medications"] == []


def test_every_catalogue_name_strength_and_spanish_name_is_read(catalogue: None) -> None:
    drugs = list(Drug.objects.all())
    dictionary = medicines.build(drugs, KnownMedicine.objects.all())
    for drug in drugs:
        for name in [drug.substance, *drug.aliases, drug.name_es]:
            read = dictionary.resolve(f"{name} 10 mg daily")
            assert read.drugs, (drug.slug, name)
            assert {d.substance for d in read.drugs} == {drug.substance}, (drug.slug, name, read.how)


def test_a_known_medicine_without_a_rule_adds_nothing(catalogue: None) -> None:
    plain = codes(preview(*HIGH))
    for text in ("Lipitor 20 mg", "atorvastatina", "Tylenol 500 mg", "gabapentin 300 mg three times a day"):
        data = preview(*HIGH, "--medication", text)
        assert set(codes(data)) == set(plain), text
        assert data["unmatched_medications"] == [] and data["alerts"] == []


def test_a_name_nobody_can_read_is_never_dropped(catalogue: None) -> None:
    data = preview(*HIGH, "--medication", "Zorblax 3 mg")
    assert data["unmatched_medications"] == ["Zorblax 3 mg"]
    review = codes(data)["med_review"]
    assert review["assignee"] == "nurse" and review["required"]
    assert "Zorblax" in review["title"]
    assert alert_codes(data) == {"unmatched_medication": "warn"}


def test_a_close_spelling_of_a_no_rule_medicine_is_not_guessed(catalogue: None) -> None:
    # Guessing towards a medicine with no rule could silently drop a blood thinner: a nurse decides.
    data = preview(*HIGH, "--medication", "atorvastatn")
    assert data["unmatched_medications"] == ["atorvastatn"]


def test_free_text_blood_thinner_through_the_services_without_the_tick(book, nurse) -> None:
    surgery = book("trigeminal-rf")
    medication_add(patient=surgery.patient, by=nurse, name="Eliquis 5 mg twice daily")
    medication_add(patient=surgery.patient, by=nurse, name="aspirina 81")
    items = set(ChecklistItem.objects.filter(checklist__surgery=surgery).values_list("code", flat=True))
    assert {"hold_approval:apixaban", "hold:apixaban", "hold_approval:aspirin"} <= items


def test_unreadable_medicine_through_the_services_becomes_a_nurse_item(book, nurse) -> None:
    surgery = book("lumbar-facet-rf")
    medication = medication_add(patient=surgery.patient, by=nurse, name="Zorblax 3 mg")
    review = ChecklistItem.objects.get(checklist__surgery=surgery, code="med_review")
    assert review.required and review.status == ItemStatus.OPEN
    assert surgery.checklist.__class__.objects.get(pk=surgery.checklist.pk).alerts[0]["code"] == "unmatched_medication"
    # Classified by staff as needing no rule: the item no longer applies.
    medication.no_rule_confirmed = True
    medication.save()
    from prep.services import checklist_refresh

    checklist_refresh(surgery=surgery, by=nurse, reason="medicine checked")
    review.refresh_from_db()
    assert review.status == ItemStatus.NOT_APPLICABLE


# --- Finding 4: thrombotic risk -------------------------------------------------------------------


def test_recent_drug_eluting_stent_blocks_the_clopidogrel_hold(catalogue: None) -> None:
    data = preview(*HIGH, "--medication", "Plavix", "--condition", "drug_eluting_stent=2026-02-10")
    assert "hold:clopidogrel" not in codes(data)  # no dates one click from the patient
    assert "blocked" in codes(data)["hold_approval:clopidogrel"]["reason"]
    assert alert_codes(data)["recent_stent"] == "block"


def test_older_drug_eluting_stent_no_alert_but_still_a_cardiology_decision(catalogue: None) -> None:
    data = preview(*HIGH, "--medication", "Plavix", "--condition", "drug_eluting_stent=2025-06-01")
    assert "recent_stent" not in alert_codes(data)
    assert "hold:clopidogrel" not in codes(data)
    assert "cardiology" in codes(data)["hold_approval:clopidogrel"]["reason"]


@pytest.mark.parametrize(("placed", "recent"), [("2026-06-01", True), ("2026-04-01", False)])
def test_bare_metal_stent_under_one_month(catalogue: None, placed: str, recent: bool) -> None:
    data = preview(*HIGH, "--condition", f"bare_metal_stent={placed}")
    assert ("recent_stent" in alert_codes(data)) is recent


def test_stent_without_a_date_is_treated_as_recent(catalogue: None) -> None:
    assert alert_codes(preview(*HIGH, "--condition", "drug_eluting_stent"))["recent_stent"] == "block"


def test_mechanical_valve_needs_a_bridging_decision(catalogue: None) -> None:
    data = preview(*HIGH, "--medication", "warfarin", "--condition", "mechanical_heart_valve")
    assert alert_codes(data)["mechanical_valve_bridging"] == "block"
    assert "hold:warfarin" not in codes(data)
    assert "inr" in codes(data)


def test_atrial_fibrillation_with_stroke_and_recent_clot_block_anticoagulant_holds(catalogue: None) -> None:
    af = preview(*HIGH, "--medication", "Eliquis", "--condition", "atrial_fibrillation", "--condition", "stroke")
    assert alert_codes(af)["high_thrombotic_risk"] == "block" and "hold:apixaban" not in codes(af)
    clot = preview(*HIGH, "--medication", "Xarelto", "--condition", "vte=2026-05-01")
    assert alert_codes(clot)["high_thrombotic_risk"] == "block"
    old_clot = preview(*HIGH, "--medication", "Xarelto", "--condition", "vte=2025-01-01")
    assert "high_thrombotic_risk" not in alert_codes(old_clot) and "hold:rivaroxaban" in codes(old_clot)


@pytest.mark.parametrize(("crcl", "days"), [("40", 6), ("90", 5)])
def test_dabigatran_hold_follows_creatinine_clearance(catalogue: None, crcl: str, days: int) -> None:
    hold = codes(preview(*HIGH, "--medication", "Pradaxa", "--crcl", crcl))["hold:dabigatran"]
    last = dt.datetime.fromisoformat(hold["last_dose_at"])
    assert dt.datetime(2026, 6, 15, 8, tzinfo=LA) - last == dt.timedelta(days=days)


def test_dabigatran_without_a_clearance_warns(catalogue: None) -> None:
    assert alert_codes(preview(*HIGH, "--medication", "Pradaxa"))["crcl_unknown"] == "warn"


def test_thrombotic_facts_on_the_patient_block_the_hold_and_show_an_alert(book, nurse) -> None:
    surgery = book("trigeminal-rf", medications=("clopidogrel",))
    assert ChecklistItem.objects.filter(checklist__surgery=surgery, code="hold:clopidogrel").exists()
    patient_update(patient=surgery.patient, by=nurse, stent="drug_eluting", stent_date=dt.date.today())  # noqa: DTZ011
    hold = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold:clopidogrel")
    assert hold.status == ItemStatus.NOT_APPLICABLE  # withdrawn: dates must come from the prescriber
    surgery.checklist.refresh_from_db()
    assert [a["code"] for a in surgery.checklist.alerts] == ["recent_stent"]


# --- Finding 5: metabolic medicines ------------------------------------------------------------------

SEDATION = ("--procedure", "trigeminal-glycerol", "--surgery-at", "2026-06-15T08:00", "--booked-at", "2026-05-01T09:00")


def test_weekly_glp1_with_sedation_is_a_decision_with_a_week(catalogue: None) -> None:
    item = codes(preview(*SEDATION, "--medication", "Ozempic 1 mg weekly"))["hold_approval:semaglutide"]
    assert item["assignee"] == "surgeon"
    assert "weekly" in item["reason"] and "7 days" in item["reason"] and "clear-liquid" in item["reason"]


def test_daily_glp1_with_sedation_is_a_decision_with_a_day(catalogue: None) -> None:
    item = codes(preview(*SEDATION, "--medication", "Rybelsus 7 mg"))["hold_approval:semaglutide"]
    assert "daily" in item["reason"] and "1 days" not in item["reason"] and "24 hours" in item["reason"]


def test_glp1_with_local_anaesthesia_is_kept(catalogue: None) -> None:
    data = codes(
        preview("--procedure", "lumbar-facet-rf", "--surgery-at", "2026-06-15T08:00", "--medication", "Ozempic")
    )
    assert "hold_approval:semaglutide" not in data and "keep:semaglutide" in data


@pytest.mark.parametrize(
    ("text", "key", "days"), [("Jardiance", "empagliflozin", 3), ("Steglatro", "ertugliflozin", 4)]
)
def test_sglt2_held_3_days_ertugliflozin_4(catalogue: None, text: str, key: str, days: int) -> None:
    hold = codes(preview(*SEDATION, "--medication", text))[f"hold:{key}"]
    last = dt.datetime.fromisoformat(hold["last_dose_at"])
    assert dt.datetime(2026, 6, 15, 8, tzinfo=LA) - last == dt.timedelta(days=days)


def test_insulin_on_the_fasting_day_is_a_decision(catalogue: None) -> None:
    data = codes(preview(*SEDATION, "--medication", "insulin glargine 20 units"))
    assert "fasting day" in data["hold_approval:insulin"]["reason"]
    assert "hold:insulin" not in data


def test_glp1_decision_clear_liquid_diet_and_hold(book, surgeon) -> None:
    surgery = book("trigeminal-glycerol", anaesthesia="sedation")
    medication_add(patient=surgery.patient, by=surgeon, name="Ozempic 0.5 mg weekly")
    approval = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold_approval:semaglutide")
    hold_decide(item=approval, by=surgeon, choice="liquid_diet")
    diet = ChecklistItem.objects.get(checklist__surgery=surgery, code="liquid_diet:semaglutide")
    assert surgery.start_at - diet.due_at == dt.timedelta(hours=24)
    assert not ChecklistItem.objects.filter(checklist__surgery=surgery, code="hold:semaglutide").exists()


def test_glp1_hold_uses_the_weekly_suggestion(book, surgeon) -> None:
    surgery = book("trigeminal-glycerol", anaesthesia="sedation")
    medication_add(patient=surgery.patient, by=surgeon, name="Wegovy")
    approval = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold_approval:semaglutide")
    hold_decide(item=approval, by=surgeon, choice="approve")
    hold = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold:semaglutide")
    assert not hold.locked
    assert surgery.start_at - hold.last_dose_at == dt.timedelta(days=7)


# --- Finding 6: booking inside the hold window ------------------------------------------------------

WINDOWS = [("warfarin", 5), ("clopidogrel", 7), ("Eliquis", 5), ("Advil", 1), ("naproxen", 4), ("Jardiance", 3)]


@pytest.mark.parametrize(("text", "days"), WINDOWS, ids=[t for t, _ in WINDOWS])
def test_booking_inside_each_hold_window_is_flagged(catalogue: None, text: str, days: int) -> None:
    surgery_at = dt.datetime(2026, 6, 15, 8, 0)
    inside = (surgery_at - dt.timedelta(days=days) + dt.timedelta(hours=2)).isoformat(timespec="minutes")
    outside = (surgery_at - dt.timedelta(days=days + 1)).isoformat(timespec="minutes")
    base = ("--procedure", "trigeminal-rf", "--surgery-at", "2026-06-15T08:00", "--medication", text)
    assert alert_codes(preview(*base, "--booked-at", inside)).get("hold_interval_not_met") == "block"
    assert "hold_interval_not_met" not in alert_codes(preview(*base, "--booked-at", outside))


# --- Finding 1: a prescriber-set hold survives a reschedule -----------------------------------------


def test_reschedule_keeps_and_redates_a_prescriber_set_hold(book, surgeon, nurse) -> None:
    surgery = book("trigeminal-rf", medications=("aspirin:secondary",))  # high risk: shared assessment
    approval = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold_approval:aspirin")
    hold_decide(item=approval, by=surgeon, approve=True, hold_days=7)
    hold = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold:aspirin")
    before = hold.last_dose_at
    surgery_update(surgery=surgery, by=nurse, start_at=surgery.start_at + dt.timedelta(days=7))
    hold.refresh_from_db()
    assert hold.status == ItemStatus.OPEN, hold.na_reason
    assert not hold.locked
    assert hold.last_dose_at - before == dt.timedelta(days=7)
    assert hold.hold_hours == 7 * 24


def test_moving_the_surgery_sooner_than_a_started_hold_allows_is_flagged(book, surgeon, nurse) -> None:
    surgery = book("trigeminal-rf", medications=("warfarin",))
    approval = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold_approval:warfarin")
    hold_decide(item=approval, by=surgeon, approve=True)
    hold = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold:warfarin")
    # Three days into the hold the surgery moves to tomorrow: 5 days can no longer be met.
    with time_machine.travel(hold.last_dose_at + dt.timedelta(days=3)):
        surgery_update(surgery=surgery, by=nurse, start_at=hold.last_dose_at + dt.timedelta(days=4))
    surgery.checklist.refresh_from_db()
    assert "hold_interval_not_met" in [a["code"] for a in surgery.checklist.alerts]


# --- Finding 3: results checked ---------------------------------------------------------------------


@pytest.mark.parametrize(("value", "status"), [("1.1", ItemStatus.DONE), ("2.6", ItemStatus.OPEN)])
def test_inr_checked_against_the_clinic_threshold(book, nurse, value: str, status: str) -> None:
    surgery = book("trigeminal-rf", medications=("warfarin",))
    inr = ChecklistItem.objects.get(checklist__surgery=surgery, code="inr")
    inr = item_complete(item=inr, by=nurse, result=value)
    assert inr.status == status and inr.result_value == value
    if status == ItemStatus.OPEN:
        assert "above the clinic's limit of 1.40" in inr.result_flag and "to be confirmed" in inr.result_flag
    else:
        assert inr.result_flag == ""


def test_warfarin_held_on_the_prescribers_decision_still_brings_an_inr(book, surgeon) -> None:
    surgery = book("lumbar-facet-rf", medications=("warfarin",))  # low risk: shared assessment
    approval = ChecklistItem.objects.get(checklist__surgery=surgery, code="hold_approval:warfarin")
    hold_decide(item=approval, by=surgeon, approve=True, hold_days=5)
    assert ChecklistItem.objects.filter(checklist__surgery=surgery, code="inr", required=True).exists()
    assert ChecklistItem.objects.filter(checklist__surgery=surgery, code="hold:warfarin", locked=False).exists()


def test_low_hemoglobin_is_done_but_flagged(book, nurse) -> None:
    surgery = book("lumbar-facet-rf")
    hb = item_complete(
        item=ChecklistItem.objects.get(checklist__surgery=surgery, code="hemoglobin"), by=nurse, result="8.5"
    )
    assert hb.status == ItemStatus.DONE and "below the clinic's alert level of 10" in hb.result_flag


# --- Finding 7: cardiac work-up follows cardiac risk, not bleeding risk ------------------------------


def test_age_with_a_high_bleeding_risk_under_local_anaesthesia_needs_no_cardiac_evaluation(catalogue: None) -> None:
    data = codes(preview(*HIGH, "--birth-date", "1950-01-01", "--anaesthesia", "local"))
    assert "cardiac_evaluation" not in data


def test_age_with_sedation_on_a_low_bleeding_risk_procedure_needs_it(catalogue: None) -> None:
    data = preview(
        "--procedure",
        "lumbar-facet-rf",
        "--surgery-at",
        "2026-06-15T08:00",
        "--birth-date",
        "1950-01-01",
        "--anaesthesia",
        "sedation",
    )
    assert "cardiac_evaluation" in codes(data)


def test_a_stent_or_atrial_fibrillation_at_any_age_needs_it(catalogue: None) -> None:
    for condition in ("drug_eluting_stent=2024-01-01", "atrial_fibrillation", "mechanical_heart_valve"):
        data = preview(
            "--procedure",
            "lumbar-facet-rf",
            "--surgery-at",
            "2026-06-15T08:00",
            "--birth-date",
            "1990-01-01",
            "--condition",
            condition,
        )
        assert "cardiac_evaluation" in codes(data), condition


def test_procedures_carry_a_cardiovascular_risk_of_their_own(catalogue: None) -> None:
    for procedure in ProcedureVariant.objects.all():
        assert procedure.cardiac_risk in ("low", "intermediate", "high")
        assert procedure.cardiac_risk_to_be_confirmed and procedure.cardiac_risk_note


# --- Finding 8: tests as per-clinic policy ----------------------------------------------------------


def test_a_clinic_policy_changes_its_tests_only(book, clinic, other_clinic) -> None:
    ClinicTestPolicy.objects.create(clinic=clinic, code="ecg", enabled=False, note="Choosing Wisely: no routine ECG")
    ClinicTestPolicy.objects.create(
        clinic=clinic, code="chest_xray", conditions={"min_age": "clinic"}, required=False, note="only older"
    )
    surgery = book("lumbar-facet-rf", birth_date=dt.date(1990, 1, 1))
    got = set(ChecklistItem.objects.filter(checklist__surgery=surgery).values_list("code", flat=True))
    assert "ecg" not in got and "chest_xray" not in got and "urinalysis" in got
    other_patient = patient_create(
        clinic=other_clinic, by=None, mrn="O-1", first_name="O", last_name="P", birth_date=dt.date(1990, 1, 1)
    )
    other = surgery_book(
        patient=other_patient,
        procedure=ProcedureVariant.objects.get(slug="lumbar-facet-rf"),
        start_at=surgery.start_at,
        anaesthesia="",
        by=None,
    )
    other_codes = set(ChecklistItem.objects.filter(checklist__surgery=other).values_list("code", flat=True))
    assert {"ecg", "chest_xray"} <= other_codes
    ecg = ChecklistItem.objects.get(checklist__surgery=other, code="ecg")
    assert "clinic's policy" in ecg.reason


def test_a_clinic_policy_with_a_bad_condition_is_refused(catalogue: None, clinic) -> None:
    from django.core.exceptions import ValidationError

    policy = ClinicTestPolicy(clinic=clinic, code="ecg", conditions={"age_over": 65})
    with pytest.raises(ValidationError) as info:
        policy.full_clean()
    assert "unknown condition key 'age_over'" in str(info.value)
    with pytest.raises(ValidationError):
        ClinicTestPolicy(clinic=clinic, code="hold:*").full_clean()


def test_blood_group_does_not_expire(catalogue: None) -> None:
    from prep.models import TemplateItem

    assert TemplateItem.objects.filter(code="blood_group", validity_days__isnull=True).exists()
    assert not TemplateItem.objects.filter(code="blood_group").exclude(validity_days__isnull=True).exists()


# --- Finding 9: missing rows, LMWH restart per risk --------------------------------------------------


@pytest.mark.parametrize(("procedure", "hours"), [("lumbar-facet-rf", 4), ("trigeminal-rf", 24)])
def test_lmwh_restart_is_shorter_after_a_low_risk_procedure(catalogue: None, procedure: str, hours: int) -> None:
    hold = codes(
        preview("--procedure", procedure, "--surgery-at", "2026-06-15T08:00", "--medication", "enoxaparin:therapeutic")
    )["hold:enoxaparin"]
    restart = dt.datetime.fromisoformat(hold["restart_at"])
    assert restart - dt.datetime(2026, 6, 15, 8, tzinfo=LA) == dt.timedelta(hours=hours)


def test_unfractionated_heparin_rows(catalogue: None) -> None:
    iv = codes(preview(*HIGH, "--medication", "heparin:therapeutic"))["hold:heparin"]
    sc = codes(preview(*HIGH, "--medication", "heparin:prophylactic"))["hold:heparin"]
    start = dt.datetime(2026, 6, 15, 8, tzinfo=LA)
    assert start - dt.datetime.fromisoformat(iv["last_dose_at"]) == dt.timedelta(hours=6)
    assert start - dt.datetime.fromisoformat(sc["last_dose_at"]) == dt.timedelta(hours=24)
    assert "to be confirmed" in iv["reason"]


# --- Finding 10: what patients are told --------------------------------------------------------------


def test_a_drug_that_needs_no_hold_says_keep_taking_it(catalogue: None) -> None:
    data = codes(
        preview("--procedure", "lumbar-facet-rf", "--surgery-at", "2026-06-15T08:00", "--medication", "aspirin:primary")
    )
    assert "keep:aspirin" in data and "hold_approval:aspirin" not in data
    assert data["keep:aspirin"]["assignee"] == "patient"


def test_escort_overnight_adult_pregnancy_and_warning_signs(catalogue: None) -> None:
    general = codes(preview(*HIGH, "--sex", "female", "--birth-date", "1990-01-01"))
    assert {
        "escort",
        "overnight_adult",
        "pregnancy_check",
        "contrast_allergy",
        "what_to_bring",
        "if_unwell",
        "warning_signs",
        "warning_signs_trigeminal",
    } <= set(general)
    local = codes(preview("--procedure", "lumbar-facet-rf", "--surgery-at", "2026-06-15T08:00", "--sex", "male"))
    assert not {"escort", "overnight_adult", "pregnancy_check", "warning_signs_trigeminal"} & set(local)
    assert "warning_signs" in local


def test_patient_texts_are_grade_8_or_below_and_latin_american_spanish(catalogue: None) -> None:
    import textstat

    from prep.models import TemplateItem

    for ti in TemplateItem.objects.all():
        # The parent wording for a child too (issue 22), with the child's name and a time filled in.
        for text in (ti.instructions_en, ti.why_en, ti.instructions_parent_en, ti.why_parent_en):
            filled = text.replace("{drug}", "aspirin").replace("{last_dose}", "June 5").replace("{restart}", "June 6")
            filled = filled.replace("{first_name}", "Maya").replace("{time}", "2:00 AM")
            assert textstat.flesch_kincaid_grade(filled) <= 8, (ti.code, text)
        spanish = (ti.instructions_es, ti.why_es, ti.patient_title_es, ti.instructions_parent_es, ti.why_parent_es)
        for word in ("zumo", "conduzca", "ingresar", "ingreso"):
            assert word not in " ".join(spanish).lower(), (ti.code, word)


def test_unverified_values_are_shown_to_staff_never_to_patients(catalogue: None) -> None:
    from prep.models import TemplateItem

    data = codes(preview(*HIGH, "--medication", "Plavix"))
    assert "to be confirmed by the clinic" in data["hold_approval:clopidogrel"]["reason"]
    for ti in TemplateItem.objects.all():
        fields = ("patient_title", "instructions", "why", "patient_title_parent", "instructions_parent", "why_parent")
        patient_text = " ".join(getattr(ti, f"{field}_{lang}") for field in fields for lang in ("en", "es"))
        assert "to be confirmed" not in patient_text.lower(), ti.code
        assert "clinic_tbc" not in patient_text and "tbc" not in patient_text.lower(), ti.code


def test_surgery_is_kept(book) -> None:
    # The planning reads the catalogue only: booking still works end to end with every new item.
    surgery = book("endoscopic-rhizotomy", medications=("Eliquis",), anaesthesia="general")
    assert Surgery.objects.filter(pk=surgery.pk).exists()
    assert ChecklistItem.objects.filter(checklist__surgery=surgery, code="overnight_adult").exists()


def test_booking_inside_the_hold_window_through_the_services(book) -> None:
    from tests.factories import in_days

    surgery = book("trigeminal-rf", start_at=in_days(3), medications=("warfarin",))
    alerts = {a["code"]: a for a in surgery.checklist.__class__.objects.get(surgery=surgery).alerts}
    assert alerts["hold_interval_not_met"]["severity"] == "block"
    assert "5 days hold can no longer be met" in alerts["hold_interval_not_met"]["message"]


def test_cardiac_evaluation_through_the_services_follows_anaesthesia_not_bleeding_risk(book) -> None:
    local = book("trigeminal-rf", anaesthesia="local", birth_date=dt.date(1950, 1, 1))
    sedation = book("lumbar-facet-rf", anaesthesia="sedation", birth_date=dt.date(1950, 1, 1))
    assert not ChecklistItem.objects.filter(checklist__surgery=local, code="cardiac_evaluation").exists()
    assert ChecklistItem.objects.filter(checklist__surgery=sedation, code="cardiac_evaluation").exists()
