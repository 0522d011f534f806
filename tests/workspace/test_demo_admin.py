"""load_demo (idempotent, DEBUG only) and the Django admin pages."""

from __future__ import annotations

from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from devtools.demo import LOGINS
from patients.models import Patient, Surgery
from prep.selectors import surgeries_upcoming


def test_load_demo_refuses_without_debug(catalogue, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("load_demo")
    assert not Patient.objects.exists()


def test_print_logins_creates_nothing(db, settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("load_demo", "--print-logins", stdout=out)
    for email, password, *_ in LOGINS:
        assert f"{email} / {password}" in out.getvalue()
        assert len(password) >= 12
    assert not User.objects.exists()


def test_load_demo_needs_the_catalogue(no_catalogue, settings):
    settings.DEBUG = True
    with pytest.raises(CommandError, match="load_catalogue"):
        call_command("load_demo")


@pytest.mark.slow
def test_load_demo_is_idempotent_and_covers_every_state(catalogue, settings, client):
    settings.DEBUG = True
    call_command("load_demo", stdout=StringIO())
    call_command("load_demo", stdout=StringIO())
    # 26 bookings ahead, and eight past weeks of six surgeries for the clinic dashboard (issue 21), written once.
    assert Patient.objects.count() == 26 + 48 and Surgery.objects.count() == 26 + 48
    # A child booked for selective dorsal rhizotomy, with the parent's items (issue 22).
    child = Surgery.objects.get(procedure__slug="sdr")
    assert child.patient.age_on(child.start_at.date()) < 18
    assert child.checklist.items.filter(code="parent_stays_overnight").exists()
    assert child.patient.guardians.get().language == "es", "the child's mother receives the messages"
    from insights.models import ReadinessSnapshot

    assert ReadinessSnapshot.objects.values("week").distinct().count() == 8
    assert Surgery.objects.filter(status="cancelled").exclude(cancel_reason="").exists()
    assert User.objects.get(email=LOGINS[0][0]).is_lead_nurse, "the demo nurse sees the dashboard"
    from questionnaires.models import QuestionnaireResponse

    assert QuestionnaireResponse.objects.filter(status="submitted").count() == 1  # one "to reconcile" (issue 20)
    clinic = Patient.objects.first().clinic
    assert clinic.time_zone == "America/Los_Angeles" and clinic.phone
    ranks = Counter(s.readiness_rank for s in surgeries_upcoming(clinic=clinic, days=15))
    assert set(ranks) == {0, 1, 2, 3}  # not ready, at risk, on track, ready
    assert Patient.objects.filter(claustrophobic=True).exists()
    assert Patient.objects.filter(birth_date__year__lt=1945).exists()
    assert Surgery.objects.filter(checklist__items__code__startswith="hold:").exists()
    # The demo's clinic admin uses the admin site limited to his clinic: superusers are operators only.
    demo_admin = User.objects.get(role="clinic_admin")
    assert demo_admin.is_staff and not demo_admin.is_superuser
    email, password, *_ = LOGINS[0]
    response = client.post("/accounts/login/", {"username": email, "password": password})
    assert response.status_code == 302, "the demo login works through the real sign-in page"
    assert client.get("/").status_code == 200


ADMIN_PAGES = [
    "/admin/",
    "/admin/prep/procedurevariant/",
    "/admin/prep/checklisttemplate/",
    "/admin/prep/drug/",
    "/admin/patients/clinic/",
    "/admin/patients/patient/",
    "/admin/patients/surgery/",
    "/admin/accounts/user/",
    "/admin/accounts/user/add/",
    "/admin/workspace/patientnote/",
]


def test_admin_pages(client, surgery, login):
    from tests.factories import UserFactory

    admin = UserFactory(email="root@westside.test", is_staff=True, is_superuser=True, clinic=surgery.patient.clinic)
    login(client, admin)
    for url in ADMIN_PAGES:
        assert client.get(url).status_code == 200, url
    template = surgery.procedure.template
    assert client.get(f"/admin/prep/checklisttemplate/{template.pk}/change/").status_code == 200
    patient_page = client.get(f"/admin/patients/patient/{surgery.patient.pk}/change/")
    assert patient_page.status_code == 200
    assert 'name="clinic"' not in patient_page.content.decode(), "a patient never changes clinic"
    surgery_page = client.get(f"/admin/patients/surgery/{surgery.pk}/change/")
    assert surgery_page.status_code == 200 and 'name="patient"' not in surgery_page.content.decode()
    assert 'name="clinic"' in client.get("/admin/patients/patient/add/").content.decode()
    assert client.get("/admin/patients/patient/", {"q": "Garcia"}).status_code == 200


def test_admin_is_closed_to_nurses(client, nurse):
    client.force_login(nurse)
    assert client.get("/admin/").status_code == 302
