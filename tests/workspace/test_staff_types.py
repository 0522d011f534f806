"""The staff types the views are annotated with: ``has_clinic`` is ``staff_view``'s check."""

from __future__ import annotations

import pytest

from accounts.models import User
from patients.staff import ClinicStaff, has_clinic
from tests.factories import UserFactory


def test_clinic_staff_is_the_user_model_at_run_time():
    # A subclass would be a second user model (and a migration): it exists for the type checker only.
    assert ClinicStaff is User


@pytest.mark.django_db
def test_has_clinic_is_true_only_for_a_user_linked_to_a_clinic():
    assert has_clinic(UserFactory())
    assert not has_clinic(UserFactory(clinic=None))
