"""The bench's dashboard step on a small seeded clinic: snapshots for the past moments, then the page."""

from __future__ import annotations

import pytest

from bench.dashboard import lead_nurse_client, measure, snapshots_fill
from devtools.seeding import seed_scale
from insights.models import ReadinessSnapshot

pytestmark = pytest.mark.django_db


def test_snapshots_fill_and_measure(catalogue):
    seed_scale(clinics=1, patients=40, days=20, seed=5, nurses_per_clinic=2)
    written = snapshots_fill()
    assert written == ReadinessSnapshot.objects.count() > 0
    assert snapshots_fill() == 0 and ReadinessSnapshot.objects.count() == written, "a second fill adds nothing"
    assert (
        ReadinessSnapshot.objects.filter(final=True).count()
        == ReadinessSnapshot.objects.values("surgery").distinct().count()
    )
    assert set(ReadinessSnapshot.objects.values_list("offset_hours", flat=True)) == {72, 48, 24}
    result = measure(lead_nurse_client(), requests=2)
    assert result["median"] > 0 and result["queries"] >= 10
