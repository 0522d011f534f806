from tests.reminders.conftest import providers, sms_server, smtp_server  # noqa: F401
