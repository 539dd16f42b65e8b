"""A night's analysis results: progress bar, filters and the recordings table; re-analysis of the night.

One view and one template (`classifier/visit_results.html`) give the results page and its fragments; the
fragment is chosen by the element that asked (HX-Target):
- `visit-results`   everything (what the visit page loads with hx-trigger="load");
- `visit-progress`  the progress bar, polled every 2 s while something waits; answers 286 (stop polling)
                    once nothing is uploaded, queued or running, and sends `analyses-progressed` when its
                    counts changed since the last poll (`seen`), so the table refreshes only then;
- `visit-recordings` the filtered, paged table (filter form and paging links, with hx-push-url).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from classifier import selectors, services
from classifier.forms import RecordingFilterForm
from classifier.models import ModelVersion
from classifier.views._common import (
    EVENT_ANALYSES_PROGRESSED,
    EVENT_ANALYSES_QUEUED,
    HTMX_STOP_POLLING,
    redirect_back,
)
from surveys.access import get_visit_for_user, require_role
from surveys.models import RecordingStatus, Role, Visit

TEMPLATE = "classifier/visit_results.html"
_PARTIALS = {"visit-progress": "progress", "visit-recordings": "recordings"}


def _progress_context(request: HttpRequest, visit: Visit, model_version: ModelVersion | None) -> dict:
    return {
        "visit": visit,
        "progress": selectors.visit_progress(visit, model_version=model_version),
        "results_url": reverse("visit_results", args=[visit.pk]),
    }


def _table_context(
    request: HttpRequest,
    visit: Visit,
    model_version: ModelVersion | None,
    progress: selectors.VisitProgress | None = None,
) -> dict:
    form = RecordingFilterForm(request.GET or None, species_choices=selectors.visit_species(visit))
    recordings = selectors.visit_recordings(
        visit,
        form.filters(),
        page_number=request.GET.get("page") or 1,
        model_version=model_version,
        progress=progress,
    )
    return {
        "visit": visit,
        "site": visit.site,
        "form": form,
        "filter_query": form.query_without_page(),
        "filtered": form.filters().active,
        "recordings": recordings,
        "results_url": reverse("visit_results", args=[visit.pk]),
    }


def _results_context(request: HttpRequest, visit: Visit, **extra: object) -> dict:
    model_version = ModelVersion.objects.active_summary()  # once for the progress bar and the table
    progress_context = _progress_context(request, visit, model_version)
    return {
        **progress_context,
        **_table_context(request, visit, model_version, progress_context["progress"]),
        "project": visit.site.project,
        "can_reanalyse": visit.site.project.user_has_role(request.user, Role.MANAGER),
        **extra,
    }


@login_required
@require_GET
def visit_results(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = get_visit_for_user(request.user, visit_id)
    partial = _PARTIALS.get(request.htmx.target or "", "visit-results") if request.htmx else None
    if partial == "progress":
        context = _progress_context(request, visit, ModelVersion.objects.active_summary())
        progress = context["progress"]
        response = render(
            request, f"{TEMPLATE}#progress", context, status=200 if progress.pending else HTMX_STOP_POLLING
        )
        if request.GET.get("seen", progress.signature) != progress.signature:
            response["HX-Trigger"] = EVENT_ANALYSES_PROGRESSED
        return response
    if partial == "recordings":
        context = _table_context(request, visit, ModelVersion.objects.active_summary())
        return render(request, f"{TEMPLATE}#recordings", context)
    template_name = TEMPLATE + (f"#{partial}" if partial else "")
    return render(request, template_name, _results_context(request, visit))


@login_required
@require_POST
def visit_reanalyse(request: HttpRequest, visit_id: int) -> HttpResponse:
    """Managers queue every readable recording of the night for the active model; older results stay."""
    visit = get_visit_for_user(request.user, visit_id)
    require_role(visit.site.project, request.user, minimum_role=Role.MANAGER)
    model_version = ModelVersion.objects.active()
    if model_version is None:
        notice, queued = _("There is no active model to analyse with."), 0
    else:
        queued = services.recordings_reanalyse(
            recordings=visit.recordings.filter(status=RecordingStatus.INGESTED).only("pk"),
            model_version=model_version,
        )
        notice = _("%(count)d recordings queued for analysis with %(model)s.") % {
            "count": queued,
            "model": model_version.name,
        }
    if request.htmx:
        response = render(
            request, f"{TEMPLATE}#visit-results", _results_context(request, visit, notice=notice)
        )
        response["HX-Trigger"] = EVENT_ANALYSES_QUEUED
        return response
    (messages.success if queued else messages.warning)(request, notice)
    return redirect_back(request, fallback=reverse("visit_results", args=[visit.pk]))
