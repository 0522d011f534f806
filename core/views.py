import logging
import sys

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.cache import patch_cache_control
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.selectors import health_status

log = logging.getLogger(__name__)
FAVICON = settings.BASE_DIR / "static" / "favicon.ico"


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Public, no patient data: database, broker and the worker's last heartbeat."""
    ok, body = health_status()
    return JsonResponse(body, status=200 if ok else 503)


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page links; a 404 there fills every log."""
    response = HttpResponse(FAVICON.read_bytes(), content_type="image/x-icon")
    patch_cache_control(response, public=True, max_age=86400)
    return response


def _is_outage(exc: BaseException | None) -> bool:
    """A database or Redis that cannot be reached, as opposed to a bug."""
    if exc is None:
        return False
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    import kombu.exceptions
    import redis.exceptions

    return isinstance(
        exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, kombu.exceptions.OperationalError)
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """The product's own 500 page, or its 503 page when a service is down. Never a trace or SQL."""
    exc = sys.exc_info()[1]
    if _is_outage(exc):
        log.error("service unavailable: %s", type(exc).__name__)
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = "30"
    else:
        response = HttpResponse(render_to_string("500.html"), status=500)
    response["Cache-Control"] = "no-store"
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused form (missing or stale CSRF token) gets the product's 403 page."""
    response = HttpResponse(render_to_string("403.html"), status=403)
    response["Cache-Control"] = "no-store"
    return response
