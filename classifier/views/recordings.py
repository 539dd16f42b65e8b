"""One recording's analysis: the panel the recording page loads, its occlusion map, retrying a failure.

`classifier/recording_analysis.html` gives the page and its fragments, chosen by HX-Target:
- `analysis-panel`   everything (what the recording page loads with hx-trigger="load");
- `analysis-status`  the state line, polled every 2 s while the analysis is queued or running; 286 once it
                     is done or failed, with `analyses-progressed` when the state changed (`seen`), which
                     makes `analysis-results` (spectrogram, prediction, calls) refresh; the audio players
                     are outside that part, so playback is never interrupted.
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
from classifier.models import AnalysisState
from classifier.playback import SLOWDOWN
from classifier.views._common import (
    EVENT_ANALYSES_PROGRESSED,
    EVENT_ANALYSES_QUEUED,
    HTMX_STOP_POLLING,
    get_analysis_for_user,
    redirect_back,
)
from surveys.access import get_recording_for_user
from surveys.models import Recording

TEMPLATE = "classifier/recording_analysis.html"
_PARTIALS = {"analysis-status": "analysis-status", "analysis-results": "analysis-results"}


def _analysis_id(request: HttpRequest) -> int | None:
    try:
        return int(request.GET["analysis"])
    except (KeyError, ValueError):
        return None


def _state_key(panel: selectors.RecordingAnalysis) -> str:
    analysis = panel.analysis
    return f"{panel.recording.status}-{analysis.pk if analysis else 0}-{analysis.state if analysis else ''}"


def _panel_context(recording: Recording, panel: selectors.RecordingAnalysis) -> dict:
    return {
        "recording": recording,
        "visit": recording.visit,
        "site": recording.visit.site,
        "project": recording.visit.site.project,
        "panel": panel,
        "analysis": panel.analysis,
        "prediction": panel.prediction,
        "state_key": _state_key(panel),
        "slowdown": SLOWDOWN,
        "panel_url": reverse("recording_analysis", args=[recording.pk]),
    }


@login_required
@require_GET
def recording_analysis(request: HttpRequest, recording_id: int) -> HttpResponse:
    recording = get_recording_for_user(request.user, recording_id)
    panel = selectors.recording_analysis(recording, analysis_id=_analysis_id(request))
    context = _panel_context(recording, panel)
    if not request.htmx:
        return render(request, TEMPLATE, context)
    partial = _PARTIALS.get(request.htmx.target or "", "analysis-panel")
    if partial == "analysis-status":
        response = render(
            request,
            f"{TEMPLATE}#analysis-status",
            context,
            status=200 if panel.pending else HTMX_STOP_POLLING,
        )
        if request.GET.get("seen", context["state_key"]) != context["state_key"]:
            response["HX-Trigger"] = EVENT_ANALYSES_PROGRESSED
        return response
    return render(request, f"{TEMPLATE}#{partial}", context)


@login_required
@require_GET
def analysis_occlusion(request: HttpRequest, analysis_id: int) -> HttpResponse:
    """The occlusion map on demand: a figure whose image is drawn (and cached) once the browser asks."""
    analysis = get_analysis_for_user(request.user, analysis_id)
    recording = analysis.recording
    context = {
        "analysis": analysis,
        "recording": recording,
        "visit": recording.visit,
        "site": recording.visit.site,
        "project": recording.visit.site.project,
        "available": analysis.state == AnalysisState.DONE,
    }
    template_name = "classifier/analysis_occlusion.html" + ("#occlusion" if request.htmx else "")
    return render(request, template_name, context, status=200 if context["available"] else 404)


@login_required
@require_POST
def analysis_retry(request: HttpRequest, analysis_id: int) -> HttpResponse:
    """Any member re-queues a failed analysis (with its own model version)."""
    analysis = get_analysis_for_user(request.user, analysis_id)
    requeued = None
    if analysis.state == AnalysisState.FAILED:
        requeued = services.analysis_retry(analysis=analysis)
    if request.htmx:
        # The progress bar or state line listening for this event looks again and starts polling.
        return HttpResponse(status=204, headers={"HX-Trigger": EVENT_ANALYSES_QUEUED})
    if requeued is not None:
        messages.success(request, _("%(name)s is queued for analysis again.") % {"name": analysis.recording})
    else:
        messages.warning(request, _("Only a failed analysis of a readable recording can be retried."))
    return redirect_back(request, fallback=reverse("recording_analysis", args=[analysis.recording_id]))
