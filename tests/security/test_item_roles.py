"""Who may change which item: every item kind x every role x every action, through the service, the pages
and the API. The expectations are written out here by hand (not read from ``accounts.permissions``), so
that a change of the table in the code has to be made here too, on purpose.

Kinds are the item's assignee. A decision item (``hold_approval:<drug>``) is assigned to the surgeon:
only a surgeon decides it, and nobody ticks, closes or reopens it outside the decision (409 for the
surgeon, 403 for everyone else). Each cell runs in a savepoint that is rolled back.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from accounts import permissions as perms
from actions import decisions as decision_actions
from actions import items as item_actions
from api.models import ApiToken
from prep import services as prep
from prep.models import ChecklistItem, ItemStatus
from tests.security.conftest import HX, World, rolled_back

pytestmark = pytest.mark.django_db

# The item of each kind in the world's checklist (lumbar facet RF with clopidogrel).
ITEMS = {
    "nurse": "ecg",
    "patient": "arrival",
    "surgeon": "consent",
    "decision": "hold_approval:clopidogrel",
}
STAFF_ROLES = ("nurse", "surgeon", "admin", "token")
ACTIONS = ("complete", "not_applicable", "undo", "accept", "decide")

CARE = {"nurse", "surgeon", "admin", "token"}
# (kind, action) -> roles allowed; every other role is refused with a 403 / PermissionDenied.
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("nurse", "complete"): CARE,
    ("nurse", "not_applicable"): CARE,
    ("nurse", "undo"): CARE,
    ("patient", "complete"): CARE,
    ("patient", "not_applicable"): CARE,
    ("patient", "undo"): CARE,
    ("patient", "accept"): CARE,
    ("surgeon", "complete"): {"surgeon"},
    ("surgeon", "not_applicable"): {"surgeon"},
    ("surgeon", "undo"): {"surgeon"},
    ("surgeon", "decide"): {"surgeon"},  # allowed, then 409: consent is not a hold decision
    ("decision", "complete"): {"surgeon"},  # allowed, then 409: only through the decision
    ("decision", "not_applicable"): {"surgeon"},
    ("decision", "undo"): {"surgeon"},
    ("decision", "decide"): {"surgeon"},
}
# Cells where the role passes the table but the item's state or nature refuses the change.
CONFLICT = {
    ("surgeon", "decide"),
    ("decision", "complete"),
    ("decision", "not_applicable"),
    ("decision", "undo"),
}

PAGE_PATHS = {
    "complete": "/items/{uuid}/complete/",
    "not_applicable": "/items/{uuid}/not-applicable/",
    "undo": "/items/{uuid}/undo/",
    "accept": "/items/{uuid}/accept/",
    "decide": "/items/{uuid}/hold/",
}
API_PATHS = {"complete": "/api/v1/items/{uuid}/complete/", "not_applicable": "/api/v1/items/{uuid}/not-applicable/"}


def _result(item: ChecklistItem) -> str:
    ti = item.template_item
    kind = ti.result_kind if ti else "none"
    return {"choice": (ti.result_choices or [""])[0] if ti else "", "number": "13", "text": "normal"}.get(kind, "")


def _prepare(world: World, kind: str, action: str) -> ChecklistItem:
    """The item of ``kind`` in the state ``action`` needs, set by someone allowed to set it."""
    side = world.home
    item = side.item(ITEMS[kind])
    by = side.surgeon if item.assignee == "surgeon" else side.nurse
    if action == "undo":
        if kind == "decision":
            item = decision_actions.hold_decide(item=item, by=side.surgeon, approve=True, hold_days=7)
        else:
            item = item_actions.item_complete(item=item, by=by, result=_result(item))
    elif action == "accept" and item.assignee == "patient":
        item = item_actions.item_patient_confirm(item=item, evidence={"confirmed": "yes"})
    return ChecklistItem.objects.select_related("template_item").get(pk=item.pk)


def _service(item: ChecklistItem, action: str, by: Any) -> str:
    """Call the service; "ok", "conflict" or "forbidden"."""
    try:
        if action == "complete":
            item_actions.item_complete(item=item, by=by, result=_result(item))
        elif action == "not_applicable":
            item_actions.item_mark_not_applicable(item=item, by=by, reason="does not apply")
        elif action == "undo":
            item_actions.item_undo(item=item, by=by, reason="entered by mistake")
        elif action == "accept":
            item_actions.item_accept(item=item, by=by)
        else:
            decision_actions.hold_decide(item=item, by=by, approve=True, hold_days=7)
    except PermissionDenied:
        return "forbidden"
    except prep.ItemConflict:
        return "conflict"
    return "ok"


def _page_body(item: ChecklistItem, action: str) -> dict[str, str]:
    body = {"version": str(item.version)}
    if action == "complete":
        body["result"] = _result(item)
    elif action in ("not_applicable", "undo"):
        body["reason"] = "entered by mistake"
    elif action == "decide":
        body.update({"decision": "approve", "hold_days": "7", "note": "ok"})
    return body


def _expected(kind: str, action: str, role: str) -> str:
    if role not in ALLOWED.get((kind, action), set()):
        return "forbidden"
    if (kind, action) in CONFLICT or (action == "accept" and kind != "patient"):
        return "conflict"
    return "ok"


def _page_outcome(status: int, content: bytes, item_before: ChecklistItem, item_after: ChecklistItem) -> str:
    if status == 403:
        return "forbidden"
    changed = (item_after.status, item_after.version) != (item_before.status, item_before.version)
    if status in (200, 302) and changed:
        return "ok"
    if status in (200, 302, 409) and not changed:
        return "conflict"
    return f"status {status}"


def test_every_kind_role_and_action_through_the_service(world):
    side = world.home
    actors = {
        "nurse": side.nurse,
        "surgeon": side.surgeon,
        "admin": side.admin,
        "token": ApiToken.objects.get(clinic=side.clinic, name__endswith="EHR").user,
    }
    wrong = []
    for kind in ITEMS:
        for action in ACTIONS:
            for role, actor in actors.items():
                with rolled_back():
                    item = _prepare(world, kind, action)
                    before = (item.status, item.version)
                    got = _service(item, action, actor)
                    item.refresh_from_db()
                    if got != "ok" and (item.status, item.version) != before:
                        wrong.append(f"{kind} {action} {role}: refused but changed")
                    if got != _expected(kind, action, role):
                        wrong.append(f"{kind} {action} {role}: expected {_expected(kind, action, role)}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_only_the_patient_confirms_and_only_patient_items(world):
    side = world.home
    for kind, code in ITEMS.items():
        with rolled_back():
            item = side.item(code)
            if kind == "patient":
                assert (
                    item_actions.item_patient_confirm(item=item, evidence={"ok": 1}).status
                    == ItemStatus.PATIENT_CONFIRMED
                )
            else:
                with pytest.raises(perms.ActionForbidden):
                    item_actions.item_patient_confirm(item=item, evidence={"ok": 1})
                item.refresh_from_db()
                assert item.status == ItemStatus.OPEN


@pytest.mark.parametrize("hx", [False, True], ids=["form", "htmx"])
def test_every_kind_role_and_action_through_the_pages(world, hx):
    wrong = []
    for kind in ITEMS:
        for action in ACTIONS:
            if action == "decide" and kind not in ("decision", "surgeon"):
                continue  # the hold form only exists for decisions; the service cell covers the rest
            for role in ("nurse", "surgeon", "admin"):
                client: Client = world.client(role)
                with rolled_back(client):
                    item = _prepare(world, kind, action)
                    response = client.post(
                        PAGE_PATHS[action].format(uuid=item.uuid), _page_body(item, action), **(HX if hx else {})
                    )
                    after = ChecklistItem.objects.get(pk=item.pk)
                    got = _page_outcome(response.status_code, response.content, item, after)
                    if got != _expected(kind, action, role):
                        wrong.append(f"{kind} {action} {role}: expected {_expected(kind, action, role)}, got {got}")
    assert not wrong, "\n".join(wrong)


def test_every_kind_and_role_through_the_api(world):
    wrong = []
    for kind in ITEMS:
        for action, path in API_PATHS.items():
            for role in STAFF_ROLES:
                client: Client = world.client(role)
                with rolled_back(client):
                    item = _prepare(world, kind, action)
                    body = {"result": _result(item)} if action == "complete" else {"reason": "does not apply"}
                    response = client.post(path.format(uuid=item.uuid), body, content_type="application/json")
                    after = ChecklistItem.objects.get(pk=item.pk)
                    got = _page_outcome(response.status_code, response.content, item, after)
                    if got == "forbidden":
                        assert response.json()["detail"].startswith("Only "), response.content
                    if got != _expected(kind, action, role):
                        wrong.append(f"{kind} {action} {role}: expected {_expected(kind, action, role)}, got {got}")
    assert not wrong, "\n".join(wrong)


# Attaching a document changes no state (status and version stay), so it has its own cells: the whole care
# team attaches to every kind of item (a nurse files the surgeon's signed consent); a patient never does.
ATTACH_ALLOWED = dict.fromkeys(ITEMS, CARE)


def test_attach_by_every_kind_and_role_through_the_action_and_the_pages(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from actions.documents import document_upload
    from documents.models import Document
    from tests.factories import png_bytes

    side = world.home
    actors = {
        "nurse": side.nurse,
        "surgeon": side.surgeon,
        "admin": side.admin,
        "token": ApiToken.objects.get(clinic=side.clinic, name__endswith="EHR").user,
        "nurse_x": world.away.nurse,
    }
    wrong = []
    for kind, code in ITEMS.items():
        for role, actor in actors.items():
            want = "ok" if role in ATTACH_ALLOWED[kind] else "forbidden"
            with rolled_back():
                item = side.item(code)
                try:
                    document_upload(item=item, by=actor, upload=SimpleUploadedFile("x.png", png_bytes(), "image/png"))
                    got = "ok"
                except PermissionDenied:
                    got = "forbidden"
                if got == "ok" and not Document.objects.filter(item=item).exists():
                    got = "nothing saved"
            if got != want:
                wrong.append(f"action: {kind} attach {role}: expected {want}, got {got}")
            if role in ("token", "nurse_x"):
                continue  # no page session (the token) / a 404 before any role check (the matrix has it)
            client: Client = world.client(role)
            with rolled_back(client):
                item = side.item(code)
                file = SimpleUploadedFile("x.png", png_bytes(), "image/png")
                response = client.post(f"/items/{item.uuid}/documents/", {"file": file}, **HX)
                got = (
                    "ok" if Document.objects.filter(item=item, filename="x.png").exists() else f"{response.status_code}"
                )
            if got != want:
                wrong.append(f"page: {kind} attach {role}: expected {want}, got {got}")
    assert perms.ATTACH in perms.ACTIONS and not perms.allowed(None, perms.ATTACH, perms.KIND_PATIENT)
    assert not wrong, "\n".join(wrong)
