"""Migration prep 0003: template items loaded before the behaviour attributes keep what their codes gave them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("prep", "0002_medicines_and_thrombotic_risk")]
AFTER = [("prep", "0003_template_item_behaviour")]
# code, category -> confirm_as, reminder_kind, show_time, calendar, as the planner and portal read the code.
EXPECTED = {
    ("arrival", "logistics"): ("ride", "arrival", "arrive_by", "arrival"),
    ("fasting_solids", "fasting"): ("last_meal", "fasting", "last_food", "stop_eating"),
    ("fasting_clear_liquids", "fasting"): ("last_drink", "fasting", "last_drink", "stop_drinking"),
    ("hold:*", "medication"): ("last_dose", "hold", "", ""),
    ("liquid_diet:*", "fasting"): ("done", "fasting", "time", ""),
    ("follow_up", "follow_up"): ("done", "task", "", "follow_up"),
    ("mri", "imaging"): ("done", "tests", "", ""),
    ("hemoglobin", "tests"): ("done", "tests", "", ""),
    ("escort", "logistics"): ("done", "task", "", ""),
}


def test_existing_template_items_get_the_behaviour_their_codes_had():
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE)
        old = executor.loader.project_state(BEFORE).apps
        template = old.get_model("prep", "ChecklistTemplate").objects.create(slug="t", name="T", version="1")
        TemplateItem = old.get_model("prep", "TemplateItem")
        for code, category in EXPECTED:
            TemplateItem.objects.create(
                template=template,
                code=code,
                category=category,
                assignee="patient",
                title_en=code,
                patient_title_en=code,
                patient_title_es=code,
                instructions_en=code,
                instructions_es=code,
                source="test",
            )
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        new = executor.loader.project_state(AFTER).apps
        # Only this template's rows: the shipped catalogue is in the database too (loaded once per session).
        rows = (
            new.get_model("prep", "TemplateItem")
            .objects.filter(template__slug="t")
            .values_list("code", "category", "confirm_as", "reminder_kind", "show_time", "calendar")
        )
        assert {(code, category): rest for code, category, *rest in rows} == {k: list(v) for k, v in EXPECTED.items()}
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
