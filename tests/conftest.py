"""Shared fixtures and the service-marker rules.

Tests marked ``redis``, ``postgres`` or ``browser`` run whenever the service is reachable, are
skipped with a one-line reason when it is not, and fail instead when ``REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings as hypothesis_settings

from tests import services

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"

# Hypothesis profiles: "ci" (the default, `make test`) tries 50 examples per property, "thorough"
# 500 (HYPOTHESIS_PROFILE=thorough, before a release or after changing a form or a validator).
# No example database: nothing is written into the tree, every run draws new examples.
hypothesis_settings.register_profile("ci", max_examples=50, deadline=None, database=None)
hypothesis_settings.register_profile("thorough", max_examples=500, deadline=None, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
_cache: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Django's flush between transactional tests truncates every table; on PostgreSQL the access log
    refuses TRUNCATE (audit migration 0003) unless the flush's own transaction allows it first."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, **kwargs):
        statements = original(self, style, tables, **kwargs)
        return ["SET LOCAL preop.audit_truncate = 'allow'", *statements] if statements else statements

    DatabaseOperations.sql_flush = sql_flush


_RAN_TRANSACTIONAL = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def _note_transactional(request: pytest.FixtureRequest) -> None:
    if _transactional(request.node):
        request.node.stash[_RAN_TRANSACTIONAL] = True


def _transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ()))
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow transactional tests (real workers, a Redis outage, the production stack) first.

    They mostly wait on other processes: started first, their minute of waiting overlaps the rest
    of the suite on the other xdist process instead of ending the run alone. (pytest-django puts
    every transactional test last; the hook below puts the catalogue back after each of them.)
    """
    first = [item for item in items if item.get_closest_marker("slow") and _transactional(item)]
    if first:
        chosen = set(first)
        items[:] = first + [item for item in items if item not in chosen]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After a transactional test's flush emptied every table, load the catalogue again (committed),
    so that the tests after it find the session's state."""
    yield
    # Only after a test that reached its fixtures: a transactional test skipped for a missing
    # service never touched (nor flushed) the test database.
    if nextitem is None or not item.stash.get(_RAN_TRANSACTIONAL, False):
        return
    from pytest_django.plugin import blocking_manager_key

    from prep.loader import catalogue_load
    from prep.models import CatalogueRelease

    with item.config.stash[blocking_manager_key].unblock():
        if not CatalogueRelease.objects.exists():
            catalogue_load()


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name, check in services.CHECKS.items():
        if item.get_closest_marker(name) is None:
            continue
        if name not in _cache:
            _cache[name] = check()
        reason = _cache[name]
        if reason:
            if REQUIRE_SERVICES:
                pytest.fail(f"REQUIRE_SERVICES=1 but the test {reason}", pytrace=False)
            pytest.skip(reason)


@pytest.fixture
def redis_url() -> str:
    import redis

    url = services.test_redis_url()
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker) -> None:
    """The shipped catalogue, loaded once into the new test database as `make run` loads it.

    Every test runs in a transaction rolled back to this state, so the 200 rows are written once
    per session (per xdist worker) instead of once per test.
    """
    from prep.loader import catalogue_load

    with django_db_blocker.unblock():
        catalogue_load()


@pytest.fixture
def catalogue(db: None) -> None:
    """The shipped catalogue. Loaded once per session (above); loaded again only after a
    transactional test's flush emptied the tables (those tests run last, as in Django)."""
    from prep.loader import catalogue_load
    from prep.models import CatalogueRelease

    if not CatalogueRelease.objects.exists():
        catalogue_load()


@pytest.fixture
def no_catalogue(db: None) -> None:
    """A database whose catalogue was never loaded (emptied inside the test's transaction)."""
    from prep.models import (
        CatalogueRelease,
        ChecklistTemplate,
        ClinicTestPolicy,
        Drug,
        KnownMedicine,
        ProcedureVariant,
        TemplateItem,
    )

    for model in (ClinicTestPolicy, TemplateItem, ProcedureVariant, ChecklistTemplate, Drug, KnownMedicine):
        model.objects.all().delete()
    CatalogueRelease.objects.all().delete()


@pytest.fixture
def clinic(db: None):
    from tests.factories import ClinicFactory

    return ClinicFactory(slug="westside", name="Westside Spine Center")


@pytest.fixture
def nurse(clinic):
    from tests.factories import UserFactory

    return UserFactory(clinic=clinic, email="nurse@westside.test", first_name="Nora", last_name="Nurse")


@pytest.fixture
def surgeon(clinic):
    from accounts.models import Role
    from tests.factories import UserFactory

    return UserFactory(
        clinic=clinic, role=Role.SURGEON, email="surgeon@westside.test", first_name="Sam", last_name="Surgeon"
    )


@pytest.fixture
def clinic_admin(clinic):
    from accounts.models import Role
    from tests.factories import UserFactory

    return UserFactory(clinic=clinic, role=Role.CLINIC_ADMIN, email="admin@westside.test")


@pytest.fixture
def other_clinic(db: None):
    from tests.factories import ClinicFactory

    return ClinicFactory(slug="eastside", name="Eastside Pain Clinic")


@pytest.fixture
def outsider_nurse(other_clinic):
    from tests.factories import UserFactory

    # Fixed names: a random surname could be a patient's (tests look for patient names in pages).
    return UserFactory(clinic=other_clinic, email="nurse@eastside.test", first_name="Olive", last_name="Outsider")


@pytest.fixture
def book(catalogue, clinic, nurse):
    """book(procedure_slug, start_at, **patient/surgery options) -> Surgery, through the real actions."""
    from django.utils import timezone

    from actions.booking import surgery_book
    from actions.patients import guardian_add, medication_add, patient_create
    from prep.models import ProcedureVariant
    from tests.factories import PatientFactory

    def _book(
        procedure: str = "lumbar-facet-rf",
        start_at=None,
        *,
        medications=(),
        anaesthesia: str = "",
        patient=None,
        **patient_fields,
    ):
        from tests.factories import in_days

        if patient is None:
            values = PatientFactory.build(clinic=clinic, **patient_fields)
            fields = {
                f: getattr(values, f)
                for f in ("mrn", "first_name", "last_name", "birth_date", "email", "mobile", "language")
            }
            fields.update({k: v for k, v in patient_fields.items() if k not in fields})
            patient = patient_create(clinic=clinic, by=nurse, **fields)
            if patient.guardian_required_on(timezone.localdate(timezone=patient.tz)):
                # A child cannot be booked without a guardian to reach (issue 22): a test that books
                # one through this fixture gets a parent, as the booking form would have asked.
                guardian_add(patient=patient, by=nurse, **DEFAULT_GUARDIAN)
        for med in medications:
            name, _, indication = med.partition(":")
            medication_add(patient=patient, by=nurse, name=name, indication=indication, is_blood_thinner=True)
        return surgery_book(
            patient=patient,
            procedure=ProcedureVariant.objects.get(slug=procedure),
            start_at=start_at or in_days(10),
            anaesthesia=anaesthesia,
            by=nurse,
        )

    return _book


@pytest.fixture
def login():
    """login(client, user): a staff session as after password and, where the role needs it, 2FA."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    def _login(client, user):
        client.force_login(user, backend=settings.AUTHENTICATION_BACKENDS[-1])
        device, _ = TOTPDevice.objects.get_or_create(user=user, defaults={"name": "test", "confirmed": True})
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        assert session[BACKEND_SESSION_KEY]
        session.save()
        return client

    return _login


# The parent the ``book`` fixture gives a child booked without one.
DEFAULT_GUARDIAN = {
    "first_name": "Pat",
    "last_name": "Parent",
    "relationship": "legal_guardian",
    "birth_year": 1980,
    "email": "pat.parent@example.org",
}
MOTHER = {
    "first_name": "Ana",
    "last_name": "Garcia",
    "relationship": "mother",
    "birth_year": 1988,
    "language": "es",
    "email": "ana.garcia@example.org",
    "mobile": "+13105550177",
    "channel_email": True,
    "channel_sms": True,
    "sms_consent": True,
}
FATHER = {
    "first_name": "Luis",
    "last_name": "Garcia",
    "relationship": "father",
    "birth_year": 1985,
    "language": "en",
    "email": "luis.garcia@example.org",
    "channel_email": True,
}
# The child's own contact: while a guardian is needed, nothing may ever reach these.
CHILD_EMAIL = "maria.kid@example.org"
CHILD_MOBILE = "+13105550199"


@pytest.fixture
def book_child(book, clinic, nurse):
    """book_child(procedure, start_at, guardians=[MOTHER], **patient fields) -> Surgery: a patient
    under 18 (Maria, born 2019 unless told) with her own email and mobile, her guardians, through
    the actions (the booking refuses a child without a guardian)."""
    from actions.patients import guardian_add, patient_create

    def _book(
        procedure: str = "lumbar-facet-rf",
        start_at=None,
        *,
        guardians=(MOTHER,),
        anaesthesia: str = "",
        **patient_fields,
    ):
        fields = {
            "mrn": "MRN-KID-1",
            "first_name": "Maria",
            "last_name": "Garcia",
            "birth_date": __import__("datetime").date(2019, 3, 4),
            "email": CHILD_EMAIL,
            "mobile": CHILD_MOBILE,
            "channel_sms": True,
            "sms_consent": True,
            "language": "en",
            **patient_fields,
        }
        patient = patient_create(clinic=clinic, by=nurse, **fields)
        for guardian in guardians:
            guardian_add(patient=patient, by=nurse, **guardian)
        return book(procedure, start_at, patient=patient, anaesthesia=anaesthesia)

    return _book
