"""The dashboard page, its CSV files and its stylesheet: who sees them, what they show, what they cost."""

from __future__ import annotations

import csv
import io
import re

import pytest
import time_machine
from django.conf import settings

from accounts.models import Role
from audit.models import AccessLog
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PERIOD = "?start=2026-03-02&end=2026-03-22"


@pytest.fixture
def lead_nurse(clinic):
    return UserFactory(clinic=clinic, email="lead@westside.test", is_lead_nurse=True, last_name="Leadnurse")


def page(client_for, user, url=f"/dashboard/{PERIOD}", now=None):
    from tests.factories import aware

    with time_machine.travel(now or aware("2026-03-25T05:00"), tick=False):
        return client_for(user).get(url)


def test_clinic_admin_and_lead_nurse_see_the_dashboard_others_do_not(
    history, client_for, clinic_admin, lead_nurse, nurse, surgeon
):
    for user in (clinic_admin, lead_nurse):
        response = page(client_for, user)
        assert response.status_code == 200, user
    for user in (nurse, surgeon):
        response = page(client_for, user)
        assert response.status_code == 403, user
        assert "You do not have permission" in response.content.decode()
    assert page(client_for, None).status_code == 302
    # A lead nurse of another role is not one: the flag counts for nurses only.
    surgeon.is_lead_nurse = True
    surgeon.save(update_fields=["is_lead_nurse"])
    assert page(client_for, surgeon).status_code == 403


def test_the_page_shows_the_history_in_svg_and_tables_within_the_csp(history, client_for, clinic_admin):
    response = page(client_for, clinic_admin)
    html = response.content.decode()
    assert sorted(response["Content-Security-Policy"].split("; ")) == sorted(_csp().split("; ")), "the CSP as ever"
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert len(svgs) == 6
    for svg in svgs:
        assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
        assert "<script" not in svg and "<style" not in svg and "style=" not in svg
    assert "<script>" not in html and " style=" not in html
    # The headline: A of four surgeries ready 72 h before, C cancelled for tests, 7.5 days to ready.
    assert re.search(r'data-testid="headline-ready">\s*<div class="display-6">25%</div>', html)
    assert re.search(r'data-testid="headline-cancellations">\s*<div class="display-6">1</div>', html)
    assert "7.5 days" in html
    # The readiness chart's values are the table's, week by week (here for the week of 9 March).
    readiness = svgs[0]
    assert re.findall(r'<desc class="value">([^<]*)</desc>', readiness) == ["50%", "0%", "50%", "0%", "100%", "0%"]
    assert '<td data-serie="0" data-label="9 Mar">50%</td>' in html
    assert '<td data-serie="2" data-label="16 Mar">0%</td>' in html
    assert "1 of these figures were recorded late" in html
    # Patients' names never appear: the dashboard shows counts only.
    for s in (history.a, history.b, history.c, history.d):
        assert s.patient.last_name not in html and s.patient.mrn not in html


def test_each_chart_has_a_csv_with_the_table_numbers(history, client_for, clinic_admin):
    response = page(client_for, clinic_admin, url=f"/dashboard/readiness.csv{PERIOD}")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="westside-readiness-2026-03-02-2026-03-22.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["Week of", "72 h before: surgeries", "72 h before: ready"]
    assert rows[1:] == [
        ["2026-03-02", "0", "", "0", "", "0", "", "0"],
        ["2026-03-09", "2", "50.0", "2", "50.0", "2", "100.0", "0"],
        ["2026-03-16", "2", "0.0", "1", "0.0", "1", "0.0", "1"],
    ]
    cancellations = page(client_for, clinic_admin, url=f"/dashboard/cancellations.csv{PERIOD}").content.decode()
    assert list(csv.reader(io.StringIO(cancellations)))[1:] == [
        ["prep_tests", "Preparation", "1", "0", "0", "1"],
        ["patient_unwell", "Other", "0", "1", "0", "1"],
    ]
    assert page(client_for, clinic_admin, url="/dashboard/nothing.csv").status_code == 404
    assert page(client_for, history.sydney_nurse, url="/dashboard/readiness.csv").status_code == 403


def test_another_clinic_sees_only_its_own_figures(history, client_for, clinic_admin, surgeon):
    html = page(client_for, history.sydney_admin).content.decode()
    assert "Harbour Spine Sydney" in html and "Westside" not in html
    assert re.search(r'data-testid="headline-ready">\s*<div class="display-6">100%</div>', html)
    # Naming the other clinic's surgeon is a bad filter, not a way in.
    response = page(client_for, history.sydney_admin, url=f"/dashboard/{PERIOD}&surgeon={surgeon.email}")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    response = page(client_for, history.sydney_admin, url=f"/dashboard/readiness.csv{PERIOD}&surgeon={surgeon.email}")
    assert response.status_code == 400


def test_bad_periods_are_refused_with_the_reason(history, client_for, clinic_admin):
    response = page(client_for, clinic_admin, url="/dashboard/?start=2026-03-22&end=2026-03-02")
    assert response.status_code == 400 and "must end on or after" in response.content.decode()
    response = page(client_for, clinic_admin, url="/dashboard/?start=2024-01-01&end=2026-03-02")
    assert response.status_code == 400 and "at most 53 weeks" in response.content.decode()
    response = page(client_for, clinic_admin, url="/dashboard/?start=March")
    assert response.status_code == 400 and "Enter a valid date" in response.content.decode()


def test_the_access_log_records_views_and_refusals(history, client_for, clinic_admin, nurse):
    page(client_for, clinic_admin)
    page(client_for, nurse)
    page(client_for, clinic_admin, url=f"/dashboard/items.csv{PERIOD}")
    rows = list(
        AccessLog.objects.filter(action__startswith="GET workspace:dashboard")
        .order_by("id")
        .values("user_email", "action", "allowed", "status_code")
    )
    assert rows == [
        {"user_email": clinic_admin.email, "action": "GET workspace:dashboard", "allowed": True, "status_code": 200},
        {"user_email": nurse.email, "action": "GET workspace:dashboard", "allowed": False, "status_code": 403},
        {
            "user_email": clinic_admin.email,
            "action": "GET workspace:dashboard_csv",
            "allowed": True,
            "status_code": 200,
        },
    ]


def test_a_fixed_number_of_queries_whatever_the_data(history, client_for, clinic_admin, django_assert_num_queries):
    client = client_for(clinic_admin)
    client.get("/dashboard/")  # the session and the device, warmed
    from tests.factories import aware

    counts = []
    for url in (f"/dashboard/{PERIOD}", "/dashboard/?start=2026-04-06&end=2026-04-19"):
        with time_machine.travel(aware("2026-03-25T05:00"), tick=False):
            from django.db import connection
            from django.test.utils import CaptureQueriesContext

            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            counts.append(len(queries))
    assert counts[0] == counts[1]
    with time_machine.travel(aware("2026-03-25T05:00"), tick=False), django_assert_num_queries(counts[0]):
        client.get(f"/dashboard/{PERIOD}&surgeon=surgeon@westside.test&procedure=lumbar-facet-rf")
    # The sign-in checks (session, user, device), the filter's two lists, the eight figure queries, the access log.
    assert counts[0] == 15, counts


def test_the_charts_stylesheet(client_for):
    response = client_for(None).get("/dashboard/charts.css")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/css")
    css = response.content.decode()
    assert ".dashboard-chart .color-0" in css and "#chart-" not in css
    assert "max-age=86400" in response["Cache-Control"]


def test_the_nav_links_to_the_dashboard_for_those_who_may_see_it(
    client_for, clinic_admin, lead_nurse, nurse, catalogue
):
    assert 'href="/dashboard/"' in client_for(clinic_admin).get("/").content.decode()
    assert 'href="/dashboard/"' in client_for(lead_nurse).get("/").content.decode()
    assert 'href="/dashboard/"' not in client_for(nurse).get("/").content.decode()


def _csp() -> str:
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def test_role_values(clinic):
    admin = UserFactory(clinic=clinic, role=Role.CLINIC_ADMIN, email="a2@westside.test")
    assert admin.can_view_clinic_dashboard


def test_the_stylesheet_is_css_not_escaped_xml():
    from workspace.charts import chart_stylesheet

    css = chart_stylesheet()
    assert ".dashboard-chart .plot > .background{fill:#ffffff" in css
    assert "&gt;" not in css and "&amp;" not in css


def test_chart_labels_and_texts_are_escaped():
    from workspace.charts import Series, chart_svg

    svg = chart_svg(
        kind="hbar",
        dom_id="chart-x",
        title='Items <script>alert("t")</script>',
        description="d & <b>",
        labels=['Hold <img src=x onerror="alert(1)">'],
        series=[Series("Overdue", [2])],
    )
    assert "<script" not in svg and "<img" not in svg and "<b>" not in svg
    assert "&lt;img src=x onerror=" in svg and "d &amp; &lt;b&gt;" in svg
