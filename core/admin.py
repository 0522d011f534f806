from django.contrib import admin

from core.models import Heartbeat


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("name", "last_run_at", "hostname")
    readonly_fields = ("name", "last_run_at", "hostname")
