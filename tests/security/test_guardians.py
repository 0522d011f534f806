"""A parent or guardian signed in to the portal (issue 22) reaches their own child's preparation and
nothing else: not another patient of the clinic, not another clinic's patient, no staff page, no API.
The staff and token cells of guardians' records are in the matrix (test_matrix.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from audit.models import AccessLog
from patients.models import Guardian
from portal.services import signin_link_create
from tests.security.conftest import leaks, rolled_back

pytestmark = pytest.mark.django_db


@pytest.fixture
def guardian_world(world, nurse):
    from actions.booking import surgery_book
    from actions.patients import guardian_add, patient_create
    from prep.models import ProcedureVariant
    from tests.factories import in_days

    child = patient_create(
        clinic=world.home.clinic,
        by=nurse,
        mrn="MRN-CH-5151",
        first_name="Philomena",
        last_name="Drummondsey",
        birth_date=dt.date(2018, 5, 5),
        email="philomena.kid@example.org",
    )
    guardian = guardian_add(
        patient=child,
        by=nurse,
        first_name="Hortensia",
        last_name="Drummondsey",
        relationship="mother",
        birth_year=1986,
        email="hortensia@example.org",
    )
    surgery_book(
        patient=child, procedure=ProcedureVariant.objects.get(slug="lumbar-facet-rf"), start_at=in_days(9), by=nurse
    )
    client = Client()
    _link, token = signin_link_create(patient=child, channel="email", by=None, guardian=guardian)
    assert client.get(f"/p/in/{token}").status_code == 302
    done = client.post("/p/in/verify", {"day": "5", "month": "5", "year": "2018", "guardian_year": "1986"})
    assert done.status_code == 302 and done["Location"] == "/p/me/"
    return world, child, guardian, client


def test_a_guardian_sees_their_child_only(guardian_world):
    world, _child, _guardian, client = guardian_world
    forbidden = world.home.names + world.home.other_names + world.away.names
    page = client.get("/p/me/")
    assert page.status_code == 200 and "Philomena" in page.content.decode()
    assert not leaks(page.content, forbidden)
    for side_patient in (world.home.patient, world.home.other_patient, world.away.patient):
        item = side_patient.surgeries.get().checklist.items.get(code="arrival")
        for method in ("get", "post"):
            with rolled_back(client):
                response = getattr(client, method)(
                    f"/p/me/items/{item.uuid}/confirm/", {"ride_arranged": "on"} if method == "post" else None
                )
                assert response.status_code == 404, (side_patient.mrn, method)
                assert not leaks(response.content, forbidden)
        item.refresh_from_db()
        assert item.status == "open"


def test_a_guardian_is_nobody_on_staff_pages_the_api_and_fhir(guardian_world):
    world, child, guardian, client = guardian_world
    for path in (
        "/",
        f"/patients/{child.uuid}/",
        f"/patients/{child.uuid}/guardians/{guardian.uuid}/edit/",
        f"/surgeries/{world.home.surgery.uuid}/",
    ):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), path
    for path in (
        f"/api/v1/patients/{child.uuid}/guardians/",
        f"/api/v1/patients/{child.uuid}/",
        f"/fhir/Patient/{child.uuid}/$preop",
    ):
        assert client.get(path).status_code == 401, path
    # A guardian cannot turn another guardian's (or a patient's) texts on or off: only their own.
    client.post("/p/me/messages/", {"email": ""})
    guardian.refresh_from_db()
    child.refresh_from_db()
    assert guardian.channel_email is False and child.channel_email is True


def test_another_clinics_guardian_link_cannot_sign_in_here_nor_reach_this_clinic(guardian_world, nurse):
    world, _child, _guardian, client = guardian_world
    from actions.patients import guardian_add

    away_guardian = guardian_add(
        patient=world.away.patient,
        by=world.away.nurse,
        first_name="Ignatia",
        last_name="Farrowdale",
        relationship="legal_guardian",
        birth_year=1955,
        email="ignatia@example.org",
    )
    _link, token = signin_link_create(patient=world.away.patient, channel="email", by=None, guardian=away_guardian)
    away_client = Client()
    away_client.get(f"/p/in/{token}")
    # The away patient is an adult who is their own contact: the guardian's link does not sign in.
    day = world.away.patient.birth_date
    response = away_client.post(
        "/p/in/verify", {"day": str(day.day), "month": str(day.month), "year": str(day.year), "guardian_year": "1955"}
    )
    assert response.status_code != 302 and "portal:patient_id" not in away_client.session
    # And the signed-in guardian's session never widens to the other clinic.
    item = world.away.surgery.checklist.items.get(code="arrival")
    assert client.get(f"/p/me/items/{item.uuid}/confirm/").status_code == 404
    assert Guardian.objects.filter(patient=world.away.patient).count() == 2


def test_the_access_log_names_the_guardian_with_the_childs_clinic(guardian_world):
    _world, child, guardian, client = guardian_world
    client.get("/p/me/")
    row = AccessLog.objects.filter(guardian=guardian).latest("at")
    assert (row.role, row.patient_id, row.clinic_id, row.allowed) == ("guardian", child.pk, child.clinic_id, True)
    assert not AccessLog.objects.filter(guardian=guardian).exclude(clinic_id=child.clinic_id).exists()
