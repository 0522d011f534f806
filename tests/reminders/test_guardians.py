"""Reminders for a patient who needs a parent or guardian (issue 22): planned per guardian on each
guardian's channels and consent, written for a parent in the guardian's language, never sent to the
child's own contact; STOP from a guardian's number stops that guardian; the 18th birthday hands the
messages back to the patient."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine

from actions.patients import guardian_add, guardian_update, patient_update
from patients.models import Guardian
from reminders import messages
from reminders.models import Channel, Kind, Reminder, SmsEvent, Status
from reminders.services import email_unsubscribe, reminders_run_once, sms_inbound_record
from tests.conftest import CHILD_EMAIL, CHILD_MOBILE, FATHER, MOTHER
from tests.factories import aware
from tests.reminders.test_messages import STOP_ENDINGS, forbidden_terms

pytestmark = pytest.mark.django_db

START = aware("2026-02-20T09:00")  # tests due 13 Feb 09:00: their 72 h reminder goes 10 Feb 09:00
BOOKED = aware("2026-02-02T10:00")


@pytest.fixture
def family(book_child):
    with time_machine.travel(BOOKED, tick=False):
        return book_child(start_at=START, guardians=(MOTHER, FATHER), anaesthesia="local")


def live(surgery):
    return Reminder.objects.filter(surgery=surgery, status=Status.PENDING).select_related("guardian")


def test_the_plan_is_per_guardian_on_their_own_channels_and_never_the_child(family):
    surgery = family
    mother, father = Guardian.objects.get(first_name="Ana"), Guardian.objects.get(first_name="Luis")
    rows = list(live(surgery))
    assert rows and all(r.guardian_id is not None for r in rows), "the child's own contact gets no row"
    by = {(r.guardian_id, r.channel) for r in rows}
    # The mother agreed to texts and gave a number; the father gave only an email.
    assert by == {(mother.pk, "email"), (mother.pk, "sms"), (father.pk, "email")}
    mother_emails = sorted(r.due_at for r in rows if r.guardian_id == mother.pk and r.channel == Channel.EMAIL)
    father_emails = sorted(r.due_at for r in rows if r.guardian_id == father.pk and r.channel == Channel.EMAIL)
    assert mother_emails == father_emails, "each guardian gets the whole plan"
    assert all(f":g{r.guardian_id}:" in r.key for r in rows)


def test_the_plan_follows_the_guardians(family, nurse):
    surgery = family
    father = Guardian.objects.get(first_name="Luis")
    with time_machine.travel(BOOKED + dt.timedelta(hours=1), tick=False):
        guardian_update(guardian=father, by=nurse, receives_messages=False)
    assert not live(surgery).filter(guardian=father).exists()
    assert Reminder.objects.filter(guardian=father, status=Status.CANCELLED).exists()
    with time_machine.travel(BOOKED + dt.timedelta(hours=2), tick=False):
        guardian_update(guardian=father, by=nurse, receives_messages=True)
    assert (
        live(surgery).filter(guardian=father).count()
        == live(surgery).filter(guardian__first_name="Ana", channel=Channel.EMAIL).count()
    )


def test_sent_to_each_guardian_in_their_language_and_never_to_the_child(providers, family):
    surgery = family
    with time_machine.travel(aware("2026-02-10T09:00:30"), tick=True):
        counts = reminders_run_once()
    # The tests' 72 h reminder: an email to each parent and one text to the mother.
    assert (counts.sent, counts.failed) == (3, 0)
    to = sorted(m["To"] for m in providers.smtp.messages)
    assert to == sorted([FATHER["email"], MOTHER["email"]])
    assert [m["to"] for m in providers.sms.messages] == [MOTHER["mobile"]]
    everything = " ".join(
        [m.as_string() for m in providers.smtp.messages] + [m["body"] for m in providers.sms.messages]
    )
    assert CHILD_EMAIL not in everything and CHILD_MOBILE not in everything
    by_to = {m["To"]: m for m in providers.smtp.messages}
    spanish = by_to[MOTHER["email"]]
    assert "la preparación de su hijo/hija" in spanish["Subject"] and "Maria" not in spanish["Subject"]
    body = spanish.get_body(("plain",)).get_content()
    assert body.startswith("Hola, Ana:") and "Las pruebas de Maria" in body
    english = by_to[FATHER["email"]].get_body(("html",)).get_content()
    assert "Hello Luis," in english and "The tests for Maria are due by" in english
    text = providers.sms.messages[0]["body"]
    # Not detailed: "su hijo/hija", neither the child's name nor the procedure.
    assert "su hijo/hija" in text and "Maria" not in text and text.endswith(STOP_ENDINGS["es"])
    recipients = set(Reminder.objects.filter(surgery=surgery, status=Status.SENT).values_list("recipient", flat=True))
    assert recipients == {MOTHER["email"], FATHER["email"], MOTHER["mobile"]}


def test_the_daily_text_limit_is_each_guardians_own(providers, book_child):
    father = {**FATHER, "mobile": "+13105550178", "channel_sms": True, "sms_consent": True}
    with time_machine.travel(BOOKED, tick=False):
        surgery = book_child(start_at=START, guardians=(MOTHER, father), anaesthesia="local")
    with time_machine.travel(aware("2026-02-10T09:00:30"), tick=True):
        reminders_run_once()
    # One text to each parent the same day: the mother's does not use up the father's.
    assert sorted(m["to"] for m in providers.sms.messages) == sorted([MOTHER["mobile"], father["mobile"]])
    postponed = Reminder.objects.filter(surgery=surgery, status_reason="Daily text limit reached")
    assert not postponed.exists()


def test_stop_from_a_guardians_number_stops_that_guardian_only(family, book_child):
    surgery = family
    mother, father = Guardian.objects.get(first_name="Ana"), Guardian.objects.get(first_name="Luis")
    texts_before = live(surgery).filter(guardian=mother, channel=Channel.SMS).count()
    assert texts_before
    with time_machine.travel(aware("2026-02-05T12:00"), tick=False):
        result = sms_inbound_record(from_number=MOTHER["mobile"], body="Stop", message_sid="SM-IN-1")
    assert result.action == "stop" and "START" in result.reply
    # The confirmation is written in the mother's language.
    assert "Responda START" in result.reply
    mother.refresh_from_db()
    assert mother.sms_opted_out_at is not None
    assert not live(surgery).filter(guardian=mother, channel=Channel.SMS).exists()
    assert (
        Reminder.objects.filter(guardian=mother, channel=Channel.SMS, status=Status.SUPPRESSED).count() == texts_before
    )
    # Her emails, the father's, and the child's own record are untouched.
    assert live(surgery).filter(guardian=mother, channel=Channel.EMAIL).exists()
    assert live(surgery).filter(guardian=father).exists()
    surgery.patient.refresh_from_db()
    assert surgery.patient.sms_opted_out_at is None
    event = SmsEvent.objects.get(provider_id="SM-IN-1")
    assert event.guardian_id == mother.pk and event.patient_id == surgery.patient_id
    with time_machine.travel(aware("2026-02-05T13:00"), tick=False):
        sms_inbound_record(from_number=MOTHER["mobile"], body="START", message_sid="SM-IN-2")
    mother.refresh_from_db()
    assert mother.sms_opted_out_at is None
    assert live(surgery).filter(guardian=mother, channel=Channel.SMS).count() == texts_before


def test_one_click_unsubscribe_of_a_guardians_email_stops_that_guardians_emails(family):
    surgery = family
    father = Guardian.objects.get(first_name="Luis")
    row = live(surgery).filter(guardian=father, channel=Channel.EMAIL).first()
    with time_machine.travel(aware("2026-02-05T12:00"), tick=False):
        assert email_unsubscribe(token=messages.unsubscribe_token(row.reference))
    father.refresh_from_db()
    assert father.channel_email is False
    assert not live(surgery).filter(guardian=father).exists()
    assert live(surgery).filter(guardian__first_name="Ana", channel=Channel.EMAIL).exists()
    assert father.history.first().history_change_reason.startswith("Email reminders turned off")


def test_turning_18_before_the_surgery_hands_the_later_reminders_to_the_patient(book_child):
    # 18 on 15 Feb 2026, between the booking (2 Feb) and the surgery (20 Feb).
    with time_machine.travel(BOOKED, tick=False):
        surgery = book_child(start_at=START, birth_date=dt.date(2008, 2, 15), anaesthesia="local")
    rows = list(live(surgery))
    birthday = dt.date(2026, 2, 15)
    tz = surgery.patient.tz
    before = [r for r in rows if r.due_at.astimezone(tz).date() < birthday]
    after = [r for r in rows if r.due_at.astimezone(tz).date() >= birthday]
    assert before and after
    assert all(r.guardian_id is not None for r in before), "before the birthday: the mother"
    assert all(r.guardian_id is None for r in after), "from the birthday: the patient herself"
    # Staff keep the mother as the contact: every reminder goes to her again.
    with time_machine.travel(BOOKED + dt.timedelta(hours=1), tick=False):
        patient_update(patient=surgery.patient, by=None, needs_guardian=True)
    assert all(r.guardian_id is not None for r in live(surgery))


def test_the_send_step_refuses_a_row_for_the_wrong_recipient(providers, book, nurse):
    """A plan made for an adult, then a guardian needed (a row left pending for the patient by a
    race): at its time the patient's row is cancelled, not sent to the patient."""
    with time_machine.travel(BOOKED, tick=False):
        surgery = book(start_at=START, anaesthesia="local", email="adult@example.org")
    patient_rows = list(live(surgery).filter(guardian__isnull=True))
    assert patient_rows
    with time_machine.travel(BOOKED + dt.timedelta(hours=1), tick=False):
        # An adult son who looks after his father.
        guardian_add(patient=surgery.patient, by=nurse, **{**MOTHER, "relationship": "other"})
        patient_update(patient=surgery.patient, by=nurse, needs_guardian=True)
    assert not live(surgery).filter(guardian__isnull=True).exists(), "the re-plan cancelled the patient's rows"
    # Put one back as a race would have left it: the send step still refuses it.
    Reminder.objects.filter(pk=patient_rows[0].pk).update(status=Status.PENDING)
    with time_machine.travel(patient_rows[0].due_at + dt.timedelta(seconds=30), tick=True):
        reminders_run_once()
    row = Reminder.objects.get(pk=patient_rows[0].pk)
    assert row.status == Status.CANCELLED and "guardian" in row.status_reason
    assert "adult@example.org" not in [m["To"] for m in providers.smtp.messages]


# --- The words ----------------------------------------------------------------------------------


@pytest.fixture
def kinds(family):
    from prep.models import ChecklistItem

    items = {i.code: i for i in ChecklistItem.objects.filter(checklist__surgery=family).select_related("template_item")}
    by_kind = {
        Kind.TESTS: [items["blood_group"]],
        Kind.FASTING: [items[c] for c in items if c.startswith("fasting")][:1] or [items["arrival"]],
        Kind.ARRIVAL: [items["arrival"]],
        Kind.TASK: [items["consent"]],
        Kind.HOLD: [items["consent"]],
        Kind.SEVERAL: [items["blood_group"], items["arrival"]],
    }
    return family, by_kind


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("detailed", [False, True])
def test_every_parent_text_fits_and_names_no_child_or_procedure_unless_detailed(kinds, clinic, language, detailed):
    surgery, by_kind = kinds
    guardian = Guardian.objects.get(first_name="Ana")
    guardian.language, guardian.sms_detailed = language, detailed
    terms = forbidden_terms()
    for kind in messages.SMS_KINDS:
        text = messages.sms_render(
            kind=kind, clinic=clinic, patient=surgery.patient, items=by_kind[kind], guardian=guardian
        )
        assert len(text) <= messages.SMS_MAX and messages.gsm7(text) == text, (kind, text)
        assert text.startswith(clinic.name[:20]) and text.endswith(STOP_ENDINGS[language]), text
        ward = "your child" if language == "en" else "su hijo/hija"
        if not detailed:
            assert "Maria" not in text and ward in text, (kind, text)
            lowered = text.split(": ", 1)[1].lower()
            assert not [t for t in terms if re.search(rf"\b{re.escape(t)}\b", lowered)], (kind, text)


def test_an_adult_who_needs_a_guardian_is_not_called_a_child(kinds, clinic):
    surgery, by_kind = kinds
    patient = surgery.patient
    patient.birth_date, patient.needs_guardian = dt.date(1990, 1, 1), True
    guardian = Guardian.objects.get(first_name="Luis")
    text = messages.sms_render(
        kind=Kind.TESTS, clinic=clinic, patient=patient, items=by_kind[Kind.TESTS], guardian=guardian
    )
    assert "the person you care for" in text and "child" not in text
    email = messages.email_render(
        kind=Kind.TESTS, clinic=clinic, patient=patient, items=by_kind[Kind.TESTS], reference="r", guardian=guardian
    )
    assert "child" not in email.subject.lower()


def _sentences(text: str) -> str:
    return re.sub(r"https?://\S+", "", text)


@pytest.mark.parametrize("kind", messages.EMAIL_KINDS)
def test_parent_emails_are_grade_8_or_below(kinds, clinic, kind):
    import textstat

    surgery, by_kind = kinds
    guardian = Guardian.objects.get(first_name="Luis")
    email = messages.email_render(
        kind=kind, clinic=clinic, patient=surgery.patient, items=by_kind[kind], reference="r", guardian=guardian
    )
    assert email.to == [FATHER["email"]]
    body = _sentences(email.body.split("\n--\n")[0])
    assert textstat.flesch_kincaid_grade(body) <= 8, (kind, body)
    text = messages.sms_render(
        kind=kind, clinic=clinic, patient=surgery.patient, items=by_kind[kind], guardian=guardian
    )
    assert textstat.flesch_kincaid_grade(_sentences(text)) <= 8, text


def test_a_child_booked_through_the_book_fixture_has_a_parent_who_gets_the_reminders(book):
    from tests.conftest import DEFAULT_GUARDIAN

    with time_machine.travel(BOOKED, tick=False):
        surgery = book(start_at=START, birth_date=dt.date(2016, 1, 1), anaesthesia="local")
    (guardian,) = surgery.patient.guardians.all()
    assert guardian.email == DEFAULT_GUARDIAN["email"]
    assert set(live(surgery).values_list("guardian_id", flat=True)) == {guardian.pk}


def test_two_parents_with_one_number_and_address_get_one_message_there(book_child):
    father = {**FATHER, "email": MOTHER["email"].upper(), "mobile": MOTHER["mobile"], "channel_sms": True}
    father["sms_consent"] = True
    with time_machine.travel(BOOKED, tick=False):
        surgery = book_child(start_at=START, guardians=(MOTHER, father), anaesthesia="local")
    mother = Guardian.objects.get(first_name="Ana")
    rows = list(live(surgery))
    assert rows and {r.guardian_id for r in rows} == {mother.pk}, "the main contact's rows only"
