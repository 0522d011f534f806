"""factory-boy factories for the domain. The catalogue itself comes from the shipped file."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from accounts.models import Role, User
from patients.models import Clinic, Patient

PASSWORD = "correct horse battery staple"


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Spine Clinic {n}")
    slug = factory.Sequence(lambda n: f"spine-clinic-{n}")
    phone = "+13105550100"
    time_zone = "America/Los_Angeles"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"staff{n}@clinic.test")
    first_name = factory.Faker("first_name")
    # Never a patient's surname (patients get Faker's): pages and leak checks look for patients' names.
    last_name = factory.Sequence(lambda n: f"Staffmember{n}")
    clinic = factory.SubFactory(ClinicFactory)
    role = Role.NURSE
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance: User, create: bool, results: dict | None = None) -> None:
        if create:
            instance.save()


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    birth_date = dt.date(1960, 5, 1)
    email = factory.Sequence(lambda n: f"patient{n}@example.org")
    mobile = "+13105550123"
    channel_email = True


def aware(value: str, tz: str = "America/Los_Angeles") -> dt.datetime:
    """'2026-03-09T08:00' in ``tz`` as an aware datetime."""
    import zoneinfo

    return dt.datetime.fromisoformat(value).replace(tzinfo=zoneinfo.ZoneInfo(tz))


def in_days(days: int, hour: int = 8) -> dt.datetime:
    import zoneinfo

    local = timezone.now().astimezone(zoneinfo.ZoneInfo("America/Los_Angeles")) + dt.timedelta(days=days)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0)
