"""The security tests' world: two clinics, each with a booked patient whose checklist has an item in
every state an action needs, staff of every role, API tokens, and a second patient of the first
clinic (the "other patient" of the portal).

Names are unusual on purpose, so that finding one in a response body can only mean a leak.
"""

from __future__ import annotations

import copy
import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from tests.factories import in_days, pdf_bytes

HX = {"HTTP_HX_REQUEST": "true"}


@dataclass
class Side:
    """One clinic's records, as the values the URL and body templates of the tests use."""

    clinic: Any
    nurse: Any
    surgeon: Any
    admin: Any
    patient: Any
    surgery: Any
    other_patient: Any = None
    document: Any = None
    token_raw: str = ""
    spare_token: Any = None
    names: tuple[str, ...] = ()  # last name, first name and MRN: what must never leak
    other_names: tuple[str, ...] = ()
    inbox_message: Any = None

    def item(self, code: str) -> Any:
        return self.surgery.checklist.items.get(code=code)

    @property
    def ids(self) -> dict[str, str]:
        p, s = self.patient, self.surgery
        return {
            "patient": str(p.uuid),
            "patient_version": p.updated_at.isoformat(),
            "mrn": p.mrn,
            "mrn_lower": p.mrn.lower(),
            "last_name_part": p.last_name[:5].lower(),
            "surgery": str(s.uuid),
            "medication": str(p.medications.get(name__iexact="clopidogrel").uuid),
            "item_hb": str(self.item("hemoglobin").uuid),
            "item_ecg": str(self.item("ecg").uuid),
            "item_done": str(self.item("blood_group").uuid),
            "item_confirmed": str(self.item("mri_comfort").uuid),
            "item_hold": str(self.item("hold_approval:clopidogrel").uuid),
            "item_portal": str(self.item("arrival").uuid),
            "hb_version": str(self.item("hemoglobin").version),
            "ecg_version": str(self.item("ecg").version),
            "done_version": str(self.item("blood_group").version),
            "confirmed_version": str(self.item("mri_comfort").version),
            "hold_version": str(self.item("hold_approval:clopidogrel").version),
            "template": str(s.checklist.template.uuid),
            "spare_token": str(self.spare_token.uuid),
            "surgeon_email": self.surgeon.email,
            "document": str(self.document.uuid),
            "inbox_msg": str(self.inbox_message.uuid),
            "guardian": str(self.patient.guardians.get().uuid),
        }


def _side(clinic, nurse, surgeon, admin, *, first: str, last: str, mrn: str, birth: dt.date) -> Side:
    from actions.booking import surgery_book
    from actions.items import item_complete, item_patient_confirm
    from actions.patients import medication_add, patient_create
    from api.services import api_token_create
    from documents.services import document_attach
    from prep.models import ProcedureVariant

    patient = patient_create(
        clinic=clinic,
        by=nurse,
        mrn=mrn,
        first_name=first,
        last_name=last,
        birth_date=birth,
        email=f"{last.lower()}@example.org",
        mobile="+13105550142",
        claustrophobic=True,
    )
    medication_add(patient=patient, by=nurse, name="clopidogrel", is_blood_thinner=True)
    # A legal guardian on record (an adult who is their own contact: the guardian receives nothing,
    # but staff and the API read and edit the record, and another clinic must not reach it).
    from actions.patients import guardian_add

    guardian_add(
        patient=patient,
        by=nurse,
        first_name="Guinevere",
        last_name=f"{last}ward",
        relationship="legal_guardian",
        birth_year=1950,
        email=f"{last.lower()}.guardian@example.org",
    )
    surgery = surgery_book(
        patient=patient,
        procedure=ProcedureVariant.objects.get(slug="lumbar-facet-rf"),
        start_at=in_days(10),
        by=nurse,
        surgeon=surgeon,
        place="Room 4",
        level="L4-L5",
        side="left",
    )
    items = {i.code: i for i in surgery.checklist.items.all()}
    item_complete(item=items["blood_group"], by=nurse, result="A+")
    item_patient_confirm(item=items["mri_comfort"], evidence={"kind": "done", "done": True})
    document = document_attach(
        item=items["ecg"],
        content=pdf_bytes(f"ECG of {clinic.slug}"),
        filename="ecg.pdf",
        declared_type="application/pdf",
        source="security world",
        user=nurse,
    )
    # A submitted health questionnaire (issue 20) for the reconciliation page's rows.
    from tests.questionnaires.test_services import submit_minimal

    submit_minimal(surgery)
    side = Side(
        document=document,
        clinic=clinic,
        nurse=nurse,
        surgeon=surgeon,
        admin=admin,
        patient=patient,
        surgery=surgery,
        names=(last, first, mrn),
    )
    # A lab result waiting in the review queue (a low hemoglobin: the nurse is alerted first).
    from inbox import services as inbox_services
    from tests.inbox.helpers import hemoglobin

    receipt = inbox_services.hl7_receive(
        clinic=clinic, raw=hemoglobin(control=f"{mrn}-1", mrn=mrn, value="8.0"), enqueue=lambda _id: None
    )
    side.inbox_message = inbox_services.message_process(message_id=receipt.message.pk)
    side.token_raw = api_token_create(clinic=clinic, name=f"{clinic.slug} EHR", by=None)[1]
    side.spare_token = api_token_create(clinic=clinic, name="spare", by=None)[0]
    return side


@dataclass
class World:
    home: Side
    away: Side
    clients: dict[str, Client] = field(default_factory=dict)

    def client(self, role: str) -> Client:
        return self.clients[role]


ROLES = ("anon", "self", "other", "nurse", "nurse_x", "surgeon", "admin", "admin_x", "token", "token_x")


def portal_sign_in(client: Client, patient) -> Client:
    """The real flow: a sign-in link, then the date of birth."""
    from portal.services import signin_link_create

    _link, token = signin_link_create(patient=patient, channel="email", by=None)
    opened = client.get(f"/p/in/{token}")
    assert opened.status_code == 302, opened.status_code
    day = patient.birth_date
    done = client.post("/p/in/verify", {"day": str(day.day), "month": str(day.month), "year": str(day.year)})
    assert done.status_code == 302 and done["Location"] == "/p/me/", done.content[:300]
    return client


@pytest.fixture
def world(catalogue, clinic, nurse, surgeon, clinic_admin, other_clinic, outsider_nurse, login) -> World:
    """Both clinics' records and one signed-in client per role (``ROLES``)."""
    from django.core.cache import cache

    from accounts.models import Role
    from actions.booking import surgery_book
    from actions.patients import patient_create
    from core.management.commands.compile_translations import compile_all
    from prep.models import ProcedureVariant
    from tests.factories import UserFactory

    compile_all()
    cache.clear()
    surgeon_x = UserFactory(clinic=other_clinic, role=Role.SURGEON, email="surgeon@eastside.test")
    admin_x = UserFactory(clinic=other_clinic, role=Role.CLINIC_ADMIN, email="admin@eastside.test")
    home = _side(
        clinic,
        nurse,
        surgeon,
        clinic_admin,
        first="Zebulon",
        last="Quixwright",
        mrn="MRN-ZQ-4711",
        birth=dt.date(1957, 4, 11),
    )
    away = _side(
        other_clinic,
        outsider_nurse,
        surgeon_x,
        admin_x,
        first="Oriana",
        last="Vexley",
        mrn="MRN-OV-9090",
        birth=dt.date(1961, 9, 23),
    )
    other = patient_create(
        clinic=clinic,
        by=nurse,
        mrn="MRN-TP-3131",
        first_name="Thaddeus",
        last_name="Plumbrook",
        birth_date=dt.date(1949, 2, 2),
        email="plumbrook@example.org",
    )
    surgery_book(
        patient=other, procedure=ProcedureVariant.objects.get(slug="cervical-facet-rf"), start_at=in_days(12), by=nurse
    )
    home.other_patient = other
    home.other_names = ("Plumbrook", "Thaddeus", "MRN-TP-3131")
    w = World(home=home, away=away)
    # Something in each clinic's access log: a nurse opened her patient's page.
    for side in (home, away):
        assert login(Client(), side.nurse).get(f"/surgeries/{side.surgery.uuid}/").status_code == 200
    staff = {"nurse": nurse, "nurse_x": outsider_nurse, "surgeon": surgeon, "admin": clinic_admin, "admin_x": admin_x}
    for role in ROLES:
        client = Client()
        if role in staff:
            login(client, staff[role])
        elif role == "self":
            portal_sign_in(client, home.patient)
        elif role == "other":
            portal_sign_in(client, other)
        elif role == "token":
            client = Client(HTTP_AUTHORIZATION=f"Bearer {home.token_raw}")
        elif role == "token_x":
            client = Client(HTTP_AUTHORIZATION=f"Bearer {away.token_raw}")
        w.clients[role] = client
    return w


def forbidden_for(world: World, role: str) -> tuple[str, ...]:
    """What a role must never see: the other clinic's patient, and for a patient every other patient."""
    home, away = world.home, world.away
    if role in ("nurse", "surgeon", "admin", "token"):
        return away.names
    if role in ("nurse_x", "admin_x", "token_x"):
        return home.names + home.other_names
    if role == "self":
        return away.names + home.other_names
    if role == "other":
        return away.names + home.names
    return home.names + home.other_names + away.names


@contextmanager
def rolled_back(client: Client | None = None):
    """Run one request and undo everything it wrote (the client keeps its session cookie)."""
    cookies = copy.deepcopy(client.cookies) if client is not None else None
    sid = transaction.savepoint()
    try:
        yield
    finally:
        transaction.savepoint_rollback(sid)
        if client is not None:
            client.cookies = cookies


def leaks(body: bytes, forbidden: tuple[str, ...]) -> list[str]:
    text = body.decode(errors="replace")
    return [s for s in forbidden if s in text]
