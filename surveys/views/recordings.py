"""One recording: its metadata page, and its file streamed to members only (there is no public media URL)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from surveys.access import get_recording_for_user


@login_required
@require_GET
def recording_detail(request: HttpRequest, recording_id: int) -> HttpResponse:
    recording = get_recording_for_user(request.user, recording_id)
    metadata = recording.metadata if isinstance(recording.metadata, dict) else {}
    guano = metadata.get("guano") if isinstance(metadata.get("guano"), dict) else {}
    return render(
        request,
        "surveys/recording_detail.html",
        {
            "recording": recording,
            "visit": recording.visit,
            "site": recording.visit.site,
            "project": recording.visit.site.project,
            "guano_fields": sorted(guano.items()),
            "timestamp_source": metadata.get("timestamp_source", ""),
        },
    )


@login_required
@require_GET
def recording_download(request: HttpRequest, recording_id: int) -> FileResponse:
    """`?inline=1` feeds the page's audio player; otherwise the browser saves the file under its own name."""
    recording = get_recording_for_user(request.user, recording_id)
    try:
        handle = recording.file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404(_("The file of this recording is missing from storage.")) from None
    return FileResponse(
        handle,
        as_attachment=request.GET.get("inline") != "1",
        filename=recording.original_name,
        content_type="audio/wav",
    )
