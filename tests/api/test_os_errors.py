"""A real file-permission error is a server error, never a 403 that shows a server path.

Authorization failures are Django's ``PermissionDenied`` (``accounts.permissions.ActionForbidden``);
the built-in ``PermissionError`` is an ``OSError`` and was turned into a 403 carrying its message.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

SECRET_PATH = "/srv/preop/secrets/key.pem"


def test_an_os_permission_error_is_a_500_without_the_path(api, monkeypatch):
    from api import views

    def broken(*args, **kwargs):
        raise PermissionError(13, "Permission denied", SECRET_PATH)

    monkeypatch.setattr(views.access, "patients_for_user", broken)
    api.raise_request_exception = False
    response = api.get("/api/v1/patients/")
    assert response.status_code == 500
    assert SECRET_PATH not in response.content.decode()


def test_a_refused_action_is_a_403_with_the_reason(api, book):
    surgery = book("lumbar-facet-rf")
    item = surgery.checklist.items.get(code="consent")  # the surgeon's: a token acts as a nurse
    response = api.post(f"/api/v1/items/{item.uuid}/complete/", {}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only the surgeon or prescriber can mark this item done."}
