"""The versioned JSON API under /api/v1/ (issue 9): django-ninja, token auth, one error shape.

The survey and classifier apps each contribute a router (`surveys.api.routes`, `classifier.api.routes`);
this module joins them, installs token auth on every operation and the error handlers
(`surveys.api.errors`), and serves the OpenAPI 3 schema (/api/v1/openapi.json) and browsable docs
(/api/v1/docs) from our own static files: Swagger UI vendored under static/vendor, no CDN.

The schema and the docs need no token (ARCHITECTURE.md, Access); every operation does.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from ninja import NinjaAPI
from ninja.openapi.docs import DocsBase

from classifier.api.routes import router as classifier_router
from surveys.api.auth import TokenAuth
from surveys.api.errors import install_error_handlers, reject_unknown_query
from surveys.api.routes import router as surveys_router

API_NAMESPACE = "api-v1"


class LocalSwagger(DocsBase):
    """Swagger UI from static/vendor (ninja's own page loads it from a CDN unless `ninja` is an
    installed app)."""

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        context = {"api": api, "openapi_url": self.get_openapi_url(api, kwargs)}
        return render(request, "api/docs.html", context)


api = NinjaAPI(
    title="Batsite API",
    version="1",
    description=(
        "Upload a night's recordings from scripts and field laptops, follow their analysis and pull reports. "
        "Every call needs a personal token (make one on your profile page), sent as "
        "`Authorization: Bearer <token>`; it sees what you see on the web pages. Errors are JSON "
        '`{"code", "message", "field"}` with a 4xx status; `code` is stable.'
    ),
    urls_namespace=API_NAMESPACE,
    auth=TokenAuth(),
    docs=LocalSwagger(),
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_error_handlers(api)
api.add_decorator(reject_unknown_query)
api.add_router("", surveys_router)
api.add_router("", classifier_router)
