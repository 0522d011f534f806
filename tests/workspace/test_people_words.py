"""Issue 16's defects as a nurse, surgeon or patient met them: each test failed before its fix."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from actions import decisions as decision_actions
from actions import items as item_actions
from patients.models import Medication, Patient
from portal.services import signin_link_send
from tests.workspace.conftest import item_of
from tests.workspace.test_booking import _form

ROOT = Path(__file__).resolve().parents[2]


# --- 1. one user's date error stuck on every later form ---------------------------------------


def test_a_date_error_does_not_stick_to_later_forms(client_for, catalogue, nurse, book):
    client = client_for(nurse)
    future = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    rejected = client.post("/book/", {**_form(**{"patient-birth_date": future}), "action": "preview"})
    assert rejected.status_code == 400
    birth = re.search(r'<input[^>]*name="patient-birth_date"[^>]*>', rejected.content.decode()).group(0)
    assert "is-invalid" in birth

    fresh = client.get("/book/").content.decode()
    birth = re.search(r'<input[^>]*name="patient-birth_date"[^>]*>', fresh).group(0)
    assert "is-invalid" not in birth
    other = book(first_name="Lena")
    edit = client.get(f"/patients/{other.patient.uuid}/edit/").content.decode()
    assert "is-invalid" not in re.search(r'<input[^>]*name="birth_date"[^>]*>', edit).group(0)


def test_no_form_shares_a_widget_between_instances(catalogue, clinic):
    """The class of defect: any widget object reachable from two form instances."""
    from django import forms

    from portal import forms as pf
    from workspace import forms as wf

    def widgets(form: forms.Form) -> set[int]:
        return {id(f.widget) for f in form.fields.values()}

    made = [
        lambda: wf.PatientForm(),
        lambda: wf.PatientEditForm(),
        lambda: wf.MedicationForm(),
        lambda: wf.SurgeryFieldsForm(clinic=clinic, surgeons=[]),
        lambda: wf.BoardFilterForm(surgeons=[]),
        lambda: wf.NoteForm(),
        lambda: wf.GoDecisionForm(),
        lambda: wf.CancelForm(),
        lambda: pf.BirthDateForm(),
        lambda: pf.ContactForm(),
    ]
    for make in made:
        assert not widgets(make()) & widgets(make()), make
    # And no module-level widget instance is left for a form to pick up.
    for module in (wf, pf):
        shared = [name for name, value in vars(module).items() if isinstance(value, forms.Widget)]
        assert shared == [], (module.__name__, shared)


# --- 2. "&amp;" in text emails ------------------------------------------------------------------


def test_signin_email_subject_and_text_are_not_html_escaped(settings, book, clinic):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    clinic.name = "Westside Spine & Pain"
    clinic.save(update_fields=["name"])
    surgery = book(email="ana@example.org", first_name="Ana & Bo")
    signin_link_send(patient=surgery.patient, channel="email", by=None)
    message = mail.outbox[-1]
    assert "Westside Spine & Pain" in message.subject or "Westside Spine & Pain" in message.body
    assert "Westside Spine & Pain" in message.body and "Ana & Bo" in message.body
    assert "&amp;" not in message.subject and "&amp;" not in message.body
    html = message.alternatives[0][0]
    assert "Spine &amp; Pain" in html  # the HTML part is still escaped


def test_every_text_template_is_rendered_without_escaping():
    """Text templates (.txt) go through core.text.render_text, never the escaping engine."""
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "render_to_string(" in line and ".txt" in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}")
    assert offenders == []


# --- 3. raw codes shown to people -----------------------------------------------------------------


def test_print_sheet_shows_flags_and_hold_decisions_in_words(client_for, book, nurse, surgeon):
    surgery = book("cervical-facet-rf", medications=["clopidogrel"], cardiac_history=True, impaired_renal_function=True)
    approval = item_of(surgery, "hold_approval:clopidogrel")
    decision_actions.hold_decide(item=approval, by=surgeon, approve=False, note="Recent stent, keep it going")
    sheet = client_for(nurse).get(f"/surgeries/{surgery.uuid}/print/").content.decode()
    assert "Cardiac history, Impaired renal function" in sheet
    assert "Cardiachistory" not in sheet and "Impairedrenalfunction" not in sheet
    assert "Hold declined by Sam Surgeon: the patient keeps taking Clopidogrel. Reason: Recent stent" in sheet
    page = client_for(nurse).get(f"/surgeries/{surgery.uuid}/").content.decode()
    assert "Reason: Recent stent, keep it going" in page
    assert "Result: <strong" not in page.split(f'data-code="{approval.code}"')[1].split("</li>")[0]
    row_text = re.sub(r"<[^>]+>", " ", page.split(f'data-code="{approval.code}"')[1].split("</li>")[0])
    assert not re.search(r"\bdecline\b", row_text)  # the stored code, as a word of its own


def test_patient_confirmation_reads_as_words_and_early_stop_is_flagged(client_for, book, nurse, surgeon):
    surgery = book("trigeminal-rf", medications=["clopidogrel"])
    decision_actions.hold_decide(item=item_of(surgery, "hold_approval:clopidogrel"), by=surgeon, approve=True)
    hold = item_of(surgery, "hold:clopidogrel")
    planned = timezone.localtime(hold.last_dose_at, surgery.clinic.tz).date()
    evidence = {"kind": "last_dose", "last_dose_date": (planned - dt.timedelta(days=5)).isoformat(), "via": "portal"}
    item_actions.item_patient_confirm(item=hold, evidence=evidence)
    page = client_for(nurse).get(f"/surgeries/{surgery.uuid}/").content.decode()
    row = page.split('data-code="hold:clopidogrel"')[1].split("</li>\n")[0]
    assert "5 days earlier than planned" in row and "check with the prescriber" in row
    assert "Confirmed in the patient portal" in row
    for raw in ("Kind:", "Last_dose_date", "Later_than_planned", "Via:"):
        assert raw not in row


def test_early_last_dose_is_recorded_in_the_evidence():
    import zoneinfo

    from portal.forms import LastDoseConfirmForm

    tz = zoneinfo.ZoneInfo("America/Los_Angeles")
    planned = timezone.now() + dt.timedelta(days=2)
    taken = (timezone.now().astimezone(tz) - dt.timedelta(days=3)).date()
    form = LastDoseConfirmForm({"last_dose_date": taken.isoformat()}, tz=tz, language="en", planned_at=planned)
    assert form.is_valid(), form.errors
    evidence = form.evidence()
    assert evidence["earlier_than_planned"] is True and evidence["later_than_planned"] is False
    assert evidence["days_from_plan"] == (taken - planned.astimezone(tz).date()).days


def test_labels_are_written_for_people(client_for, catalogue, nurse):
    page = client_for(nurse).get("/book/").content.decode()
    assert "Sms consent" not in page and "Sms detailed" not in page
    assert "The patient agrees to receive text messages" in page


def test_hold_reason_uses_the_right_article(book):
    surgery = book("cervical-facet-rf", medications=["clopidogrel"])  # intermediate risk
    reasons = " ".join(surgery.checklist.items.values_list("reason", flat=True))
    assert "an intermediate-risk procedure" in reasons
    assert "a intermediate-risk" not in reasons


# --- 5. a long note cut without a word --------------------------------------------------------


def test_a_note_over_the_limit_is_refused_whole_with_a_clear_error(client_for, surgery, nurse):
    client = client_for(nurse)
    page = client.get(f"/surgeries/{surgery.uuid}/").content.decode()
    textarea = re.search(r"<textarea[^>]*name=\"text\"[^>]*>", page).group(0)
    assert "maxlength" not in textarea.replace("data-maxlength", "")  # the browser must not cut it
    assert 'data-maxlength="4000"' in textarea
    response = client.post(f"/surgeries/{surgery.uuid}/notes/", {"kind": "note", "text": "x" * 5000})
    assert response.status_code == 400
    body = response.content.decode()
    assert "This text has 5000 characters; at most 4000 fit" in body
    assert "data-error-summary" in body
    from workspace.models import PatientNote

    assert not PatientNote.objects.filter(patient=surgery.patient).exists()


# --- 6/7. decisions never pre-selected -------------------------------------------------------------


def test_hold_decision_has_no_preselected_answer(client_for, surgery, surgeon):
    client = client_for(surgeon)
    approval = item_of(surgery, "hold_approval:clopidogrel")
    page = client.get(f"/surgeries/{surgery.uuid}/").content.decode()
    select = re.search(r'<select name="decision"[^>]*>.*?</select>', page, re.S).group(0)
    assert '<option value="" selected>Choose…</option>' in select
    response = client.post(f"/items/{approval.uuid}/hold/", {"version": approval.version, "decision": ""})
    assert response.status_code == 400
    assert "Choose whether to approve or decline the hold." in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == "open"


def test_go_form_does_not_preselect_the_last_decision(client_for, surgery, surgeon):
    from actions.decisions import surgery_record_go_decision

    surgery_record_go_decision(surgery=surgery, by=surgeon, decision="no_go", note="INR too high")
    page = client_for(surgeon).get(f"/surgeries/{surgery.uuid}/").content.decode()
    radios = re.findall(r'<input type="radio" name="decision"[^>]*>', page)
    assert radios and not any("checked" in r for r in radios)


# --- 8. the booking page after a rejection ------------------------------------------------------


def test_rejected_booking_has_an_error_summary_with_links(client_for, catalogue, nurse):
    response = client_for(nurse).post("/book/", {**_form(**{"patient-birth_date": "1850-01-01"}), "action": "save"})
    assert response.status_code == 400
    body = response.content.decode()
    summary = body.split("data-error-summary")[1].split("</div>")[0]
    assert 'href="#id_patient-birth_date"' in summary and "check the year" in summary
    assert body.index("data-error-summary") < body.index('name="patient-mrn"')
    assert not Patient.objects.filter(mrn="MRN-NEW-1").exists()


def test_default_anaesthesia_is_named_and_its_fasting_previewed(client_for, catalogue, nurse, book):
    client = client_for(nurse)
    response = client.post("/book/", {**_form(), "action": "preview"})
    body = response.content.decode()
    assert "The procedure&#x27;s default: General anaesthesia" in body
    preview = body.split('id="preview-heading"')[1]
    assert "fasting" in preview.lower() or "eating" in preview.lower()
    surgery = book("lumbar-facet-rf")
    edit = client.get(f"/surgeries/{surgery.uuid}/edit/").content.decode()
    assert "The procedure&#x27;s default: Local anaesthesia" in edit
    assert 'data-default-anaesthesia="General anaesthesia"' in edit


# --- 9. the small ones -----------------------------------------------------------------------------


def test_birth_year_1850_is_refused_by_the_service_too(book, clinic, nurse):
    from django.core.exceptions import ValidationError

    from actions.patients import patient_create

    with pytest.raises(ValidationError) as exc:
        patient_create(
            clinic=clinic, by=nurse, mrn="OLD-1", first_name="A", last_name="B", birth_date=dt.date(1850, 1, 1)
        )
    assert "check the year" in str(exc.value)


def test_done_item_menu_has_no_mark_not_applicable(client_for, surgery, nurse):
    item = item_of(surgery, "mri")
    item_actions.item_complete(item=item, by=nurse, result=timezone.localdate(timezone=item.tz).isoformat())
    page = client_for(nurse).get(f"/surgeries/{surgery.uuid}/").content.decode()
    row = page.split('data-code="mri"')[1].split("</li>\n")[0]
    assert "Undo (reopen)" in row and "Mark not applicable" not in row
    open_row = page.split('data-code="ecg"')[1].split("</li>\n")[0] if 'data-code="ecg"' in page else ""
    if open_row:
        assert "Mark not applicable" in open_row


def test_catalogue_drug_counts_as_a_blood_thinner(client_for, surgery, nurse):
    client = client_for(nurse)
    page = client.get(f"/patients/{surgery.patient.uuid}/medications/add/").content.decode()
    assert 'data-blood-thinner="true"' in page
    response = client.post(
        f"/patients/{surgery.patient.uuid}/medications/add/", {"drug": "apixaban", "action": "confirm"}
    )
    assert response.status_code == 302
    assert Medication.objects.get(patient=surgery.patient, drug__slug="apixaban").is_blood_thinner


def test_every_page_tells_htmx_not_to_inject_styles_and_favicon_is_served(client_for, surgery, nurse):
    client = client_for(nurse)
    anonymous = client_for(None)
    pages = [
        (client, "/"),
        (client, f"/surgeries/{surgery.uuid}/"),
        (client, f"/surgeries/{surgery.uuid}/print/"),
        (anonymous, "/accounts/login/"),
        (anonymous, "/p/"),
    ]
    for who, url in pages:
        response = who.get(url)
        assert response.status_code == 200, url
        assert '"includeIndicatorStyles": false' in response.content.decode(), url
    css = (ROOT / "static" / "css" / "app.css").read_text()
    assert ".htmx-indicator" in css
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon["Content-Type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"


def test_change_review_shows_item_status_in_words(client_for, surgery, nurse):
    medication = surgery.patient.medications.get(name="clopidogrel")
    page = client_for(nurse).get(f"/patients/{surgery.patient.uuid}/medications/{medication.uuid}/stop/")
    table = page.content.decode().split("changes-table")[1].split("</table>")[0]
    assert "Not applicable" in table
    assert "not_applicable" not in table


def test_sign_in_errors_open_on_the_error_summary(client_for, nurse):
    response = client_for(None).post("/accounts/login/", {"username": nurse.email, "password": "wrong password!"})
    body = response.content.decode()
    assert "data-error-summary" in body and 'href="#id_username"' in body
    assert "forms.js" in body  # the script that moves the focus there, on every page


def test_a_garbled_procedure_never_breaks_the_default_anaesthesia_label(catalogue, clinic):
    from workspace.forms import SurgeryFieldsForm

    for garbled in ("\ud800x", "nul\x00", "no-such-procedure", "x" * 500):
        form = SurgeryFieldsForm({"surgery-procedure": garbled}, prefix="surgery", clinic=clinic, surgeons=[])
        assert form.fields["anaesthesia"].choices[0] == ("", "The procedure's default")
        assert not form.is_valid() and "procedure" in form.errors
