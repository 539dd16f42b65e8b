"""Visit pages: one night at one site, with its upload form and live recordings table.

The visit page and its two fragments come from one template, `surveys/visit_detail.html`:
- `#recordings` is what the table polls every 2 s while a recording still waits for ingest; the poll answers
  286 (htmx: stop polling) once none waits; it pages (`?page=`, RECORDINGS_PER_PAGE rows), its counts cover
  the whole night;
- `#upload-response` is what the upload answers to HTMX/XHR: the per-file results and the fresh table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from surveys.access import can_edit_visit, get_site_for_user, get_visit_for_editor, get_visit_for_user
from surveys.forms import UploadForm, VisitForm
from surveys.models import RecordingStatus, Visit
from surveys.services import recordings_upload

HTMX_STOP_POLLING = 286


def _wants_fragment(request: HttpRequest) -> bool:
    # static/js/upload.js sends the upload with XMLHttpRequest (for its progress bar), not through htmx.
    return bool(request.htmx) or request.headers.get("X-Requested-With") == "XMLHttpRequest"


RECORDINGS_PER_PAGE = 100  # a night holds up to thousands: the table pages, the counts cover them all


def _visit_context(
    request: HttpRequest, visit: Visit, *, results: Sequence[Any] = (), upload_error: str = ""
) -> dict:
    counts = visit.recordings.counts()
    statuses, total = Counter(counts.by_status), counts.total
    # The table shows neither the metadata nor the detector's XML sidecar, which can be large.
    paginator = Paginator(visit.recordings.defer("metadata", "sidecar_xml"), RECORDINGS_PER_PAGE)
    paginator.count = total  # counted above: no second COUNT query
    page = paginator.get_page(request.GET.get("page") or 1)
    recordings = list(page.object_list)
    tz = visit.site.tz
    status_labels = {status: str(label) for status, label in RecordingStatus.choices}
    for recording in recordings:
        recording.visit = visit  # already joined to its site: no query per row
        # Formatted once here, not per row in the template: the filters `timezone` and `date` and
        # get_status_display cost a tenth of a millisecond a row, which adds up on a night of hundreds.
        local = timezone.localtime(recording.recorded_at, tz) if recording.recorded_at else None
        recording.local_time = local.strftime("%Y-%m-%d %H:%M:%S") if local else ""
        recording.status_label = status_labels.get(recording.status, recording.status)
    outcome_counts = Counter(outcome.status for outcome in results)
    return {
        "visit": visit,
        "site": visit.site,
        "project": visit.site.project,
        "can_edit": can_edit_visit(request.user, visit),
        "recordings": recordings,
        "recordings_page": page,
        "recordings_total": total,
        "status_counts": [(status, label, statuses[status]) for status, label in RecordingStatus.choices],
        "waiting": statuses[RecordingStatus.UPLOADED] > 0,
        "night_empty": total == 0,
        "outside_count": counts.outside_night,
        "upload_form": UploadForm(),
        "results": results,
        "accepted_count": outcome_counts["accepted"],
        "duplicate_count": outcome_counts["duplicate"],
        "rejected_count": outcome_counts["rejected"],
        "upload_error": upload_error,
    }


@login_required
@require_GET
def visit_detail(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = get_visit_for_user(request.user, visit_id)
    context = _visit_context(request, visit)
    if request.htmx:
        status = 200 if context["waiting"] else HTMX_STOP_POLLING
        return render(request, "surveys/visit_detail.html#recordings", context, status=status)
    return render(request, "surveys/visit_detail.html", context)


@login_required
@require_POST
@transaction.non_atomic_requests  # the service commits file by file (see recordings_upload)
def visit_upload(request: HttpRequest, visit_id: int) -> HttpResponse:
    """Any member uploads. 200 when at least one file was accepted; 400 with the same per-file list when
    none was (every file rejected or already present), or when the request held no files at all."""
    visit = get_visit_for_user(request.user, visit_id)
    files = request.FILES.getlist("files")
    if files:
        results = recordings_upload(visit=visit, user=request.user, files=files)
        context = _visit_context(request, visit, results=results)
        status = 200 if context["accepted_count"] else 400
    else:
        context = _visit_context(
            request, visit, upload_error=_("Choose at least one WAV or ZIP file to upload.")
        )
        status = 400
    template_name = "surveys/visit_detail.html"
    if _wants_fragment(request):
        template_name += "#upload-response"
    return render(request, template_name, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def visit_create(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_site_for_user(request.user, site_id)  # every member creates visits
    form = VisitForm(request.POST or None, instance=Visit(site=site, created_by=request.user))
    if request.method == "POST" and form.is_valid():
        visit = form.save()
        messages.success(request, _("Visit created. You can upload its recordings now."))
        return redirect("visit_detail", visit_id=visit.pk)
    context = {"form": form, "site": site, "project": site.project, "visit": None}
    return render(request, "surveys/visit_form.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def visit_edit(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = get_visit_for_editor(request.user, visit_id)
    form = VisitForm(request.POST or None, instance=visit)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Visit saved."))
        return redirect("visit_detail", visit_id=visit.pk)
    context = {"form": form, "site": visit.site, "project": visit.site.project, "visit": visit}
    return render(request, "surveys/visit_form.html", context, status=400 if form.errors else 200)
