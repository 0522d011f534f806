"""Sign-in events in the access log: logins, failures (without the password), lockouts."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.services import access_log_record


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    access_log_record(request=request, action="auth login", allowed=True, user=user)


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        access_log_record(request=request, action="auth logout", allowed=True, user=user)


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    # Only the identifier typed, never the password (Django already masks it in ``credentials``).
    email = str(credentials.get("username") or credentials.get("email") or "")
    access_log_record(request=request, action="auth login failed", allowed=False, email=email)


try:
    from axes.signals import user_locked_out
except ImportError:  # pragma: no cover - axes is in requirements
    user_locked_out = None

if user_locked_out is not None:

    @receiver(user_locked_out)
    def _locked_out(sender: Any, request: Any = None, username: str = "", ip_address: str = "", **kwargs: Any) -> None:
        access_log_record(request=request, action="auth lockout", allowed=False, email=str(username or ""))
