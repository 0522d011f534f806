from django.contrib import admin
from django.urls import include, path

from core import views as core_views

handler500 = "core.views.server_error"

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("p/", include("portal.urls")),
    path("reminders/", include("reminders.urls")),
    path("audit/", include("audit.urls")),
    path("api/v1/", include("api.urls")),
    path("fhir/", include("api.fhir_urls")),
    path("", include("workspace.urls")),
]
