"""Staff users: they sign in by email and belong to one clinic with one role."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models

from accounts import permissions


class Role(models.TextChoices):
    NURSE = "nurse", "Nurse"
    SURGEON = "surgeon", "Surgeon / anaesthetist"
    CLINIC_ADMIN = "clinic_admin", "Clinic admin"


class StaffUserManager(UserManager["User"]):
    def _create_user(self, username, email, password, **extra_fields):  # noqa: ANN001, ANN202, ANN003
        email = self.normalize_email(email or username)
        user = self.model(email=email, username=email, **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    # The email is the login, so Django's first argument (the username) is gone: every caller
    # passes ``email=`` by keyword, the narrower signature is on purpose.
    def create_user(self, email=None, password=None, **extra_fields):  # type: ignore[override]  # noqa: ANN001, ANN201, ANN003
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, email, password, **extra_fields)

    def create_superuser(self, email=None, password=None, **extra_fields):  # type: ignore[override]  # noqa: ANN001, ANN201, ANN003
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        extra_fields.setdefault("role", Role.CLINIC_ADMIN)
        return self._create_user(email, email, password, **extra_fields)


class User(AbstractUser):
    # The email is the login; ``username`` is kept equal to it for Django's own tooling.
    email = models.EmailField("email address", unique=True)
    clinic = models.ForeignKey("patients.Clinic", null=True, blank=True, on_delete=models.PROTECT, related_name="staff")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.NURSE)
    # A flag beside the role, not a fourth role: a lead nurse works the board and the checklists as
    # every nurse does (the permission table reads the role), and also sees the clinic dashboard.
    is_lead_nurse = models.BooleanField(
        "lead nurse", default=False, help_text="A nurse who also sees the clinic dashboard (clinic admins always do)."
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[StaffUserManager] = StaffUserManager()

    # Installed on the signed-in user by django-otp's OTPMiddleware.
    is_verified: Callable[[], bool]

    def save(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        self.username = self.email
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.email

    @property
    def is_nurse(self) -> bool:
        return self.role == Role.NURSE

    @property
    def is_surgeon(self) -> bool:
        return self.role == Role.SURGEON

    @property
    def is_clinic_admin(self) -> bool:
        return self.role == Role.CLINIC_ADMIN

    @property
    def can_view_clinic_dashboard(self) -> bool:
        return permissions.allowed_to_view(self, permissions.VIEW_CLINIC_DASHBOARD)

    def __str__(self) -> str:
        return self.display_name
