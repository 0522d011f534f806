"""The outbox page for clinic admins and Twilio's webhooks (signed; 403 and no change otherwise)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from xml.sax.saxutils import escape

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import SignedInRequest
from reminders import selectors, services


@require_GET
@login_required
def outbox(request: SignedInRequest) -> HttpResponse:
    if not request.user.is_clinic_admin:
        raise Http404("No such page.")
    summary = selectors.outbox_summary(user=request.user)
    return render(request, "reminders/outbox.html", {"summary": summary, "clinic": request.user.clinic})


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format for monitoring, behind ``METRICS_TOKEN`` (a 404 without it)."""
    from django.utils.crypto import constant_time_compare

    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not token or not constant_time_compare(given, token):
        raise Http404("No such page.")
    data = selectors.reminder_metrics()
    lines = [
        "# HELP preop_reminders Reminder rows by channel and status.",
        "# TYPE preop_reminders gauge",
        *(f'preop_reminders{{channel="{c}",status="{s}"}} {n}' for c, s, n in data["by_status"]),
        "# HELP preop_reminder_email_resends_total Emails sent again after a lost commit (same Message-ID).",
        "# TYPE preop_reminder_email_resends_total counter",
        f"preop_reminder_email_resends_total {data['email_resends']}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058 one-click unsubscribe: POST turns email reminders off, with no sign-in.

    A GET (a person clicking, or a mail scanner fetching the link) only shows a button that POSTs:
    fetching a link must never unsubscribe anyone. No CSRF token: the mail provider's one-click
    POST carries none, and the token in the URL is the authorization.
    """
    from reminders.messages import unsubscribe_reference

    if unsubscribe_reference(token) is None:
        return render(request, "reminders/unsubscribe.html", {"invalid": True}, status=400)
    if request.method == "GET":
        return render(request, "reminders/unsubscribe.html", {"confirm": True})
    if not services.email_unsubscribe(token=token):
        return render(request, "reminders/unsubscribe.html", {"invalid": True}, status=400)
    return render(request, "reminders/unsubscribe.html", {"done": True})


def twilio_signature_valid(request: HttpRequest) -> bool:
    """Twilio's RequestValidator over the public URL Twilio called and the POSTed form."""
    from twilio.request_validator import RequestValidator

    token = settings.TWILIO_AUTH_TOKEN
    signature = request.headers.get("X-Twilio-Signature", "")
    if not token or not signature:
        return False
    url = settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()
    return RequestValidator(token).validate(url, request.POST.dict(), signature)


def twilio_signed(view: Callable[[HttpRequest], HttpResponse]) -> Callable[[HttpRequest], HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if not twilio_signature_valid(request):
            return HttpResponseForbidden("Invalid or missing Twilio signature.")
        return view(request)

    return wrapper


@csrf_exempt
@require_POST
@twilio_signed
def twilio_status(request: HttpRequest) -> HttpResponse:
    services.reminder_status_record(
        reference=request.GET.get("ref", ""),
        provider_id=request.POST.get("MessageSid", ""),
        provider_status=request.POST.get("MessageStatus", ""),
        error_code=request.POST.get("ErrorCode", ""),
    )
    return HttpResponse(status=204)


@csrf_exempt
@require_POST
@twilio_signed
def twilio_inbound(request: HttpRequest) -> HttpResponse:
    result = services.sms_inbound_record(
        from_number=request.POST.get("From", ""),
        body=request.POST.get("Body", ""),
        message_sid=request.POST.get("MessageSid", "") or request.POST.get("SmsSid", ""),
    )
    # The reply goes back as TwiML: one reply per inbound message, none for a retried webhook.
    message = f"<Message>{escape(result.reply)}</Message>" if result.reply else ""
    xml = f'<?xml version="1.0" encoding="UTF-8"?><Response>{message}</Response>'
    return HttpResponse(xml, content_type="text/xml")
