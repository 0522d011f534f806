"""The Django admin for a clinic admin (not a superuser) and for an operator (superuser), every registered model.

The clinic admin of the home clinic sees only his clinic's rows on every admin page (lists, change
pages, history, password change, foreign-key choices) and never the other clinic's patient names; he
cannot make anyone a superuser or grant permissions. The operator sees both clinics. Every admin page
that shows patient data writes an access-log row with the patients it showed, and is ``no-store``.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client

from audit.models import AccessLog
from tests.security.conftest import World, leaks

pytestmark = pytest.mark.django_db

# What a clinic admin may do per model (label -> perms); anything not listed is closed to him (403).
CLINIC_ADMIN_PERMS = {
    "accounts.user": {"view", "add", "change"},
    "patients.clinic": {"view", "change"},
    "patients.patient": {"view", "add", "change", "delete"},
    "patients.surgery": {"view", "add", "change", "delete"},
    "workspace.patientnote": {"view", "add", "change", "delete"},
    "reminders.reminder": {"view"},
    "reminders.smsevent": {"view"},
    "reminders.nursedigest": {"view"},
    "portal.signinlink": {"view"},
    "api.apitoken": {"view", "add"},
    "prep.procedurevariant": {"view"},
    "prep.checklisttemplate": {"view"},
    "prep.templateitem": {"view"},
    "prep.drug": {"view"},
    "prep.knownmedicine": {"view"},
    # A clinic's own policy for the document's tests: his to set, for his clinic only.
    "prep.clinictestpolicy": {"view", "add", "change", "delete"},
}
# Models whose rows belong to a clinic, and a row of each clinic for the tests.
PATIENT_MODELS = (
    "patients.patient",
    "patients.surgery",
    "workspace.patientnote",
    "reminders.reminder",
    "portal.signinlink",
)


def _url(label: str, suffix: str = "") -> str:
    app, model = label.split(".")
    return f"/admin/{app}/{model}/{suffix}"


def _rows(world: World, label: str):
    """One row of the home clinic and one of the away clinic."""
    from accounts.models import User
    from api.models import ApiToken
    from patients.models import Clinic, Patient, Surgery
    from portal.models import SignInLink
    from portal.services import signin_link_create
    from reminders.models import Reminder
    from workspace.models import PatientNote
    from workspace.services import note_add

    out = []
    for side in (world.home, world.away):
        if label == "accounts.user":
            out.append(User.objects.get(pk=side.nurse.pk))
        elif label == "patients.clinic":
            out.append(Clinic.objects.get(pk=side.clinic.pk))
        elif label == "patients.patient":
            out.append(Patient.objects.get(pk=side.patient.pk))
        elif label == "patients.surgery":
            out.append(Surgery.objects.get(pk=side.surgery.pk))
        elif label == "workspace.patientnote":
            if not PatientNote.objects.filter(patient=side.patient).exists():
                note_add(
                    patient=side.patient, surgery=side.surgery, by=side.nurse, kind="note", outcome="", text="called"
                )
            out.append(PatientNote.objects.filter(patient=side.patient).first())
        elif label == "reminders.reminder":
            out.append(Reminder.objects.filter(patient=side.patient).first())
        elif label == "portal.signinlink":
            if not SignInLink.objects.filter(patient=side.patient).exists():
                signin_link_create(patient=side.patient, channel="email", by=None)
            out.append(SignInLink.objects.filter(patient=side.patient).first())
        elif label == "api.apitoken":
            out.append(ApiToken.objects.filter(clinic=side.clinic).first())
        elif label == "prep.clinictestpolicy":
            from prep.models import ClinicTestPolicy

            out.append(ClinicTestPolicy.objects.get_or_create(clinic=side.clinic, code="ecg")[0])
        else:
            return []
    assert all(row is not None for row in out), label
    return out


@pytest.fixture
def admins(world, login):
    from tests.factories import UserFactory

    home_admin = world.home.admin
    home_admin.is_staff = True
    home_admin.save(update_fields=["is_staff"])
    operator = UserFactory(email="root@operator.test", is_staff=True, is_superuser=True, clinic=None)
    return {"clinic_admin": login(Client(), home_admin), "operator": login(Client(), operator)}


def _registered() -> list[str]:
    return sorted(m._meta.label_lower for m in admin.site._registry)


def test_every_registered_model_is_in_the_table():
    third_party = {
        "auth.group",
        "axes.accessattempt",
        "axes.accesslog",
        "axes.accessfailurelog",
        "otp_totp.totpdevice",
        "otp_email.emaildevice",
        "core.heartbeat",
    }
    assert set(_registered()) == set(CLINIC_ADMIN_PERMS) | third_party


def test_every_model_list_and_page_for_clinic_admin_and_operator(world, admins):
    wrong = []
    away_names = world.away.names
    for label in _registered():
        perms = CLINIC_ADMIN_PERMS.get(label, set())
        rows = _rows(world, label)
        for who, client in admins.items():
            listing = client.get(_url(label))
            expected = 200 if who == "operator" or perms else 403
            if listing.status_code != expected:
                wrong.append(f"{who} list {label}: {listing.status_code}, expected {expected}")
            if who == "clinic_admin" and leaks(listing.content, away_names):
                wrong.append(f"{who} list {label}: shows the other clinic's patient")
            add = client.get(_url(label, "add/"))
            if who == "clinic_admin" and add.status_code != (200 if "add" in perms else 403):
                wrong.append(f"{who} add {label}: {add.status_code}")
            for side, row in zip(("home", "away") if rows else (), rows, strict=True):
                change = client.get(_url(label, f"{row.pk}/change/"))
                history = client.get(_url(label, f"{row.pk}/history/"))
                mine = who == "operator" or side == "home"
                if mine and (change.status_code, history.status_code) != (200, 200):
                    wrong.append(f"{who} {side} {label}: change {change.status_code}, history {history.status_code}")
                if not mine:
                    # Not his: Django's answer for a missing object (a redirect to the index) or a refusal.
                    if change.status_code not in (302, 403, 404) or history.status_code not in (302, 403, 404):
                        wrong.append(f"{who} away {label}: change {change.status_code}, history {history.status_code}")
                    if leaks(change.content + history.content, away_names):
                        wrong.append(f"{who} away {label}: leaks the other clinic's patient")
                    if "delete" in perms:
                        deleted = client.post(_url(label, f"{row.pk}/delete/"), {"post": "yes"})
                        if not type(row).objects.filter(pk=row.pk).exists():
                            wrong.append(f"{who} deleted the other clinic's {label} ({deleted.status_code})")
    assert not wrong, "\n".join(wrong)


def test_clinic_admin_cannot_reach_other_clinic_staff_or_grant_powers(world, admins):
    from accounts.models import User

    client = admins["clinic_admin"]
    away_nurse, home_nurse = world.away.nurse, world.home.nurse
    # Another clinic's nurse: no password form, no password set, so no signing in as her.
    assert client.get(f"/admin/accounts/user/{away_nurse.pk}/password/").status_code == 404
    before = User.objects.get(pk=away_nurse.pk).password
    response = client.post(
        f"/admin/accounts/user/{away_nurse.pk}/password/",
        {"password1": "Another-long-pass-42", "password2": "Another-long-pass-42"},
    )
    assert response.status_code == 404 and User.objects.get(pk=away_nurse.pk).password == before
    # His own clinic's nurse: the form is there.
    assert client.get(f"/admin/accounts/user/{home_nurse.pk}/password/").status_code == 200
    # The change form has no superuser, staff, group or permission fields, and posting them does nothing.
    page = client.get(f"/admin/accounts/user/{home_nurse.pk}/change/").content.decode()
    for field in ("is_superuser", "user_permissions", "groups", "is_staff"):
        assert f'name="{field}"' not in page, field
    response = client.post(
        f"/admin/accounts/user/{home_nurse.pk}/change/",
        {
            "email": home_nurse.email,
            "first_name": "Nora",
            "last_name": "Nurse",
            "clinic": world.away.clinic.pk,
            "role": "nurse",
            "is_active": "on",
            "is_superuser": "on",
            "is_staff": "on",
            "user_permissions": ["1"],
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    assert response.status_code in (200, 302)
    nurse = User.objects.get(pk=home_nurse.pk)
    assert not nurse.is_superuser and not nurse.is_staff and nurse.clinic_id == world.home.clinic.pk
    assert not nurse.user_permissions.exists()
    # The clinic choice of a new user is his clinic only; the role choice has no "system".
    add = client.get("/admin/accounts/user/add/").content.decode()
    assert f'value="{world.away.clinic.pk}"' not in add and f'value="{world.home.clinic.pk}"' in add


def test_foreign_key_choices_are_the_clinic_s(world, admins):
    from patients.models import Surgery

    client = admins["clinic_admin"]
    add = client.get("/admin/patients/surgery/add/").content.decode()
    surgeons = add[add.index('name="surgeon"') : add.index("</select>", add.index('name="surgeon"'))]
    assert f'value="{world.away.surgeon.pk}"' not in surgeons and f'value="{world.home.surgeon.pk}"' in surgeons
    # Booking the other clinic's patient by typing its id in the raw-id box is refused.
    response = client.post(
        "/admin/patients/surgery/add/",
        {
            "patient": world.away.patient.pk,
            "procedure": world.home.surgery.procedure_id,
            "surgeon": "",
            "start_at_0": "2030-01-01",
            "start_at_1": "09:00",
            "anaesthesia": "local",
            "status": "booked",
        },
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Surgery.objects.filter(patient=world.away.patient).exclude(pk=world.away.surgery.pk).exists()


@pytest.mark.parametrize("who", ["clinic_admin", "operator"])
def test_admin_reads_of_patient_data_are_logged_and_not_cached(world, admins, who):
    client = admins[who]
    patient = world.home.patient
    for label in PATIENT_MODELS:
        _rows(world, label)
        before = AccessLog.objects.count()
        listing = client.get(_url(label))
        assert listing["Cache-Control"] == "no-store", label
        row = AccessLog.objects.order_by("-id").first()
        assert AccessLog.objects.count() == before + 1 and row.path == _url(label), label
        assert row.patients_count >= 1, label
        page = client.get(_url(label, f"{_rows(world, label)[0].pk}/change/"))
        assert page.status_code == 200 and page["Cache-Control"] == "no-store", label
        row = AccessLog.objects.order_by("-id").first()
        assert row.patient_id == patient.pk and row.allowed, label
    if who == "clinic_admin":
        client.get(_url("patients.patient", f"{world.away.patient.pk}/change/"))
        row = AccessLog.objects.order_by("-id").first()
        assert not row.allowed and row.patient_id is None
