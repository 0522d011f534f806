"""`make screenshots`: the board, a patient page, the surgeon's worklist and the portal, each at
desktop width and at 375 px, into docs/screenshots/ (the README shows them).

Not a test module (its name does not start with ``test_``): `make test` never runs it; `make
screenshots` names it on pytest's command line, with the real server, the demo data and Chromium.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZES = {"desktop": {"width": 1366, "height": 900}, "375": {"width": 375, "height": 812}}


def test_make_screenshots(live_server, browser, settings):
    from django.utils import timezone

    from devtools import demo
    from patients.models import Surgery
    from portal.services import signin_link_create
    from prep.loader import catalogue_load

    assert CHROMIUM_ARGS  # the session's browser is launched with these (tests/e2e/conftest.py)
    catalogue_load()
    demo.demo_load()
    base = live_server.url
    logins = {role.value: (email, password) for email, password, role, _f, _l in demo.LOGINS}
    surgery = (
        Surgery.objects.filter(clinic__slug=demo.CLINIC["slug"], start_at__gte=timezone.now())
        .exclude(patient__email="")
        .order_by("start_at")
        .first()
    )
    OUT.mkdir(parents=True, exist_ok=True)

    def staff(role: str, shots: list[tuple[str, str]]) -> None:
        for size, viewport in SIZES.items():
            context = browser.new_context(viewport=viewport, locale="en-US")
            page = context.new_page()
            email, password = logins[role]
            page.goto(f"{base}/accounts/login/")
            page.get_by_label("Email address").fill(email)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_load_state("load")
            for name, path in shots:
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / f"{name}-{size}.png"), full_page=size == "375")
            context.close()

    # The demo nurse is the lead nurse: she also sees the clinic dashboard (issue 21), from the demo's history.
    staff("nurse", [("board", "/"), ("patient", f"/surgeries/{surgery.uuid}/"), ("dashboard", "/dashboard/")])
    staff("surgeon", [("worklist", "/worklist/")])
    for size, viewport in SIZES.items():
        context = browser.new_context(viewport=viewport, locale="en-US")
        page = context.new_page()
        _link, token = signin_link_create(patient=surgery.patient, channel="email", by=None)
        page.goto(f"{base}/p/in/{token}")
        born = surgery.patient.birth_date
        page.get_by_label("Day").fill(str(born.day))
        page.get_by_label("Month").select_option(str(born.month))
        page.get_by_label("Year").fill(str(born.year))
        page.get_by_role("button").filter(has_text="Continue").click()
        page.wait_for_url(f"{base}/p/me/")
        page.screenshot(path=str(OUT / f"portal-{size}.png"), full_page=size == "375")
        context.close()
    made = sorted(p.name for p in OUT.glob("*.png"))
    assert len(made) >= 8, made
