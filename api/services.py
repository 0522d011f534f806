"""Writes on API tokens: create (the secret is returned once) and revoke."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts import permissions as perms
from accounts.models import User
from api.models import ApiToken
from patients.models import Clinic

# The service user of a token has this role: not a choice of the staff form on purpose, so it
# never shows up as a nurse (digests, assignee lists) or as a surgeon (booking forms).
SYSTEM_ROLE = perms.SYSTEM
TOKEN_PREFIX_BYTES = 6
TOKEN_SECRET_BYTES = 32


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, clinic: Clinic, name: str, by: User | None) -> tuple[ApiToken, str]:
    """A new token for ``clinic``; returns the row and the token text, which is never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the system that will use this token."})
    if len(name) > 100:
        raise ValidationError({"name": "Keep the name under 100 characters."})
    if by is not None and not by.is_superuser and by.clinic_id != clinic.pk:
        raise ValidationError({"clinic": "You can only create tokens for your own clinic."})
    prefix = secrets.token_hex(TOKEN_PREFIX_BYTES)
    secret = secrets.token_urlsafe(TOKEN_SECRET_BYTES)
    user = get_user_model().objects.create_user(
        email=f"api-{prefix}@{clinic.slug}.api.invalid",
        password=None,  # unusable: a service user can never sign in to the pages
        clinic=clinic,
        role=SYSTEM_ROLE,
        first_name="API",
        last_name=name[:150],
    )
    token = ApiToken.objects.create(
        clinic=clinic, name=name, prefix=prefix, secret_hash=secret_hash(secret), user=user, created_by=by
    )
    return token, f"{prefix}.{secret}"


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: User | None) -> ApiToken:
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at, token.revoked_by = timezone.now(), by
        token.save(update_fields=["revoked_at", "revoked_by"])
        token.user.is_active = False
        token.user.save(update_fields=["is_active"])
    return token
