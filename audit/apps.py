from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Access log"

    def ready(self) -> None:
        from audit import signals  # noqa: F401 - connects the login/lockout receivers
