"""The map of a project's sites: Leaflet from our static files, tiles from the MAP_TILE_URL setting."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from classifier import selectors
from surveys.access import get_project_for_user

DEFAULT_TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
DEFAULT_TILE_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)


@login_required
@require_GET
def project_map(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_id)
    markers = selectors.project_site_markers(project)
    context = {
        "project": project,
        "markers": markers,
        "markers_json": [m.as_json(reverse("site_detail", args=[m.id])) for m in markers],
        "tile_url": getattr(settings, "MAP_TILE_URL", DEFAULT_TILE_URL),
        "tile_attribution": getattr(settings, "MAP_TILE_ATTRIBUTION", DEFAULT_TILE_ATTRIBUTION),
    }
    template_name = "classifier/project_map.html" + ("#project-map" if request.htmx else "")
    return render(request, template_name, context)
