"""Portal fixtures: compiled translations, a clean cache, and signing a patient in through the real flow."""

from __future__ import annotations

import datetime as dt

import pytest


@pytest.fixture(scope="session", autouse=True)
def compiled_translations() -> None:
    """A fresh clone has only the .po files (the .mo are build products): compile what is missing."""
    from core.management.commands.compile_translations import compile_all

    compile_all()


@pytest.fixture(autouse=True)
def clean_cache() -> None:
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def issue_link():
    """issue_link(patient) -> token of a new email link."""
    from portal.services import signin_link_create

    def _issue(patient, channel: str = "email") -> str:
        _link, token = signin_link_create(patient=patient, channel=channel, by=None)
        return token

    return _issue


def dob_data(day: dt.date) -> dict[str, str]:
    return {"day": str(day.day), "month": str(day.month), "year": str(day.year)}


@pytest.fixture
def sign_in(issue_link):
    """sign_in(client, patient) -> the response of /p/me/ after the full link + date-of-birth flow."""

    def _sign_in(client, patient):
        token = issue_link(patient)
        opened = client.get(f"/p/in/{token}")
        assert opened.status_code == 302 and opened["Location"] == "/p/in/verify"
        done = client.post("/p/in/verify", dob_data(patient.birth_date))
        assert done.status_code == 302 and done["Location"] == "/p/me/", done.content[:500]
        return client.get("/p/me/")

    return _sign_in
