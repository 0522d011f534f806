from django.contrib import admin

from core.admin_scope import ClinicScopedAdmin
from core.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(ClinicScopedAdmin):
    clinic_admin_perms = frozenset()  # the installation's, not a clinic's
    list_display = ("name", "last_run_at", "hostname")
    readonly_fields = ("name", "last_run_at", "hostname")
