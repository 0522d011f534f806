from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.http import SignedInRequest
from audit.selectors import access_log_search
from core.search_keys import search_key_store, search_key_terms


@require_http_methods(["GET", "POST"])
@login_required
def access_log(request: SignedInRequest) -> HttpResponse:
    """Clinic admins answer "who looked at or changed this record, and when".

    The search (a record number, a staff email) is posted and kept behind an opaque key, never in the URL.
    """
    if not getattr(request.user, "is_clinic_admin", False) or request.user.clinic_id is None:
        raise Http404("No such page.")
    if request.method == "POST":
        terms = {"patient": request.POST.get("patient", "")[:40], "staff": request.POST.get("staff", "")[:254]}
        return redirect(f"{reverse('audit:access_log')}?s={search_key_store(request=request, terms=terms)}")
    key = request.GET.get("s", "")
    terms = search_key_terms(request=request, key=key) or {}
    patient, staff = terms.get("patient", ""), terms.get("staff", "")
    page = Paginator(access_log_search(user=request.user, patient=patient, staff=staff), 50).get_page(
        request.GET.get("page")
    )
    context = {"page": page, "patient": patient, "staff": staff, "nav": "audit", "key": key if terms else ""}
    return render(request, "audit/access_log.html", context)
