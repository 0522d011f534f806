"""``Authorization: Bearer <prefix>.<secret>`` for systems; the pages' session for the browser."""

from __future__ import annotations

import datetime as dt
import hmac

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import User
from api.models import ApiToken
from api.services import secret_hash

# Writing last_used_at on every request would turn every read into a write; once a minute is enough.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the token as 'Authorization: Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return self.authenticate_token(raw)

    def authenticate_token(self, raw: str) -> tuple[User, ApiToken]:
        prefix, _, secret = raw.partition(".")
        token = ApiToken.objects.select_related("user", "clinic").filter(prefix=prefix).first() if secret else None
        # Compare even when no row matched, so that timing does not tell a known prefix from an unknown one.
        expected = token.secret_hash if token else "0" * 64
        if not hmac.compare_digest(expected, secret_hash(secret)) or token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.revoked_at is not None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # A WWW-Authenticate header makes DRF answer 401 (not 403) to a request without credentials.
        return 'Bearer realm="api"'
