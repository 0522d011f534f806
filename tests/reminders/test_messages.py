"""Every SMS kind in both languages: 160 characters at most, the clinic named, nothing clinical
unless the patient opted in to detailed texts, and the way to stop at the end."""

from __future__ import annotations

import re

import pytest

from actions.decisions import hold_decide
from prep.models import ChecklistItem, Drug, ProcedureVariant
from reminders import messages
from reminders.models import Kind
from tests.factories import aware
from tests.reminders.helpers import sms_fields

pytestmark = pytest.mark.django_db
DIAGNOSIS_WORDS = [
    "neuralgia",
    "neuralgia",
    "pain",
    "dolor",
    "anemia",
    "anemia",
    "stent",
    "arthritis",
    "artritis",
    "hernia",
    "trigemin",
    "rhizotomy",
    "rizotom",
    "radiofrequency",
    "radiofrecuencia",
    "facet",
    "glycerol",
    "glicerol",
    "endoscop",
    "ablation",
    "ablación",
    "anesthesia",
    "anestesia",
    "sedation",
    "sedación",
    "clopidogrel",
    "blood thinner",
]
STOP_ENDINGS = {"en": "Reply STOP to opt out.", "es": "Responda STOP para darse de baja."}
CLINIC_NAMES = ["Westside Spine Center", "Saint Mary's Comprehensive Spine & Pain Management Institute of Los Angeles"]


def forbidden_terms() -> list[str]:
    terms = set(DIAGNOSIS_WORDS)
    for drug in Drug.objects.all():
        terms.update(t for t in [drug.name, drug.name_es, drug.substance, *drug.aliases] if t and len(t) > 3)
    for procedure in ProcedureVariant.objects.all():
        terms.update(t for t in [procedure.name, procedure.name_es] if t)
    return sorted({t.lower() for t in terms})


@pytest.fixture
def kinds(book, surgeon):
    surgery = book(
        "endoscopic-rhizotomy",
        start_at=aware("2027-02-20T07:30"),
        anaesthesia="sedation",
        medications=["clopidogrel"],
        **sms_fields(),
    )
    approval = ChecklistItem.objects.get(checklist__surgery=surgery, code__startswith="hold_approval:")
    hold_decide(item=approval, by=surgeon, approve=True)
    items = {
        i.code: i for i in ChecklistItem.objects.filter(checklist__surgery=surgery).select_related("template_item")
    }
    hold = next(i for c, i in items.items() if c.startswith("hold:"))
    return surgery, {
        Kind.TESTS: [items["blood_group"], items["hemoglobin"], items["ecg"]],
        Kind.HOLD: [hold],
        Kind.FASTING: [items["fasting_solids"]],
        Kind.ARRIVAL: [items["arrival"]],
        Kind.TASK: [items["consent"]],
        Kind.SEVERAL: [items["fasting_solids"], items["fasting_clear_liquids"], items["arrival"]],
    }


@pytest.mark.parametrize("clinic_name", CLINIC_NAMES)
@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("detailed", [False, True])
def test_every_sms_kind_fits_names_the_clinic_and_ends_with_stop(kinds, clinic, language, detailed, clinic_name):
    surgery, by_kind = kinds
    assert set(by_kind) == set(messages.SMS_KINDS)
    clinic.name = clinic_name
    patient = surgery.patient
    patient.language, patient.sms_detailed = language, detailed
    terms = forbidden_terms()
    assert "clopidogrel" in terms and "plavix" in terms
    for kind, items in by_kind.items():
        text = messages.sms_render(kind=kind, clinic=clinic, patient=patient, items=items)
        assert len(text) <= messages.SMS_MAX, (kind, language, text)
        assert text.startswith(clinic_name[: messages.CLINIC_NAME_MAX].strip()[:20]), text
        assert text.endswith(STOP_ENDINGS[language]), text
        assert messages.gsm7(text) == text
        if not detailed:
            lowered = text.split(": ", 1)[1].lower()  # the clinic's own name may say "Pain"
            assert not [t for t in terms if re.search(rf"\b{re.escape(t)}\b", lowered)], (kind, text)


def test_detailed_texts_may_name_the_drug(kinds, clinic):
    surgery, by_kind = kinds
    surgery.patient.sms_detailed = True
    text = messages.sms_render(kind=Kind.HOLD, clinic=clinic, patient=surgery.patient, items=by_kind[Kind.HOLD])
    assert "clopidogrel" in text.lower()


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("kind", messages.SMS_REPLY_KINDS)
@pytest.mark.parametrize("clinic_name", CLINIC_NAMES)
def test_replies_fit_and_name_the_clinic(clinic, language, kind, clinic_name):
    clinic.name = clinic_name
    text = messages.sms_reply_render(kind=kind, clinic=clinic, language=language)
    assert len(text) <= messages.SMS_MAX and clinic_name[:20] in text
    if kind == "stop":
        assert "START" in text
    else:
        assert text.endswith(STOP_ENDINGS[language])
    if kind == "help":
        assert clinic.phone in text


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_email_kind_renders_subject_text_and_html(kinds, clinic, language):
    surgery, by_kind = kinds
    surgery.patient.language = language
    for kind in messages.EMAIL_KINDS:
        message = messages.email_render(
            kind=kind, clinic=clinic, patient=surgery.patient, items=by_kind[kind], reference="abc"
        )
        assert message.extra_headers["Reminder-Id"] == "abc"
        assert clinic.name in message.subject and "\n" not in message.subject
        assert "https://" in message.body or "http://" in message.body
        html = message.alternatives[0][0]
        assert "<html" in html and surgery.patient.first_name in html
        assert "clopidogrel" not in (message.subject + message.body + html).lower()
        assert ("Hola" in message.body) == (language == "es")


def test_a_frozen_email_is_built_and_serialised_once(kinds, clinic):
    """The send step freezes an email before its hand-over; the SMTP backend then reuses it."""
    surgery, by_kind = kinds
    message = messages.email_render(
        kind="tests", clinic=clinic, patient=surgery.patient, items=by_kind["tests"], reference="abc"
    )
    message.freeze()
    mime = message.message()
    assert message.message() is mime
    crlf = mime.as_bytes(linesep="\r\n")
    assert mime.as_bytes(linesep="\r\n") is crlf, "serialised once"
    assert b"Reminder-Id: abc\r\n" in crlf and b"List-Unsubscribe-Post" in crlf
    assert mime.as_bytes(linesep="\n") == crlf.replace(b"\r\n", b"\n")
