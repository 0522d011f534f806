from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.selectors import health_status


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Public, no patient data: database, broker and the worker's last heartbeat."""
    ok, body = health_status()
    return JsonResponse(body, status=200 if ok else 503)
