"""Browser tests: Playwright driving Debian's Chromium against the real server (live_server).

Playwright never downloads a browser here: it launches /usr/bin/chromium. A failing test leaves
a screenshot under tests/artifacts/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import CHROMIUM

# Playwright's sync API runs an event loop in this thread; the tests also use the ORM directly.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: object) -> Iterator[object]:
    """A fresh browser context per test; a screenshot is kept when the test fails."""
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(10_000)
    watch_console(page)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


def screenshot(page: object, name: str) -> Path:
    """Keep a screenshot for people to look at (the README links the latest ones)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# --- accessibility and the Content-Security-Policy, checked on every page a test visits -------------

# WCAG 2.2 AA as axe-core tags it (2.0, 2.1 and 2.2, levels A and AA).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = ("serious", "critical")


def watch_console(page: object) -> list[str]:
    """Keep the page's console errors (CSP violations are reported there) on ``page.console_errors``."""
    errors: list[str] = []
    page.console_errors = errors
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def axe_violations(page: object) -> list[str]:
    """Serious and critical WCAG 2.2 AA violations on the current page, one line each.

    axe-core is the copy bundled in axe-playwright-python (no network); it is injected through
    Playwright's evaluate, which the page's Content-Security-Policy does not apply to.
    """
    from axe_playwright_python.sync_playwright import Axe

    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]}
    results = Axe().run(page, options=options)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


def assert_accessible(page: object, name: str) -> None:
    """0 serious or critical axe violations, and no CSP violation logged since the last check."""
    page.wait_for_load_state("load")
    problems = axe_violations(page)
    csp = [e for e in getattr(page, "console_errors", []) if "Content Security Policy" in e or "Refused to" in e]
    if hasattr(page, "console_errors"):
        page.console_errors.clear()
    assert problems == [] and csp == [], f"{name} ({page.url}): {problems} {csp}"
