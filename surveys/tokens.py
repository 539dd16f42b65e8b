"""Personal API tokens: made and revoked by their owner on the profile page, checked on every API call.

    api_token_create  a new key for a user -> (row, the key in clear: shown once, never stored)
    api_token_revoke  the owner revokes one of their keys (a foreign id is 404)
    api_token_user    the active user a key belongs to, None for unknown, revoked or inactive

Keys are `bst_` + 43 URL-safe characters (256 random bits). Only their SHA-256 is stored; a lookup hashes
the key sent and finds the row by that hash, so the clear key exists only in the owner's hands.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _

from surveys.models import ApiToken

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

KEY_PREFIX = "bst_"
PREFIX_CHARS = 12  # "bst_" and 8 characters of the key: enough to tell keys apart, useless to guess with
MAX_LIVE_TOKENS = 20  # per user; a forgotten loop that makes keys should not fill the table
# last_used_at is written at most this often: a busy upload script must not write a row per request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def api_token_create(*, user: AbstractBaseUser, name: str) -> tuple[ApiToken, str]:
    """Make a key for `user`; the clear key is returned once and is not kept anywhere."""
    if ApiToken.objects.live().filter(user=user).count() >= MAX_LIVE_TOKENS:
        raise ValidationError(
            _("You already have %(count)d active API tokens. Revoke one you no longer use first.")
            % {"count": MAX_LIVE_TOKENS}
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name.strip()[:100], prefix=key[:PREFIX_CHARS], key_sha256=_digest(key)
    )
    return token, key


def api_token_revoke(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """Revoke one of the user's own keys; someone else's key answers 404 like a missing one."""
    token = get_object_or_404(ApiToken.objects.filter(user=user), pk=token_id)
    token.revoke()
    return token


def api_token_user(*, key: str) -> AbstractBaseUser | None:
    """The user behind a live key, or None. Marks the key as used (at most once a minute)."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    token = ApiToken.objects.live().select_related("user").filter(key_sha256=_digest(key)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
