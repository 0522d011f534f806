from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit.selectors import access_log_search


@require_GET
@login_required
def access_log(request: HttpRequest) -> HttpResponse:
    """Clinic admins answer "who looked at or changed this record, and when"."""
    if not getattr(request.user, "is_clinic_admin", False) or request.user.clinic_id is None:
        raise Http404("No such page.")
    patient = request.GET.get("patient", "")[:40]
    staff = request.GET.get("staff", "")[:254]
    page = Paginator(access_log_search(user=request.user, patient=patient, staff=staff), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "audit/access_log.html", {"page": page, "patient": patient, "staff": staff, "nav": "audit"})
