from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def client_for(db, login):
    """client_for(user) -> a Client signed in as that user (None: anonymous), two-factor verified."""

    def _client(user) -> Client:
        client = Client()
        if user is not None:
            login(client, user)
        return client

    return _client


@pytest.fixture
def surgery(book, surgeon):
    s = book("lumbar-facet-rf", medications=["clopidogrel"], first_name="Ana", last_name="Garcia", mrn="MRN0001")
    s.surgeon = surgeon
    s.save(update_fields=["surgeon"])
    return s


def item_of(surgery, code):
    return surgery.checklist.items.select_related("template_item").get(code=code)
