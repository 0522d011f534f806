"""Dates at the edge of the calendar are refused with a message, never a crash."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from django.core.exceptions import ValidationError

from actions.booking import surgery_update

LA = zoneinfo.ZoneInfo("America/Los_Angeles")
pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("year", [2100, 9999])
def test_booking_far_in_the_future_is_refused(book, year: int) -> None:
    with pytest.raises(ValidationError) as info:
        book("trigeminal-rf", dt.datetime(year, 12, 31, 8, 0, tzinfo=LA))
    assert "start_at" in info.value.message_dict


def test_reschedule_far_in_the_future_is_refused(book, nurse) -> None:
    surgery = book("trigeminal-rf")
    with pytest.raises(ValidationError) as info:
        surgery_update(surgery=surgery, by=nurse, start_at=dt.datetime(9999, 12, 31, 8, 0, tzinfo=LA))
    assert "start_at" in info.value.message_dict
