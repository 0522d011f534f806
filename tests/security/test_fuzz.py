"""Every form and API input fuzzed with Hypothesis: never a 500, never an invalid value stored.

One database state per test (the ``world`` of conftest.py); every example runs in a savepoint that
is rolled back, after ``check_db`` has re-read every row an input can reach and checked it against
the rules (results in range and in the list, no past booking, no birth date in the future, one MRN
per clinic, evidence not in the future...).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import HX, World, rolled_back

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# The number of examples comes from the Hypothesis profile (tests/conftest.py).
FUZZ = settings(
    deadline=None,
    database=None,  # no .hypothesis/ directory in the tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- strategies ---------------------------------------------------------------------------------

# Any text a browser or a script could send (not lone surrogates, which no client can encode), NUL included:
# PostgreSQL refuses NUL in text, so a NUL that reaches the database is a 500 there.
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)
LONG = st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=190, max_size=5000)
NUMBER = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.sampled_from(["1e999", "-0", "3", "25", "25.0001", "2.9999", "13,5", " 12 ", "0x10", "NaN", "Infinity", "1_0"]),
)
TODAY = timezone.localdate()
NEAR_DATE = st.dates(min_value=TODAY - dt.timedelta(days=800), max_value=TODAY + dt.timedelta(days=800))
ANY_DATE = st.one_of(NEAR_DATE, st.dates())
DATE = st.one_of(
    ANY_DATE.map(dt.date.isoformat),
    st.sampled_from(["", "2024-02-30", "0000-00-00", "31/12/2020", "9999-12-31", "1900-01-01", "today"]),
)
TIME = st.one_of(st.times().map(lambda t: t.strftime("%H:%M")), st.sampled_from(["", "24:00", "7", "12:60", "noon"]))
JUNK = st.one_of(TEXT, NUMBER, DATE, LONG)
FIELD_NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=12)


def value(*good: str) -> st.SearchStrategy[str]:
    """A value from the list, or anything else."""
    return st.one_of(st.sampled_from(good), JUNK) if good else JUNK


def mutated(valid: dict, fields: dict[str, st.SearchStrategy], other: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """A valid input with up to four fields replaced (from ``fields``, else ``other``) or removed, and up to
    two unknown fields added. Near-valid input is where bugs hide; Hypothesis shrinks towards the valid one."""
    names = sorted(set(valid) | set(fields))

    @st.composite
    def build(draw: st.DrawFn) -> dict:
        data = dict(valid)
        for name in draw(st.lists(st.sampled_from(names), max_size=min(4, len(names)), unique=True)):
            if draw(st.integers(0, 5)) == 0:
                data.pop(name, None)
            else:
                data[name] = draw(fields.get(name, other))
        for key, extra in draw(st.dictionaries(FIELD_NAME, other, max_size=2)).items():
            data.setdefault(key, extra)
        return data

    return build()


def form(valid: dict[str, str], **fields: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """A POSTed form (strings only)."""
    return mutated(valid, fields, JUNK)


JSON_SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False), TEXT, LONG
)
JSON_ANY = st.recursive(
    JSON_SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6
)
AWARE = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.timezones()
).map(lambda d: d.isoformat())
NEAR_AWARE = st.integers(-3 * 24 * 3600, 400 * 24 * 3600).map(
    lambda s: (timezone.now() + dt.timedelta(seconds=s)).isoformat()
)


def jvalue(*good: object, extra: st.SearchStrategy | None = None) -> st.SearchStrategy:
    options = [JSON_ANY, DATE, AWARE]
    if good:
        options.insert(0, st.sampled_from(good))
    if extra is not None:
        options.insert(0, extra)
    return st.one_of(*options)


def body(valid: dict, **fields: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """A JSON body: random types, strings, numbers and dates; keys missing and extra."""
    return mutated(valid, fields, st.one_of(JSON_ANY, DATE, AWARE))


# --- what must always hold ------------------------------------------------------------------------


def check_db(world: World, since: dt.datetime | None = None) -> None:
    """Every row a form or the API wrote (since ``since``; None: every row), re-read and checked against
    the product's rules."""
    from patients.models import Medication, Patient, Surgery
    from prep.models import Checklist, ChecklistItem, ItemStatus
    from prep.results import result_clean
    from prep.selectors import readiness_compute
    from workspace.models import CallOutcome, NoteKind, PatientNote

    now = timezone.now()
    today = timezone.localdate()

    def changed(qs, field: str = "updated_at"):
        return qs if since is None else qs.filter(**{f"{field}__gte": since})

    dupes = Patient.objects.values("clinic_id", "mrn").annotate(n=Count("id")).filter(n__gt=1)
    assert not dupes.exists(), f"duplicate MRN stored: {list(dupes)}"
    past = Surgery.objects.filter(status__in=("booked", "postponed"), start_at__lte=now)
    assert not past.exists(), f"an active booking in the past: {list(past.values_list('start_at', flat=True))}"
    for patient in changed(Patient.objects.all()):
        patient.full_clean(exclude=["clinic", "created_by", "updated_by"], validate_constraints=False)
        assert patient.mrn.strip() and patient.first_name.strip() and patient.last_name.strip(), patient.pk
        assert patient.birth_date <= today, f"birth date in the future: {patient.birth_date}"
    for surgery in changed(Surgery.objects.select_related("patient__clinic", "surgeon")):
        surgery.full_clean(
            exclude=["patient", "procedure", "surgeon", "go_decided_by", "created_by", "updated_by"],
            validate_constraints=False,
        )
        assert surgery.patient.birth_date < surgery.start_at.astimezone(surgery.patient.clinic.tz).date()
        if surgery.surgeon_id:
            assert surgery.surgeon.clinic_id == surgery.patient.clinic_id, "a surgeon of another clinic"
        if surgery.go_decision == "no_go":
            assert surgery.go_decision_note.strip(), "no go without a reason"
    for medication in changed(Medication.objects.all()):
        medication.full_clean(exclude=["patient", "drug", "created_by", "updated_by"])
        assert medication.name.strip()
    items = ChecklistItem.objects.select_related("template_item", "checklist__surgery__patient__clinic")
    for item in changed(items):
        assert item.status in ItemStatus.values
        tz = item.checklist.surgery.patient.clinic.tz
        if item.status == ItemStatus.DONE and item.template_item is not None:
            local_today = timezone.localdate(now, tz)
            try:
                valid = result_clean(item.template_item, item.result_value, today=local_today) == item.result_value
            except ValidationError:
                valid = False
            assert valid, f"{item.code}: invalid result stored {item.result_value!r}"
        if item.result_at is not None:
            assert item.result_at.astimezone(tz).date() <= timezone.localdate(now, tz), "a result from the future"
        if item.status == ItemStatus.NOT_APPLICABLE:
            assert item.na_reason.strip(), f"{item.code}: not applicable without a reason"
        assert len(item.na_reason) <= 300 and len(item.result_value) <= 200
        evidence = item.evidence or {}
        if "last_dose_date" in evidence:
            assert dt.date.fromisoformat(evidence["last_dose_date"]) <= timezone.localdate(now, tz)
        for key in ("last_meal_at", "last_drink_at"):
            if key in evidence:
                at = dt.datetime.fromisoformat(evidence[key])
                assert now - dt.timedelta(hours=49) < at <= now + dt.timedelta(minutes=6), f"{key} {at}"
    for note in changed(PatientNote.objects.all(), "at"):
        assert note.kind in NoteKind.values and note.text.strip() and len(note.text) <= 4000
        assert note.outcome in CallOutcome.values
        if note.kind == NoteKind.CALL:
            assert note.outcome, "a call without its outcome"
    # The stored readiness is what the one function says of the items it was written with.
    checklists = Checklist.objects.select_related("summary", "surgery__patient__clinic").prefetch_related("items")
    if since is not None:
        checklists = checklists.filter(Q(items__updated_at__gte=since) | Q(summary__computed_at__gte=since)).distinct()
    for checklist in checklists:
        row = getattr(checklist, "summary", None)
        assert row is not None, "a checklist without its readiness summary"
        surgery = checklist.surgery
        values = readiness_compute(
            surgery=surgery, items=checklist.items.all(), clinic=surgery.patient.clinic, now=row.computed_at
        ).summary_values()
        assert {name: getattr(row, name) for name in values} == values, "stored readiness disagrees with the items"


def submit(
    world: World,
    role: str,
    method: str,
    path: str,
    data: dict | None = None,
    *,
    as_json: bool = False,
    hx: bool = False,
):
    """One request in a rolled-back savepoint: never a 500, and the database still right after it."""
    client = world.client(role)
    extra = dict(HX) if hx else {}
    since = timezone.now()
    with rolled_back(client):
        if as_json:
            response = getattr(client, method)(path, json.dumps(data), content_type="application/json", **extra)
        else:
            response = getattr(client, method)(path, data or {}, **extra)
        assert response.status_code < 500, response.status_code
        check_db(world, since)
    return response


def test_the_world_is_valid(world):
    check_db(world)


# --- staff forms ------------------------------------------------------------------------------------

PROCEDURES = ("lumbar-facet-rf", "cervical-facet-rf", "trigeminal-rf", "trigeminal-glycerol", "retired-procedure")
DRUGS = ("clopidogrel", "aspirin-primary", "warfarin", "apixaban", "not-a-drug")
SURGEONS = ("", "surgeon@westside.test", "surgeon@eastside.test", "nurse@westside.test")


class Tally:
    """What the examples got: the fuzzing must reach both the accepted and the refused paths."""

    def __init__(self) -> None:
        self.codes: dict[int, int] = {}

    def add(self, response) -> None:
        self.codes[response.status_code] = self.codes.get(response.status_code, 0) + 1

    def check(self, accepted: set[int], refused: set[int]) -> None:
        print(f" statuses {dict(sorted(self.codes.items()))}", end="")
        # Every example of the profile (tests/conftest.py) reached the server.
        assert sum(self.codes.values()) >= settings.default.max_examples, self.codes
        assert set(self.codes) & accepted, f"no example was accepted: {self.codes}"
        assert set(self.codes) & refused, f"no example was refused: {self.codes}"


def _surgery_fields(prefix: str) -> dict[str, st.SearchStrategy]:
    p = prefix
    return {
        f"{p}procedure": value(*PROCEDURES),
        f"{p}start_date": st.one_of(NEAR_DATE.map(dt.date.isoformat), DATE),
        f"{p}start_time": TIME,
        f"{p}anaesthesia": value("", "general", "sedation", "local"),
        f"{p}surgeon": value(*SURGEONS),
        f"{p}place": value("Room 1"),
        f"{p}level": value("L4-L5"),
        f"{p}side": value("", "left", "right", "bilateral"),
    }


def _surgery_valid(prefix: str) -> dict[str, str]:
    return {
        f"{prefix}procedure": "lumbar-facet-rf",
        f"{prefix}start_date": (TODAY + dt.timedelta(days=20)).isoformat(),
        f"{prefix}start_time": "09:00",
        f"{prefix}anaesthesia": "",
        f"{prefix}surgeon": "surgeon@westside.test",
        f"{prefix}place": "Room 1",
        f"{prefix}level": "L4-L5",
        f"{prefix}side": "left",
    }


BOOKING_VALID = {
    "patient-mrn": "MRN-NEW-1",
    "patient-first_name": "Ana",
    "patient-last_name": "López",
    "patient-birth_date": "1950-02-03",
    "patient-sex": "female",
    "patient-language": "es",
    "patient-email": "",
    "patient-mobile": "",
    "patient-allergies": "",
    "med-TOTAL_FORMS": "1",
    "med-INITIAL_FORMS": "0",
    "med-MIN_NUM_FORMS": "0",
    "med-MAX_NUM_FORMS": "10",
    "med-0-drug": "clopidogrel",
    "med-0-name": "",
    "med-0-indication": "",
    "med-0-dose": "75 mg",
    "action": "save",
    **_surgery_valid("surgery-"),
}
BOOKING_FIELDS = {
    "patient-mrn": value("MRN-ZQ-4711", "MRN-TP-3131", "MRN-OV-9090", "mrn-zq-4711", " MRN-ZQ-4711 ", ""),
    "patient-birth_date": st.one_of(NEAR_DATE.map(dt.date.isoformat), DATE),
    "patient-sex": value("female", "male", "other", "unknown"),
    "patient-language": value("en", "es", "fr"),
    "patient-email": value("", "a@example.org", "not an email"),
    "patient-mobile": value("", "+13105550100", "(310) 555-0100", "12"),
    "patient-channel_sms": value("on"),
    "patient-sms_consent": value("on"),
    "patient-claustrophobic": value("on"),
    "med-TOTAL_FORMS": value("0", "2", "3", "11", "-1", "1000"),
    "med-0-drug": value("", *DRUGS),
    "med-0-name": value("", "ibuprofen"),
    "med-0-indication": value("", "primary", "secondary", "weird"),
    "med-0-is_blood_thinner": value("on"),
    "med-1-name": value("warfarin"),
    "action": value("save", "preview", ""),
    "patient": value("", "00000000-0000-4000-8000-000000000000", "not-a-uuid"),
    **_surgery_fields("surgery-"),
}


def test_fuzz_booking_form(world):
    home_patient, away_patient = str(world.home.patient.uuid), str(world.away.patient.uuid)
    tally = Tally()

    @FUZZ
    @given(data=form(BOOKING_VALID, **BOOKING_FIELDS), who=st.sampled_from(["", "", "home", "away"]))
    def run(data, who):
        if who:
            data["patient"] = home_patient if who == "home" else away_patient
        tally.add(submit(world, "nurse", "post", "/book/", data))

    run()
    tally.check({302}, {400})


ITEM_CODES = (
    "hemoglobin",
    "blood_group",
    "mri",
    "ecg",
    "chest_xray",
    "urinalysis",
    "consent",
    "arrival",
    "mri_comfort",
    "hold_approval:clopidogrel",
    "hold:clopidogrel",
)
GOOD_RESULT = {
    "hemoglobin": "13.1",
    "blood_group": "O-",
    "mri": (TODAY - dt.timedelta(days=3)).isoformat(),
    "ecg": "sinus rhythm",
    "chest_xray": "clear",
    "urinalysis": "normal",
}


def _items(world: World) -> dict[str, object]:
    items = {i.code: i for i in world.home.surgery.checklist.items.all()}
    return {code: items[code] for code in ITEM_CODES if code in items}


def test_fuzz_item_complete(world):
    items = _items(world)
    tally = Tally()

    @FUZZ
    @given(
        code=st.sampled_from(sorted(items)),
        mutate=st.data(),
        hx=st.booleans(),
    )
    def run(code, mutate, hx):
        item = items[code]
        valid = {"result": GOOD_RESULT.get(code, ""), "result_date": "", "version": str(item.version)}
        data = mutate.draw(
            form(
                valid,
                result=st.one_of(NUMBER, value("A+", "AB-", "Z+", "", "a+"), DATE),
                result_date=DATE,
                version=value("1", "2", "0", "-1", "99999999999"),
            )
        )
        tally.add(submit(world, "nurse", "post", f"/items/{item.uuid}/complete/", data, hx=hx))

    run()
    tally.check({200, 302}, {400})


def test_fuzz_item_not_applicable_undo_accept(world):
    items = _items(world)
    tally = Tally()

    @FUZZ
    @given(
        code=st.sampled_from(sorted(items)),
        action=st.sampled_from(["not-applicable", "undo", "accept"]),
        mutate=st.data(),
        hx=st.booleans(),
    )
    def run(code, action, mutate, hx):
        item = items[code]
        valid = {"reason": "done at the hospital", "version": str(item.version)}
        data = mutate.draw(form(valid, reason=st.one_of(TEXT, LONG, st.just("   ")), version=value("1", "2", "0", "x")))
        tally.add(submit(world, "nurse", "post", f"/items/{item.uuid}/{action}/", data, hx=hx))

    run()
    tally.check({200, 302}, {400})


def test_fuzz_hold_decision(world):
    items = _items(world)
    tally = Tally()

    @FUZZ
    @given(
        code=st.sampled_from(["hold_approval:clopidogrel", "hold_approval:clopidogrel", "hemoglobin"]),
        mutate=st.data(),
        hx=st.booleans(),
    )
    def run(code, mutate, hx):
        item = items[code]
        valid = {"decision": "approve", "hold_days": "7", "note": "", "version": str(item.version)}
        data = mutate.draw(
            form(
                valid,
                decision=value("approve", "decline"),
                note=st.one_of(TEXT, LONG),
                hold_days=value("1", "30", "0", "31", "-5", "1e3"),
                version=value("1", "2"),
            )
        )
        tally.add(submit(world, "surgeon", "post", f"/items/{item.uuid}/hold/", data, hx=hx))

    run()
    tally.check({200, 302}, {400})


def test_fuzz_go_decision_and_notes(world):
    surgery = world.home.surgery.uuid
    tally = Tally()
    valid = {
        "go": {"decision": "no_go", "note": "INR too high"},
        "notes": {"kind": "call", "outcome": "reached", "text": "Reminded about the fasting."},
    }

    @FUZZ
    @given(which=st.sampled_from(["go", "notes"]), mutate=st.data())
    def run(which, mutate):
        data = mutate.draw(
            form(
                valid[which],
                decision=value("go", "no_go", ""),
                note=st.one_of(TEXT, LONG, st.just(" ")),
                kind=value("note", "call"),
                outcome=value("", "reached", "voicemail", "bogus"),
                text=st.one_of(TEXT, LONG, st.just(" \n ")),
            )
        )
        tally.add(submit(world, "surgeon", "post", f"/surgeries/{surgery}/{which}/", data))

    run()
    tally.check({302}, {400})


def test_fuzz_surgery_edit_and_cancel(world):
    surgery = world.home.surgery.uuid
    tally = Tally()
    valid = {"edit": {**_surgery_valid(""), "action": "confirm"}, "cancel": {"reason": "the patient is unwell"}}

    @FUZZ
    @given(which=st.sampled_from(["edit", "edit", "cancel"]), mutate=st.data())
    def run(which, mutate):
        data = mutate.draw(
            form(
                valid[which],
                **_surgery_fields(""),
                action=value("confirm", "preview", ""),
                reason=st.one_of(TEXT, LONG, st.just("  ")),
            )
        )
        tally.add(submit(world, "nurse", "post", f"/surgeries/{surgery}/{which}/", data))

    run()
    tally.check({302}, {400})


def test_fuzz_medication_add(world):
    patient = world.home.patient.uuid
    tally = Tally()
    valid = {
        "drug": "",
        "name": "warfarin",
        "indication": "",
        "dose": "5 mg",
        "is_blood_thinner": "on",
        "action": "confirm",
    }

    @FUZZ
    @given(
        data=form(
            valid,
            drug=value("", *DRUGS),
            name=st.one_of(TEXT, LONG, st.just("  ")),
            indication=value("", "primary", "secondary", "prophylactic", "therapeutic"),
            dose=st.one_of(TEXT, LONG),
            is_blood_thinner=value("on", "off", ""),
            action=value("confirm", ""),
        )
    )
    def run(data):
        tally.add(submit(world, "nurse", "post", f"/patients/{patient}/medications/add/", data))

    run()
    tally.check({302}, {400})


# --- portal forms ---------------------------------------------------------------------------------


def test_fuzz_portal_link_request(world):
    from django.core import mail
    from django.core.cache import cache

    tally = Tally()
    sent = []

    @FUZZ
    @given(
        data=form(
            {"contact": "quixwright@example.org"},
            contact=value(
                "quixwright@example.org", "QUIXWRIGHT@example.org ", "+13105550142", "(310) 555-0142", "", "zebulon"
            ),
        )
    )
    def run(data):
        cache.clear()  # the rate limit would otherwise answer every later example the same
        mail.outbox.clear()
        tally.add(submit(world, "anon", "post", "/p/", data))
        sent.append(len(mail.outbox))
        for message in mail.outbox:
            assert message.to == ["quixwright@example.org"], message.to

    run()
    tally.check({302}, {200})
    assert any(sent), "no example sent a link"


def test_fuzz_portal_date_of_birth(world):
    from portal.services import signin_link_create

    patient = world.home.other_patient
    day = patient.birth_date
    tally = Tally()

    @FUZZ
    @given(
        data=form(
            {"day": str(day.day), "month": str(day.month), "year": str(day.year)},
            day=value("2", "31", "0", "-1", " 2"),
            month=value("2", "13", "0", ""),
            year=value("1949", "1900", "2100", "99999", ""),
        )
    )
    def run(data):
        client = world.client("anon")
        since = timezone.now()
        with rolled_back(client):
            _link, token = signin_link_create(patient=patient, channel="email", by=None)
            client.get(f"/p/in/{token}")
            response = client.post("/p/in/verify", data)
            tally.add(response)
            assert response.status_code < 500
            if response.status_code == 302 and response["Location"] == "/p/me/":
                assert (int(data["year"]), int(data["month"]), int(data["day"])) == (day.year, day.month, day.day)
            check_db(world, since)

    run()
    tally.check({302}, {200})


@pytest.fixture
def confirmable(world):
    """Patient items of every confirmation kind, open: done, ride, last dose, last meal, last drink."""
    from actions.booking import surgery_book
    from actions.decisions import hold_decide
    from actions.items import item_undo
    from prep.models import ProcedureVariant

    home = world.home
    items = _items(world)
    item_undo(item=items["mri_comfort"], by=home.nurse, reason="ask again")
    hold_decide(item=items["hold_approval:clopidogrel"], by=home.surgeon, approve=True, hold_days=7)
    soon = surgery_book(
        patient=home.other_patient,
        procedure=ProcedureVariant.objects.get(slug="trigeminal-glycerol"),
        start_at=timezone.now() + dt.timedelta(hours=10),
        by=home.nurse,
    )
    own = {i.code: i for i in home.surgery.checklist.items.all()}
    other = {i.code: i for i in soon.checklist.items.all()}
    return [
        ("self", own["mri_comfort"]),
        ("self", own["arrival"]),
        ("self", own["hold:clopidogrel"]),
        ("other", other["fasting_solids"]),
        ("other", other["fasting_clear_liquids"]),
    ]


def test_fuzz_portal_confirm_forms(world, confirmable):
    now = timezone.now()
    local = now.astimezone(world.home.patient.tz)
    near = st.integers(-72 * 60, 72 * 60).map(lambda m: (local + dt.timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M"))
    valid = {
        "done": "on",
        "ride_arranged": "on",
        "last_dose_date": local.date().isoformat(),
        "at": (local - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
    }
    tally = Tally()

    @FUZZ
    @given(
        which=st.sampled_from(range(len(confirmable))),
        data=form(
            valid,
            done=value("on", ""),
            ride_arranged=value("on", ""),
            last_dose_date=st.one_of(NEAR_DATE.map(dt.date.isoformat), DATE),
            at=st.one_of(near, DATE, TEXT),
        ),
    )
    def run(which, data):
        role, item = confirmable[which]
        tally.add(submit(world, role, "post", f"/p/me/items/{item.uuid}/confirm/", data))

    run()
    tally.check({302}, {200})


def test_fuzz_portal_messages_and_language(world):
    tally = Tally()

    @FUZZ
    @given(
        which=st.sampled_from(["/p/me/messages/", "/p/language/"]),
        role=st.sampled_from(["self", "other", "anon"]),
        data=form(
            {"email": "on", "sms": "on", "language": "es", "next": "/p/me/"},
            email=value("on", "off", ""),
            sms=value("on", "off", ""),
            language=value("en", "es", "fr"),
            next=value("/p/me/", "https://evil.example/", "//evil.example", "/p/../admin/", "/p/\\evil"),
        ),
    )
    def run(which, role, data):
        client = world.client(role)
        with rolled_back(client):
            response = submit(world, role, "post", which, data)
            patient = world.home.patient if role == "self" else world.home.other_patient
            patient.refresh_from_db()
            if which == "/p/me/messages/" and patient.channel_sms and role != "anon":
                # Texts turned on in the portal: only to a number we have, and that is the patient's consent.
                assert patient.mobile and patient.sms_consent and not patient.sms_opted_out_at
        tally.add(response)
        if response.status_code == 302:
            assert response["Location"].startswith("/p/") and not response["Location"].startswith("/p/.."), response[
                "Location"
            ]

    run()
    tally.check({302}, {200})


# --- the API ------------------------------------------------------------------------------------------

PATIENT_VALID = {
    "mrn": "API-1",
    "first_name": "Ana",
    "last_name": "López",
    "birth_date": "1950-02-03",
    "mobile": "+13105550100",
    "sms_consent": True,
    "channel_sms": True,
}
PATIENT_FIELDS = {
    "mrn": jvalue("MRN-ZQ-4711", "MRN-TP-3131", "MRN-OV-9090", "API-1", " MRN-ZQ-4711 ", ""),
    "birth_date": jvalue("1950-02-03", extra=NEAR_DATE.map(dt.date.isoformat)),
    "sex": jvalue("female", "unknown"),
    "language": jvalue("en", "es"),
    "time_zone": jvalue("", "Europe/Madrid", "Mars/Olympus"),
    "email": jvalue("", "a@example.org"),
    "mobile": jvalue("", "+13105550100", "555"),
    "channel_sms": jvalue(True, False),
    "sms_consent": jvalue(True, False),
    "claustrophobic": jvalue(True, False),
    "allergies": jvalue("latex"),
}


def test_fuzz_api_patient_create_and_update(world):
    patient = world.home.patient.uuid
    tally = Tally()

    @FUZZ
    @given(data=body(PATIENT_VALID, **PATIENT_FIELDS), update=st.booleans())
    def run(data, update):
        if update:
            tally.add(submit(world, "token", "patch", f"/api/v1/patients/{patient}/", data, as_json=True))
        else:
            tally.add(submit(world, "token", "post", "/api/v1/patients/", data, as_json=True))

    run()
    tally.check({200, 201}, {400})


def _surgery_body(world: World, **valid: object) -> st.SearchStrategy[dict]:
    return body(
        valid,
        patient=jvalue(str(world.home.patient.uuid), str(world.away.patient.uuid), str(world.home.other_patient.uuid)),
        procedure=jvalue(*PROCEDURES),
        start_at=jvalue(extra=NEAR_AWARE),
        anaesthesia=jvalue("", "general", "sedation", "local"),
        surgeon=jvalue(*SURGEONS),
        place=jvalue("Room 1"),
        level=jvalue("L4-L5"),
        side=jvalue("", "left", "bilateral"),
        reason=jvalue("moved"),
    )


def test_fuzz_api_booking(world):
    tally = Tally()
    start = (timezone.now() + dt.timedelta(days=20)).isoformat()

    @FUZZ
    @given(
        data=_surgery_body(
            world,
            patient=str(world.home.patient.uuid),
            procedure="lumbar-facet-rf",
            start_at=start,
            surgeon="surgeon@westside.test",
        )
    )
    def run(data):
        tally.add(submit(world, "token", "post", "/api/v1/surgeries/", data, as_json=True))

    run()
    tally.check({201}, {400})


def test_fuzz_api_reschedule(world):
    surgery = world.home.surgery.uuid
    tally = Tally()
    start = (timezone.now() + dt.timedelta(days=21)).isoformat()

    @FUZZ
    @given(data=_surgery_body(world, start_at=start, reason="moved"))
    def run(data):
        tally.add(submit(world, "token", "patch", f"/api/v1/surgeries/{surgery}/", data, as_json=True))

    run()
    tally.check({200}, {400})


def test_fuzz_api_item_complete(world):
    items = _items(world)
    tally = Tally()

    @FUZZ
    @given(code=st.sampled_from(sorted(items)), mutate=st.data())
    def run(code, mutate):
        item = items[code]
        valid = {"result": GOOD_RESULT.get(code, ""), "expected_version": item.version}
        data = mutate.draw(
            body(
                valid,
                result=jvalue("13.5", "A+", "normal", extra=NUMBER),
                result_date=jvalue(extra=DATE),
                expected_version=jvalue(1, 2, 0, -1, 2**31, extra=st.integers()),
            )
        )
        tally.add(submit(world, "token", "post", f"/api/v1/items/{item.uuid}/complete/", data, as_json=True))

    run()
    tally.check({200}, {400})


def test_fuzz_api_medication_cancel_not_applicable(world):
    patient, surgery, ecg = world.home.patient.uuid, world.home.surgery.uuid, _items(world)["ecg"].uuid
    paths = {
        "medication": f"/api/v1/patients/{patient}/medications/",
        "cancel": f"/api/v1/surgeries/{surgery}/cancel/",
        "na": f"/api/v1/items/{ecg}/not-applicable/",
    }
    valid = {
        "medication": {"name": "warfarin", "dose": "5 mg", "is_blood_thinner": True},
        "cancel": {"reason": "unwell"},
        "na": {"reason": "done elsewhere"},
    }
    tally = Tally()

    @FUZZ
    @given(which=st.sampled_from(sorted(paths)), mutate=st.data())
    def run(which, mutate):
        data = mutate.draw(
            body(
                valid[which],
                name=jvalue("ibuprofen", "  "),
                drug=jvalue(*DRUGS),
                indication=jvalue("", "primary", "x"),
                dose=jvalue("1 mg"),
                is_blood_thinner=jvalue(True),
                reason=jvalue("because", "  "),
                expected_version=jvalue(1, 2),
            )
        )
        tally.add(submit(world, "token", "post", paths[which], data, as_json=True))

    run()
    tally.check({200, 201}, {400})


@pytest.mark.parametrize(
    "spoil",
    ["hemoglobin", "blood_group", "past_booking", "future_birth", "na_without_reason", "call_without_outcome"],
)
def test_check_db_sees_invalid_values(world, spoil):
    """The checker the fuzzing leans on is not blind: each kind of invalid row, stored behind the services'
    back, makes it fail."""
    from django.db.models import F

    from patients.models import Patient, Surgery
    from prep.models import ChecklistItem
    from workspace.models import PatientNote

    items = ChecklistItem.objects.filter(checklist__surgery=world.home.surgery)
    if spoil == "hemoglobin":
        items.filter(code="hemoglobin").update(status="done", result_value="25.1")
    elif spoil == "blood_group":
        items.filter(code="blood_group").update(result_value="Z+")
    elif spoil == "past_booking":
        Surgery.objects.filter(pk=world.home.surgery.pk).update(start_at=timezone.now() - dt.timedelta(minutes=1))
    elif spoil == "future_birth":
        Patient.objects.filter(pk=world.home.patient.pk).update(birth_date=TODAY + dt.timedelta(days=2))
    elif spoil == "na_without_reason":
        items.filter(code="ecg").update(status="not_applicable", na_reason=F("result_value"))
    else:
        PatientNote.objects.create(
            patient=world.home.patient, kind="call", text="rang", outcome="", by=world.home.nurse, at=timezone.now()
        )
    with pytest.raises(AssertionError):
        check_db(world)


FILTER_ROUTES = [
    ("nurse", "/", ("date_from", "date_to", "readiness", "surgeon", "q", "page", "s")),
    ("token", "/api/v1/readiness/", ("from", "to", "page", "page_size")),
    ("token", "/api/v1/exports/board.csv", ("from", "to")),
    ("token", "/api/v1/surgeries/", ("from", "to", "patient", "page")),
    ("token", "/api/v1/patients/", ("page", "page_size")),
    ("admin", "/audit/", ("s", "page")),
    ("admin", "/reminders/outbox/", ("page",)),
]


@FUZZ
@given(route=st.sampled_from(FILTER_ROUTES), data=st.data())
def test_fuzz_list_filters_never_500(world, route, data):
    """Any text, NUL included, and any date (year 1 to 9999) in the filters of every list and export: a page,
    a 400 with the reason or a 404, never a 500. A NUL byte or a year outside 1900-2200 is always a 400."""
    from core.middleware import DATE_MESSAGE, NUL_MESSAGE, YEAR_MAX, YEAR_MIN

    role, path, names = route
    query = data.draw(st.dictionaries(st.sampled_from(names), st.one_of(DATE, TEXT, NUMBER), min_size=1, max_size=3))
    client = world.client(role)
    with rolled_back(client):
        response = client.get(path, query)
    # 404: a page number past the end or a patient id not in the clinic, as the API documents.
    assert response.status_code in (200, 400, 404), (path, query, response.status_code)
    years = [int(v[:4]) for v in query.values() if len(v) >= 10 and v[:4].isdigit() and v[4] == "-" and v[7] == "-"]
    if any("\x00" in v or "\x00" in k for k, v in query.items()):
        assert response.status_code == 400 and NUL_MESSAGE.encode() in response.content.replace(b"\\\\", b"\\")
    elif any(not YEAR_MIN <= y <= YEAR_MAX for y in years):
        assert response.status_code == 400 and DATE_MESSAGE.encode() in response.content
