"""The clinic dashboard in a real Chromium: every chart's SVG says what its table says, no CSP violation,
no serious accessibility problem, and each CSV downloads."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import assert_accessible, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# For each chart: [serie index, x label, value text] of every point pygal drew (its <desc class="value">
# beside each bar or dot), and of every table cell that says it is plotted.
READ_CHART = """
(section) => {
  const svg = section.querySelector('svg[role="img"]');
  const points = [...svg.querySelectorAll('g.series')].flatMap((serie) => {
    const index = Number([...serie.classList].find((c) => c.startsWith('serie-')).slice(6));
    return [...serie.querySelectorAll('desc.value')].map((value) => [
      index, value.parentElement.querySelector('desc.x_label').textContent, value.textContent,
    ]);
  });
  const cells = [...section.querySelectorAll('td[data-serie]')].map((td) => [
    Number(td.dataset.serie), td.dataset.label, td.textContent.trim(),
  ]);
  return {points, cells, title: svg.querySelector(':scope > title').textContent,
          labelledby: svg.getAttribute('aria-labelledby')};
}
"""


def test_dashboard_charts_and_tables_agree(live_server, page):
    from playwright.sync_api import expect

    from devtools import demo
    from prep.loader import catalogue_load

    catalogue_load()
    demo.demo_load()
    email, password = next((e, p) for e, p, role, _f, _l in demo.LOGINS if role == "nurse")
    base = live_server.url
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="How the clinic is doing")).to_be_visible()
    sections = page.locator("section[data-chart]")
    assert sections.count() == 6
    compared = 0
    for n in range(sections.count()):
        section = sections.nth(n)
        chart = section.evaluate(READ_CHART)
        slug = section.get_attribute("data-chart")
        assert chart["title"] and chart["labelledby"] == f"chart-{slug}-title chart-{slug}-desc"
        assert sorted(chart["points"]) == sorted(chart["cells"]), slug
        compared += len(chart["cells"])
        # The CSV holds as many rows as the table.
        href = section.get_by_role("link", name="Download CSV").get_attribute("href")
        response = page.request.get(base + href)
        assert response.status == 200 and response.headers["content-type"].startswith("text/csv")
        rows = response.text().strip().splitlines()
        assert len(rows) - 1 == section.locator("tbody tr").count() or section.locator("tbody td[colspan]").count()
    assert compared > 40, "the demo history fills the charts"
    # The stylesheet pygal would have inlined came from /dashboard/charts.css: the bars have their colours.
    fill = page.locator("#chart-results g.plot g.series rect").first.evaluate("(r) => getComputedStyle(r).fill")
    assert fill not in ("rgb(0, 0, 0)", "none", ""), fill
    screenshot(page, "dashboard")
    assert_accessible(page, "clinic dashboard")

    # A filter: one surgeon and a short period; the page and its charts still agree.
    page.get_by_label("Surgeon", exact=True).select_option(label="Samuel Reyes")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name="How the clinic is doing")).to_be_visible()
    chart = page.locator("section[data-chart=readiness]").evaluate(READ_CHART)
    assert sorted(chart["points"]) == sorted(chart["cells"])
    assert_accessible(page, "clinic dashboard, filtered")
