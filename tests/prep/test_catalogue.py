"""The shipped catalogue: complete, bilingual, sourced, loaded idempotently, malformed files refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from prep.loader import DEFAULT_PATH, CatalogueError, catalogue_load
from prep.models import CatalogueRelease, ChecklistTemplate, Drug, ProcedureVariant, TemplateItem

pytestmark = pytest.mark.django_db

VARIANTS = {
    "lumbar-facet-rf": "low",
    "thoracic-facet-rf": "low",
    "cervical-facet-rf": "intermediate",
    "trigeminal-rf": "high",
    "trigeminal-glycerol": "high",
    "endoscopic-rhizotomy": "high",
    "sdr": "high",
}
# Section 1 of the clinical reference: what the source document asks of a patient.
SOURCE_DOCUMENT_ITEMS = {
    "mri",
    "blood_group",
    "hemoglobin",
    "ecg",
    "chest_xray",
    "urinalysis",
    "cardiac_evaluation",
    "admission",
    "hold:*",
    "hold_approval:*",
    "fasting_solids",
    "fasting_clear_liquids",
    "arrival",
    "consent",
    "follow_up",
}


def test_every_variant_has_its_risk_class_and_a_complete_template(catalogue: None) -> None:
    assert dict(ProcedureVariant.objects.values_list("slug", "risk")) == VARIANTS
    for template in ChecklistTemplate.objects.all():
        codes = set(template.items.values_list("code", flat=True))
        assert codes >= SOURCE_DOCUMENT_ITEMS, (template.slug, SOURCE_DOCUMENT_ITEMS - codes)


def test_every_template_carries_the_age_bands(catalogue: None) -> None:
    for template in ChecklistTemplate.objects.all():
        bands = [(b["slug"], b["min_age"], b["max_age"], b["audience"]) for b in template.age_bands]
        assert bands == [
            ("infant", 0, 0, "parent"),
            ("young_child", 1, 2, "parent"),
            ("child", 3, 17, "parent"),
            ("adult", 18, None, "patient"),
        ], template.slug
        codes = set(template.items.values_list("code", flat=True))
        assert {"fasting_breast_milk", "fasting_formula"} <= codes, template.slug


def test_the_sdr_template_lists_its_items_in_order(catalogue: None) -> None:
    codes = list(TemplateItem.objects.filter(template__slug="sdr").values_list("code", flat=True))
    assert [c for c in codes if ":" not in c] == [
        "health_questionnaire",
        "sdr_assessment",
        "mri",
        "blood_group",
        "hemoglobin",
        "ecg",
        "chest_xray",
        "urinalysis",
        "cardiac_evaluation",
        "inr",
        "med_review",
        "pregnancy_check",
        "contrast_allergy",
        "consent",
        "physio_plan",
        "school_plan",
        "parent_stays_overnight",
        "prepare_child",
        "admission",
        "inpatient_stay",
        "what_to_bring",
        "hospital_stay_bag",
        "if_unwell",
        "fasting_solids",
        "fasting_breast_milk",
        "fasting_formula",
        "fasting_clear_liquids",
        "arrival",
        "warning_signs",
        "follow_up",
    ]
    sdr = ProcedureVariant.objects.get(slug="sdr")
    assert (sdr.risk, sdr.risk_to_be_confirmed, sdr.default_anaesthesia) == ("high", True, "general")
    assert (sdr.cardiac_risk, sdr.cardiac_risk_to_be_confirmed) == ("intermediate", True)
    for item in TemplateItem.objects.filter(template__slug="sdr", code__in=("sdr_assessment", "physio_plan")):
        assert "clinic_tbc" in item.source and "sdr_family" in item.source


def test_every_item_is_bilingual_and_sourced(catalogue: None) -> None:
    for item in TemplateItem.objects.all():
        for field in (
            "title_en",
            "patient_title_en",
            "patient_title_es",
            "instructions_en",
            "instructions_es",
            "why_en",
            "why_es",
            "source",
        ):
            assert getattr(item, field).strip(), (item.template.slug, item.code, field)
        assert item.instructions_en != item.instructions_es


def test_seed_document_is_quoted_as_a_source(catalogue: None) -> None:
    seed_items = TemplateItem.objects.filter(source__icontains="seed")
    assert {"mri", "hemoglobin", "ecg", "arrival", "fasting_solids", "hold:*"} <= set(
        seed_items.values_list("code", flat=True)
    )


def test_drug_rules_are_sourced_and_unverified_ones_flagged(catalogue: None) -> None:
    assert Drug.objects.count() >= 26
    assert all(d.source for d in Drug.objects.all())
    unverified = set(Drug.objects.filter(to_be_confirmed=True).values_list("substance", flat=True))
    # clinical-reference 3: the unverified list, plus the heparin, fondaparinux, vorapaxar and
    # supplement rows whose values were not read.
    assert unverified == {
        "clopidogrel",
        "prasugrel",
        "ticagrelor",
        "dabigatran",
        "rivaroxaban",
        "apixaban",
        "edoxaban",
        "heparin",
        "fondaparinux",
        "vorapaxar",
        "fish oil",
        "ginkgo",
        "garlic",
        "vitamin e",
    }
    warfarin = Drug.objects.get(substance="warfarin")
    assert warfarin.needs_normal_inr and warfarin.hold_for("high") == ("hold", 120)


def test_loading_twice_changes_nothing_and_keeps_admin_edits(catalogue: None) -> None:
    item = TemplateItem.objects.get(template__slug="lumbar-facet-rf", code="hemoglobin")
    item.validity_days = 14  # a clinic's own edit in the admin
    item.save()
    report = catalogue_load()
    assert report.already_loaded
    item.refresh_from_db()
    assert item.validity_days == 14
    assert CatalogueRelease.objects.count() == 1
    report = catalogue_load(force=True)
    item.refresh_from_db()
    assert item.validity_days == 30 and report.updated["items"] == TemplateItem.objects.count()


def test_item_behaviour_is_loaded_from_the_file_with_defaults_by_category(catalogue: None) -> None:
    items = {i.code: i for i in TemplateItem.objects.filter(template__slug="trigeminal-rf")}
    arrival, solids, mri, hold = items["arrival"], items["fasting_solids"], items["mri"], items["hold:*"]
    assert (arrival.confirm_as, arrival.reminder_kind, arrival.show_time, arrival.calendar) == (
        "ride",
        "arrival",
        "arrive_by",
        "arrival",
    )
    assert (solids.confirm_as, solids.reminder_kind, solids.show_time) == ("last_meal", "fasting", "last_food")
    assert (hold.confirm_as, hold.reminder_kind) == ("last_dose", "hold")
    # Not named in the file: reminders speak of tests for imaging, a plain tick, the day only.
    assert (mri.confirm_as, mri.reminder_kind, mri.show_time, mri.calendar) == ("done", "tests", "", "")


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.load(DEFAULT_PATH.read_text(), Loader=yaml.CSafeLoader)
    data["version"] = "test-1"
    mutate(data)
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["items"][0].update(conditions={"min_age": "old"}), "min_age must be an age"),
        (lambda d: d["items"][0].update(conditions={"eval": "True"}), "unknown condition key 'eval'"),
        (lambda d: d["items"][0].update(conditions={"flags_any": ["vampire"]}), "unknown values"),
        (lambda d: d["items"][0].update(timing={"days": -1, "at": "25:00"}), "is not a time"),
        (lambda d: d["items"][0].pop("source"), "missing 'source'"),
        (lambda d: d["drugs"][0]["hold"].update(high="six days"), "is not a duration"),
        (lambda d: d["templates"][0]["items"].append("nonexistent"), "not in the items library"),
        (lambda d: d["procedures"][0].update(risk="extreme"), "is not one of"),
        (
            lambda d: d["items"][0].update(conditions={"any_of": [{"min_age": 65}, {"risk_in": ["extreme"]}]}),
            r"items\[0\] \(mri\)\.conditions: any_of\[1\]: risk_in has unknown values \['extreme'\]",
        ),
        (lambda d: d["items"][0].update(confirm_as="telepathy"), r"items\[0\] \(mri\)\.confirm_as: 'telepathy' is not"),
        (lambda d: d["items"][0].update(reminder_kind="several"), r"\(mri\)\.reminder_kind: 'several' is not one of"),
        (lambda d: d["items"][0].update(show_time="noon"), r"\(mri\)\.show_time: 'noon' is not one of"),
        (lambda d: d["items"][0].update(calendar="party"), r"\(mri\)\.calendar: 'party' is not one of"),
        (
            lambda d: d["templates"][0].setdefault("overrides", {}).update(arrival={"confirm_as": "ride_home"}),
            r"overrides\.arrival\.confirm_as: 'ride_home' is not one of",
        ),
        (lambda d: d["age_bands"][1].update(min_age=2), r"age_bands\[1\] \(young_child\)\.min_age: 2 leaves a gap"),
        (
            lambda d: d["age_bands"][0].update(audience="kids"),
            r"audience: 'kids' is not one of \['patient', 'parent'\]",
        ),
        (lambda d: d["age_bands"][-1].update(max_age=99), "the last band must have no max_age"),
        (
            lambda d: d["items"][0].update(conditions={"age_band_in": ["teen"]}),
            r"items\[0\] \(mri\)\.conditions: age_band_in has unknown values \['teen'\]",
        ),
        (
            lambda d: next(i for i in d["items"] if i["code"] == "fasting_clear_liquids")["timing_options"][
                "children_1h"
            ].update(age_band_in=["teen"]),
            r"\(fasting_clear_liquids\)\.timing_options\.children_1h: age_band_in has unknown values",
        ),
        (lambda d: d["items"][0].update(why_parent_fr="..."), r"unknown keys \['why_parent_fr'\]"),
    ],
)
def test_malformed_catalogue_is_refused_whole(tmp_path: Path, mutate, message: str) -> None:
    def rows() -> tuple:
        return tuple(m.objects.count() for m in (CatalogueRelease, ProcedureVariant, Drug, TemplateItem))

    before = rows()  # the shipped catalogue, loaded once per test session
    with pytest.raises(CatalogueError, match=message):
        catalogue_load(path=_write(tmp_path, mutate))
    assert rows() == before and not CatalogueRelease.objects.filter(version="test-1").exists()


def test_the_admin_shows_a_condition_in_words_and_refuses_a_malformed_one(catalogue: None, client, login) -> None:
    from django.core.exceptions import ValidationError

    from tests.factories import UserFactory

    login(client, UserFactory(email="root@operator.test", is_staff=True, is_superuser=True, clinic=None))
    item = TemplateItem.objects.get(template__slug="lumbar-facet-rf", code="fasting_solids")
    page = client.get(f"/admin/prep/templateitem/{item.pk}/change/")
    assert page.status_code == 200 and "anaesthesia is general or sedation" in page.content.decode()
    item.conditions = {"anaesthesia_in": ["hypnosis"]}
    with pytest.raises(ValidationError, match="anaesthesia_in has unknown values"):
        item.full_clean()
    item.conditions = {"age_band_in": ["teen"]}
    with pytest.raises(ValidationError, match=r"age_band_in has unknown values \['teen'\]; allowed: \['infant'"):
        item.full_clean()
