"""The development package stays aside: no production app imports it, and bench/ never imports tests/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from devtools.processes import ROOT

PRODUCTION_APPS = (
    "core",
    "accounts",
    "audit",
    "patients",
    "prep",
    "documents",
    "questionnaires",
    "reminders",
    "inbox",
    "workspace",
    "portal",
    "api",
    "config",
)


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def _top_levels(folder: str) -> dict[str, set[str]]:
    return {
        str(path.relative_to(ROOT)): {m.split(".")[0] for m in _imported_modules(path)}
        for path in (ROOT / folder).rglob("*.py")
    }


@pytest.mark.parametrize("app", PRODUCTION_APPS)
def test_no_production_app_imports_devtools(app):
    offenders = [path for path, tops in _top_levels(app).items() if "devtools" in tops]
    assert offenders == []


def test_bench_does_not_import_the_tests():
    offenders = [path for path, tops in _top_levels("bench").items() if "tests" in tops]
    assert offenders == []


def test_devtools_is_installed_for_its_commands():
    from django.core.management import get_commands

    commands = get_commands()
    assert commands["load_demo"] == "devtools" and commands["seed_scale"] == "devtools"
