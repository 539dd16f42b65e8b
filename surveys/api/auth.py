"""Token auth for the JSON API: `Authorization: Bearer <key>` with a key from the user's profile page.

The key stands for its owner: every lookup then goes through the same `for_user` querysets as the web
pages (surveys.access). No session cookie is read, so CSRF does not apply (ninja exempts its views from
Django's CSRF middleware; a bearer header is never sent by a browser on its own).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from ninja.security import HttpBearer

from surveys.tokens import api_token_user

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> AbstractBaseUser | None:
        user = api_token_user(key=token.strip())
        if user is not None:
            request.user = user  # what access helpers and services read as "the user"
        return user


def api_user(request: HttpRequest) -> AbstractBaseUser:
    """The user the request's token belongs to (set by TokenAuth before any view runs)."""
    return request.auth  # type: ignore[attr-defined, return-value]
