"""Pictures and audio, served only to members (there is no public media URL; ARCHITECTURE.md, Access).

Audio answers HTTP Range requests (206), so the browser's player can seek in long recordings.
"""

from __future__ import annotations

import re
from typing import BinaryIO

from django.contrib.auth.decorators import login_required
from django.core.files.storage import Storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from classifier import images, playback
from classifier.views._common import get_analysis_for_user
from surveys.access import get_recording_for_user

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_STREAM_BLOCK_BYTES = 64 * 1024
# Images never change under one URL (the page adds ?v=<finished time>); stay out of shared caches.
_IMAGE_CACHE = "private, max-age=86400"


@login_required
@require_GET
def analysis_image(request: HttpRequest, analysis_id: int, kind: str) -> FileResponse:
    analysis = get_analysis_for_user(request.user, analysis_id)
    try:
        image = images.analysis_image(analysis=analysis, kind=kind)
    except images.ImageUnavailable:
        raise Http404(_("This analysis has no results to draw yet.")) from None
    except FileNotFoundError:
        raise Http404(_("The file of this recording is missing from storage.")) from None
    response = FileResponse(image.file.open("rb"), content_type="image/png")
    response["Cache-Control"] = _IMAGE_CACHE
    return response


def _byte_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """(first, last) for a single-range header; None to answer in full; False when unsatisfiable."""
    match = _RANGE.match(header.strip())
    if not match:
        return None  # absent, multiple ranges or malformed: the whole file is a valid answer
    first, last = match.groups()
    if first == "":
        if last == "" or int(last) == 0:
            return False
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


def _read_range(handle: BinaryIO, start: int, length: int):
    try:
        handle.seek(start)
        while length > 0:
            block = handle.read(min(_STREAM_BLOCK_BYTES, length))
            if not block:
                break
            length -= len(block)
            yield block
    finally:
        handle.close()


def _ranged_response(
    request: HttpRequest,
    *,
    storage: Storage,
    name: str,
    content_type: str,
    filename: str,
    as_attachment: bool = False,
) -> HttpResponse:
    try:
        size = storage.size(name)
        handle = storage.open(name, "rb")
    except (FileNotFoundError, OSError):
        raise Http404(_("The file is missing from storage.")) from None
    wanted = _byte_range(request.headers.get("Range", ""), size)
    if wanted is False:
        handle.close()
        return HttpResponse(status=416, headers={"Content-Range": f"bytes */{size}"})
    if wanted is None:
        response: HttpResponse = FileResponse(
            handle, content_type=content_type, as_attachment=as_attachment, filename=filename
        )
    else:
        start, end = wanted
        response = StreamingHttpResponse(
            _read_range(handle, start, end - start + 1), status=206, content_type=content_type
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def recording_audio(request: HttpRequest, recording_id: int) -> HttpResponse:
    """The original file at 1x: inline for the player, `?download=1` to save it under its original name."""
    recording = get_recording_for_user(request.user, recording_id)
    return _ranged_response(
        request,
        storage=recording.file.storage,
        name=recording.file.name,
        content_type="audio/wav",
        filename=recording.original_name,
        as_attachment=request.GET.get("download") == "1",
    )


@login_required
@require_GET
def recording_audio_slow(request: HttpRequest, recording_id: int) -> HttpResponse:
    """The 1/10-speed copy (made and cached on first request)."""
    recording = get_recording_for_user(request.user, recording_id)
    try:
        storage, name = playback.slowed_copy(recording)
    except FileNotFoundError:
        raise Http404(_("The file of this recording is missing from storage.")) from None
    except playback.NotAWavError as exc:
        return HttpResponse(
            _("This file cannot be slowed down: %(reason)s.") % {"reason": exc},
            status=422,
            content_type="text/plain; charset=utf-8",
        )
    stem = recording.original_name.rsplit(".", 1)[0]
    return _ranged_response(
        request,
        storage=storage,
        name=name,
        content_type="audio/wav",
        filename=f"{stem}_slow{playback.SLOWDOWN}x.wav",
    )
