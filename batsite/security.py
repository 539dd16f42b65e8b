"""Content-Security-Policy for every response (issue 10, hostile input).

The pages load scripts only from our own static files (htmx, Leaflet, Swagger UI and our small JS are all
vendored, no CDN) and no template holds an inline <script> or an `on...=` handler, so `script-src 'self'`
holds without nonces. Some templates carry `style="..."` attributes and htmx injects its indicator style,
hence `style-src 'self' 'unsafe-inline'` (styles cannot run code). The only other origin is the map tile
server named by settings.MAP_TILE_URL, allowed for images alone.

Enabled by adding "batsite.security.ContentSecurityPolicyMiddleware" to MIDDLEWARE (see
batsite/security_settings.py); a response that already carries the header (a view that needs its own
policy) keeps it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def tile_source(tile_url: str) -> str | None:
    """The CSP source for a Leaflet tile URL template: its scheme and host, `{s}` subdomains as `*`."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "*"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None  # a relative tile URL is served by us: 'self' covers it
    return f"{parts.scheme}://{parts.netloc}"


@lru_cache(maxsize=4)
def build_policy(tile_url: str) -> str:
    img_sources = ["'self'", "data:"]
    tiles = tile_source(tile_url)
    if tiles:
        img_sources.append(tiles)
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": img_sources,
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def content_security_policy() -> str:
    return build_policy(getattr(settings, "MAP_TILE_URL", ""))


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = content_security_policy()
        return response


# --------------------------------------------------------------------------------------------- login lockout

LOCKOUT_STATUS = 429  # Too Many Requests: the client may try again after the cool-off


def login_lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """django-axes' answer to a locked-out login (settings.AXES_LOCKOUT_CALLABLE): the login page again,
    with a message that says why and for how long, instead of axes' bare text."""
    from django.contrib.auth.forms import AuthenticationForm
    from django.shortcuts import render
    from django.utils.translation import gettext as _

    username = (credentials or {}).get("username") or request.POST.get("username", "")
    # Bound without a password: validation stops at the empty field, so axes is not asked again, and the
    # lockout message can sit beside the form's own errors.
    form = AuthenticationForm(request, data={"username": username, "password": ""})
    form.is_valid()
    cooloff_minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60) if settings.AXES_COOLOFF_TIME else 0
    message = _(
        "Too many failed log-ins for this user name from your address. Wait %(minutes)d minutes and try again, "
        "or ask the operator to unlock the account."
    ) % {"minutes": cooloff_minutes}
    form.add_error(None, message)
    context = {"form": form, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=LOCKOUT_STATUS)
