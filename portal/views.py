"""Patient portal views: thin, each one either signed-out (link flow) or for the signed-in patient.

Every portal response is ``Cache-Control: no-store`` (``portal_page``) and is rendered in the
patient's language. Referrers: the one URL that carries a token (``/p/in/<token>``) answers with a
redirect under ``Referrer-Policy: no-referrer``; every other portal page uses ``same-origin``, so no
Referer ever leaves the site. (``no-referrer`` on pages with forms would make browsers send
``Origin: null`` with the POST, which Django's CSRF check rightly refuses.)
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import cast
from urllib.parse import unquote

import phonenumbers
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.defaults import page_not_found

from accounts.http import SignedInRequest
from audit import context as audit_context
from core import clock
from patients.access import patient_get_for_user
from patients.models import Clinic, Guardian, Patient
from portal import services
from portal.forms import (
    CONFIRM_FORMS,
    BirthDateForm,
    ChannelsForm,
    ContactForm,
    GuardianBirthDateForm,
    LanguageForm,
    StaffSendForm,
)
from portal.ics import calendar_build
from portal.selectors import (
    confirm_kind,
    item_confirmable,
    portal_calendar_events,
    portal_item_get,
    portal_item_view,
    portal_preparation,
)
from portal.session import (
    LANGUAGE_KEY,
    PENDING_KEY,
    TIMED_OUT_KEY,
    portal_clear,
    portal_login,
    portal_logout,
    portal_people,
)
from prep.services import ItemConflict

View = Callable[..., HttpResponse]
LANGUAGES = dict(settings.LANGUAGES)


class PortalRequest(HttpRequest):
    """A request through :func:`portal_page`, which sets these (a type for the checker only)."""

    portal_patient: Patient | None
    portal_guardian: Guardian | None  # a parent or guardian signed in for the patient
    portal_language: str


class PatientRequest(PortalRequest):
    """A request through :func:`patient_required`: a patient is signed in."""

    portal_patient: Patient


def _language_for(request: HttpRequest, patient: Patient | None, guardian: Guardian | None = None) -> str:
    chosen = request.session.get(LANGUAGE_KEY)
    if chosen in LANGUAGES:
        return chosen
    if guardian is not None and guardian.language in LANGUAGES:
        return guardian.language  # the pages speak to whoever signed in
    if patient is not None and patient.language in LANGUAGES:
        return patient.language
    current = getattr(request, "LANGUAGE_CODE", "") or translation.get_language() or "en"
    return current if current in LANGUAGES else "en"


def _secure(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    patch_cache_control(response, no_store=True, private=True)
    response.setdefault("Referrer-Policy", "same-origin")
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


def portal_page(view: View) -> View:
    """Headers for every portal response, and the patient's language while the page renders."""

    @functools.wraps(view)
    def wrapper(request: PortalRequest, *args: object, **kwargs: object) -> HttpResponse:
        patient, guardian = portal_people(request)
        request.portal_patient = patient
        request.portal_guardian = guardian
        lang = _language_for(request, patient, guardian)
        request.portal_language = lang
        twelve_hour = patient.clinic.clock_12h if patient is not None else False
        with translation.override(lang), clock.override(twelve_hour):
            request.LANGUAGE_CODE = lang
            try:
                response = view(request, *args, **kwargs)
            except Http404 as exc:
                # Rendered here so that a 404 under /p/ carries the same headers as every portal page.
                response = page_not_found(request, exc)
            if hasattr(response, "render") and not getattr(response, "is_rendered", True):
                response.render()
        response["Content-Language"] = request.portal_language
        return _secure(response)

    return wrapper


def patient_required(view: View) -> View:
    """The signed-in patient, or back to the sign-in page (with a word if the session timed out)."""

    @functools.wraps(view)
    def wrapper(request: PortalRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.portal_patient is None:
            if request.session.pop(TIMED_OUT_KEY, False):
                messages.info(request, _("You were signed out after a period of inactivity. Please sign in again."))
            return redirect("portal:start")
        # The access log records the patient's own reads as theirs, a guardian's as that guardian's
        # for the patient (audit.middleware).
        guardian = request.portal_guardian
        audit_context.note_portal_patient(
            patient_id=request.portal_patient.pk,
            clinic_id=request.portal_patient.clinic_id,
            guardian_id=guardian.pk if guardian is not None else None,
        )
        return view(request, *args, **kwargs)

    return portal_page(wrapper)


def _phone_display(number: str) -> str:
    """(310) 555-0100 for a US number, +34 912 34 56 78 for others: easier to read than E.164."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return number
    style = phonenumbers.PhoneNumberFormat.NATIONAL if parsed.country_code == 1 else None
    return phonenumbers.format_number(parsed, style or phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _is_minor(patient: Patient) -> bool:
    return clock_today(patient) < patient.adult_from


def clock_today(patient: Patient) -> dt.date:
    return timezone.now().astimezone(patient.tz).date()


def _ctx(request: PortalRequest, **extra: object) -> dict[str, object]:
    patient = request.portal_patient
    guardian = getattr(request, "portal_guardian", None)
    other = "es" if request.portal_language == "en" else "en"
    clinic = cast("Clinic | None", extra.get("clinic")) or (patient.clinic if patient else None)
    return {
        "portal_patient": patient,
        # A guardian signed in: the pages speak to them about the patient ("Maria's preparation").
        "portal_guardian": guardian,
        "for_child": guardian is not None and patient is not None and _is_minor(patient),
        "clinic": clinic,
        "clinic_phone": _phone_display(clinic.phone) if clinic and clinic.phone else "",
        "other_language": other,
        "other_language_name": LANGUAGES[other],
        "current_path": request.get_full_path(),
        **extra,
    }


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


# --- Signed out: asking for a link, opening it, the date of birth ----------------------------


@require_http_methods(["GET", "POST"])
@portal_page
def start(request: PortalRequest) -> HttpResponse:
    if request.portal_patient is not None:
        return redirect("portal:me")
    form = ContactForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        services.signin_link_request(contact=form.cleaned_data["contact"], ip=_client_ip(request))
        # The same answer whatever happened: known, unknown or over the limit.
        return redirect("portal:sent")
    return render(request, "portal/start.html", _ctx(request, form=form))


@require_GET
@portal_page
def sent(request: PortalRequest) -> HttpResponse:
    return render(request, "portal/sent.html", _ctx(request))


@require_GET
@portal_page
def link_open(request: PortalRequest, token: str) -> HttpResponse:
    """Keep the token's hash in the session and leave the tokenised URL at once.

    Opening a link ends whoever was signed in on this browser: a link is for one patient only.
    """
    portal_clear(request, keep_language=False)
    request.session[PENDING_KEY] = services.token_hash(token)
    response = HttpResponseRedirect(reverse("portal:verify"))
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_http_methods(["GET", "POST"])
@portal_page
def verify(request: PortalRequest) -> HttpResponse:
    pending = request.session.get(PENDING_KEY)
    link = services.signin_link_get_valid(token_sha256=pending) if pending else None
    if link is None or not pending or not services.signin_link_addressee_ok(link=link):
        # The clinic of a used or expired link is still known: its number is what the patient needs.
        # (So is that of a link whose addressee no longer signs in for the patient: a guardian's
        # after the 18th birthday, the patient's own once a guardian is needed.)
        clinic = services.signin_link_clinic(token_sha256=pending) if pending else None
        context = _ctx(request, clinic=clinic)
        return render(request, "portal/link_invalid.html", context, status=410 if pending else 400)
    guardian = link.guardian
    addressee = guardian if guardian is not None else link.patient
    if LANGUAGE_KEY not in request.session and addressee.language in LANGUAGES:
        # Before the date of birth we know only whose link this is: speak their language.
        request.portal_language = addressee.language
        translation.activate(addressee.language)
    form_class = GuardianBirthDateForm if guardian is not None else BirthDateForm
    form = form_class(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        result = services.signin_link_verify(
            token_sha256=pending,
            birth_date=form.cleaned_data["birth_date"],
            guardian_birth_year=form.cleaned_data.get("guardian_year"),
        )
        if result.patient is not None:
            portal_login(request, patient=result.patient, guardian=result.guardian)
            return redirect("portal:me")
        if not result.valid:
            request.session.pop(PENDING_KEY, None)
            context = _ctx(request, locked=True, clinic=link.patient.clinic)
            return render(request, "portal/link_invalid.html", context, status=403)
        if guardian is not None:
            # Never which of the two was wrong: that would let a guesser find them one at a time.
            wrong = translation.ngettext(
                "These details do not match our records. You have %(n)s more try.",
                "These details do not match our records. You have %(n)s more tries.",
                result.attempts_left,
            )
        else:
            wrong = translation.ngettext(
                "This date of birth does not match our records. You have %(n)s more try.",
                "This date of birth does not match our records. You have %(n)s more tries.",
                result.attempts_left,
            )
        form.add_error(None, wrong % {"n": result.attempts_left})
    context = _ctx(
        request,
        form=form,
        clinic=link.patient.clinic,
        link_guardian=guardian,
        link_for_child=guardian is not None and _is_minor(link.patient),
    )
    return render(request, "portal/verify.html", context)


@require_POST
@portal_page
def sign_out(request: PortalRequest) -> HttpResponse:
    portal_logout(request)
    messages.info(request, _("You are signed out."))
    return redirect("portal:start")


@require_POST
@portal_page
def language_set(request: PortalRequest) -> HttpResponse:
    form = LanguageForm(request.POST)
    target = reverse("portal:me") if request.portal_patient else reverse("portal:start")
    if form.is_valid():
        language = form.cleaned_data["language"]
        request.session[LANGUAGE_KEY] = language
        if request.portal_guardian is not None:
            services.portal_guardian_language_set(guardian=request.portal_guardian, language=language)
        elif request.portal_patient is not None:
            services.portal_language_set(patient=request.portal_patient, language=language)
        target = _portal_next(request, form.cleaned_data["next"]) or target
    return redirect(target)


def _portal_next(request: HttpRequest, value: str) -> str | None:
    """``value`` when it is a path inside the portal, else None.

    "Inside" is judged on the path as a browser resolves it: ``/p/../admin/`` starts with ``/p/``
    but lands on ``/admin/``, so dot segments (and the backslashes some browsers read as slashes)
    are refused rather than normalised.
    """
    if not value.startswith("/p/") or "\\" in value:
        return None
    path = value.split("?", 1)[0].split("#", 1)[0]
    if any(segment in {".", ".."} for segment in unquote(path).split("/")):
        return None
    if not url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
        return None
    return value


# --- Signed in: the patient's own pages --------------------------------------------------------


@require_GET
@patient_required
def me(request: PatientRequest) -> HttpResponse:
    prep = portal_preparation(patient=request.portal_patient, language=request.portal_language)
    return render(request, "portal/me.html", _ctx(request, prep=prep))


@require_http_methods(["GET", "POST"])
@patient_required
def item_confirm(request: PatientRequest, uuid: str) -> HttpResponse:
    patient = request.portal_patient
    item = portal_item_get(patient=patient, uuid=uuid)
    if not item_confirmable(item):
        messages.info(request, _("This item cannot be confirmed here. Call the clinic if something is wrong."))
        return redirect("portal:me")
    guardian = request.portal_guardian
    form_class = CONFIRM_FORMS[confirm_kind(item)]
    form = form_class(
        request.POST if request.method == "POST" else None,
        tz=patient.tz,
        language=request.portal_language,
        planned_at=item.last_dose_at or item.due_at,
        for_name=patient.first_name if guardian is not None else "",
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.portal_item_confirm(patient=patient, item=item, evidence=form.evidence(), guardian=guardian)
        except (ItemConflict, ValidationError):
            messages.warning(request, _("This item changed in the meantime. Please check it again."))
            return redirect("portal:me")
        messages.success(request, _("Thank you. The clinic will check your confirmation."))
        return redirect("portal:me")
    view = portal_item_view(item=item, patient=patient, language=request.portal_language)
    return render(request, "portal/confirm.html", _ctx(request, item=view, form=form))


@require_GET
@patient_required
def calendar_ics(request: PatientRequest) -> HttpResponse:
    patient = request.portal_patient
    guardian = request.portal_guardian
    events = portal_calendar_events(
        patient=patient, language=request.portal_language, for_guardian=guardian is not None
    )
    body = calendar_build(events=events, tz=patient.tz, name=_("My preparation"))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="my-preparation.ics"'
    return response


@require_http_methods(["GET", "POST"])
@patient_required
def messages_prefs(request: PatientRequest) -> HttpResponse:
    patient = request.portal_patient
    guardian = request.portal_guardian
    # A guardian's choices are their own: the channels they are reminded on.
    person: Patient | Guardian = guardian if guardian is not None else patient
    initial = {"email": person.channel_email, "sms": person.channel_sms and not person.sms_opted_out_at}
    form = ChannelsForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            if guardian is not None:
                services.portal_guardian_channels_update(
                    guardian=guardian, email=form.cleaned_data["email"], sms=form.cleaned_data["sms"]
                )
            else:
                services.portal_channels_update(
                    patient=patient, email=form.cleaned_data["email"], sms=form.cleaned_data["sms"]
                )
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            messages.success(request, _("Your choices are saved."))
            return redirect("portal:messages")
    return render(request, "portal/messages.html", _ctx(request, form=form, patient=person))


@require_POST
@patient_required
def sms_stop(request: PatientRequest) -> HttpResponse:
    if request.portal_guardian is not None:
        services.portal_guardian_sms_stop(guardian=request.portal_guardian)
    else:
        services.portal_sms_stop(patient=request.portal_patient)
    messages.success(request, _("We will not send you any more text messages."))
    return redirect("portal:messages")


# --- Staff: send a link from the nurse's patient page ------------------------------------------


def _safe_next(request: HttpRequest, value: str) -> str:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
        return value
    return "/"


@require_POST
@login_required
def staff_send(request: SignedInRequest, uuid: str) -> HttpResponse:
    patient = patient_get_for_user(user=request.user, uuid=uuid)
    form = StaffSendForm(request.POST)
    target = _safe_next(request, request.POST.get("next", "") or request.META.get("HTTP_REFERER", ""))
    if not form.is_valid():
        messages.error(request, "Choose email or SMS to send the sign-in link.")
        return _secure(redirect(target))
    channel = form.cleaned_data["channel"]
    guardian = None
    if form.cleaned_data.get("guardian"):
        # Only a guardian of this patient (fetched through the permission-checked patient).
        guardian = patient.guardians.filter(uuid=form.cleaned_data["guardian"]).first()
        if guardian is None:
            raise Http404("No such guardian.")
    try:
        services.signin_link_send(patient=patient, channel=channel, by=request.user, guardian=guardian)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except services.SmsUnavailableError as exc:
        messages.error(request, str(exc))
    else:
        how = "by email" if channel == "email" else "by text message"
        to = f" to {guardian.full_name}" if guardian is not None else ""
        messages.success(request, f"Sign-in link sent{to} {how}.")
    return _secure(redirect(target))
