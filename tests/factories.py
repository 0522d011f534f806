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


# --- Documents: the smallest real files of each allowed type, and ones that must be refused ---------


def pdf_bytes(text: str = "ECG: sinus rhythm") -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n" + f"% {text}\n".encode() + b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def png_bytes() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )


def jpeg_bytes() -> bytes:
    # SOI, a JFIF APP0 segment, EOI: enough for every content sniffer.
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


EXE_BYTES = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
HTML_BYTES = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
