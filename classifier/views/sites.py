"""A site's species summary (the fragment the site page loads) and re-analysis of all its nights."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from classifier import selectors, services
from classifier.models import ModelVersion
from classifier.views._common import EVENT_ANALYSES_QUEUED, redirect_back
from surveys.access import get_site_for_user
from surveys.models import Recording, RecordingStatus, Role, Site

TEMPLATE = "classifier/site_species.html"


def _context(request: HttpRequest, site: Site, **extra: object) -> dict:
    active_model = ModelVersion.objects.active_summary()  # once for the summary and the re-analyse button
    return {
        "site": site,
        "project": site.project,
        "summary": selectors.site_species_summary(site, model_version=active_model),
        "active_model": active_model,
        "can_reanalyse": site.project.user_has_role(request.user, Role.MANAGER),
        **extra,
    }


@login_required
@require_GET
def site_species(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_site_for_user(request.user, site_id)
    template_name = TEMPLATE + ("#site-species" if request.htmx else "")
    return render(request, template_name, _context(request, site))


@login_required
@require_POST
def site_reanalyse(request: HttpRequest, site_id: int) -> HttpResponse:
    """Managers queue every readable recording of the site for the active model; older results stay."""
    site = get_site_for_user(request.user, site_id, minimum_role=Role.MANAGER)
    model_version = ModelVersion.objects.active()
    queued = 0
    if model_version is None:
        notice = _("There is no active model to analyse with.")
    else:
        recordings = Recording.objects.filter(visit__site=site, status=RecordingStatus.INGESTED).only("pk")
        queued = services.recordings_reanalyse(recordings=recordings, model_version=model_version)
        notice = _("%(count)d recordings queued for analysis with %(model)s.") % {
            "count": queued,
            "model": model_version.name,
        }
    if request.htmx:
        response = render(request, f"{TEMPLATE}#site-species", _context(request, site, notice=notice))
        response["HX-Trigger"] = EVENT_ANALYSES_QUEUED
        return response
    (messages.success if queued else messages.warning)(request, notice)
    return redirect_back(request, fallback=reverse("site_species", args=[site.pk]))
