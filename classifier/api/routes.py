"""Classifier endpoints: a recording's status, prediction, calls and final label; a site's CSV reports;
the quick analysis of one file.

Recordings and sites are fetched through the token's user (surveys.access), so a foreign id answers 404;
what is shown for a recording is what its page shows (classifier.selectors.recording_analysis).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from ninja import File, Form, Path, Query, Router, Status
from ninja.decorators import decorate_view
from ninja.files import UploadedFile

from classifier import analyse_jobs
from classifier.api.schemas import (
    AnalyseJobOut,
    CallsOut,
    FinalLabelOut,
    PredictionOut,
    RecordingStatusOut,
)
from classifier.final_labels import final_label
from classifier.models import Analysis, AnalysisJob, AnalysisState, Prediction
from classifier.reports.activity import activity_summary, summary_csv
from classifier.reports.filters import ReportFilters
from classifier.reports.forms import ReportFilterForm
from classifier.reports.recordings_csv import recordings_csv
from classifier.reports.sensitive import blurred_site_ids
from classifier.selectors import recording_analysis
from surveys.access import get_recording_for_user, get_site_for_user
from surveys.api.auth import api_user
from surveys.api.errors import ApiError, body_limit, errors
from surveys.api.schemas import MAX_ID, IsoDate
from surveys.models import Recording, Visit

router = Router(tags=["analysis"])

CSV_TYPE = "text/csv; charset=utf-8"
MAX_WAIT_S = 30.0
# The multipart envelope around the file (boundaries, headers, the time_expansion field) is small.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
CSV_RESPONSE = {
    "responses": {
        "200": {
            "description": "CSV (UTF-8), streamed",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
}


# --------------------------------------------------------------------------------------------- recordings


def _analysis_out(analysis: Analysis | None, active_id: int | None) -> dict[str, Any] | None:
    if analysis is None:
        return None
    return {
        "id": analysis.pk,
        "model_version": analysis.model_version.name,
        "is_active_model": analysis.model_version_id == active_id,
        "state": analysis.state,
        "error": analysis.error,
        "queued_at": analysis.queued_at,
        "started_at": analysis.started_at,
        "finished_at": analysis.finished_at,
    }


@router.get(
    "/recordings/{recording_id}",
    response={200: RecordingStatusOut, **errors(404, 422)},
    summary="A recording's storage, metadata and analysis state",
)
def recording_status(request: HttpRequest, recording_id: int = Path(..., ge=1, le=MAX_ID)) -> Recording:
    recording = get_recording_for_user(api_user(request), recording_id)
    shown = recording_analysis(recording)
    recording.analysis = _analysis_out(shown.analysis, shown.active_model.pk if shown.active_model else None)
    return recording


def _prediction_out(prediction: Prediction) -> dict[str, Any]:
    return {
        "recording_id": prediction.recording_id,
        "model_version": prediction.model_version.name,
        "species": prediction.species,
        "species_group": prediction.species_group,
        "species_present": list(prediction.species_present or ()),
        "call_type": prediction.call_type,
        "call_types": list(prediction.call_types or ()),
        "confidence": prediction.confidence,
        "margin": prediction.margin,
        "top": [{"label": label, "probability": probability} for label, probability in prediction.top or ()],
        "n_calls": prediction.n_calls,
        "n_passes": prediction.n_passes,
        "feeding_buzzes": prediction.feeding_buzzes,
        "social_calls": prediction.social_calls,
        "created_at": prediction.created_at,
    }


@router.get(
    "/recordings/{recording_id}/prediction",
    response={200: PredictionOut, **errors(404, 422)},
    summary="The recording's prediction (404 `no_prediction` until it is analysed)",
)
def recording_prediction(
    request: HttpRequest, recording_id: int = Path(..., ge=1, le=MAX_ID)
) -> dict[str, Any]:
    recording = get_recording_for_user(api_user(request), recording_id)
    shown = recording_analysis(recording)
    if shown.prediction is None:
        state = shown.analysis.state if shown.analysis else _("not queued")
        raise ApiError(
            404,
            "no_prediction",
            _("Recording %(id)d has no prediction yet (recording %(status)s, analysis %(state)s).")
            % {"id": recording.pk, "status": recording.status, "state": state},
        )
    return _prediction_out(shown.prediction)


@router.get(
    "/recordings/{recording_id}/calls",
    response={200: CallsOut, **errors(404, 422)},
    summary="The calls detected in the recording, with their species and call type",
)
def recording_calls(request: HttpRequest, recording_id: int = Path(..., ge=1, le=MAX_ID)) -> dict[str, Any]:
    recording = get_recording_for_user(api_user(request), recording_id)
    shown = recording_analysis(recording)
    return {
        "recording_id": recording.pk,
        "model_version": shown.analysis.model_version.name if shown.analysis else None,
        "state": shown.analysis.state if shown.analysis else None,
        "calls": [
            {
                "start_s": call.start_s,
                "end_s": call.end_s,
                "low_hz": call.low_hz,
                "high_hz": call.high_hz,
                "peak_hz": call.peak_hz,
                "snr_db": call.snr_db,
                "species": call.species,
                "call_type": call.call_type,
                "confidence": call.confidence,
                "pass_index": call.pass_index,
                "novel": call.novel,
            }  # fmt: skip
            for call in shown.calls
        ],
    }


@router.get(
    "/recordings/{recording_id}/label",
    response={200: FinalLabelOut, **errors(404, 422)},
    summary="The recording's final label: the latest review decision, else the prediction",
)
def recording_label(request: HttpRequest, recording_id: int = Path(..., ge=1, le=MAX_ID)) -> dict[str, Any]:
    recording = get_recording_for_user(api_user(request), recording_id)
    label = final_label(recording)
    return {
        "recording_id": recording.pk,
        "species_present": list(label.species_present),
        "call_types": list(label.call_types),
        "source": label.source,
        "review_status": label.review_status,
        "reviewer": label.reviewer,
        "reviewed_at": label.reviewed_at,
        "reviewed_species": list(label.reviewed_species),
        "reviewed_call_types": list(label.reviewed_call_types),
        "removed_species": list(label.removed_species),
        "added_species": list(label.added_species),
    }


# --------------------------------------------------------------------------------------------- reports


def _report_filters(**values: Any) -> ReportFilters:
    """The same filters, checks and meaning as the report page's form (percent confidence, nights)."""
    data = {
        name: ("on" if value is True else "" if value in (None, False) else str(value))
        for name, value in values.items()
    }
    form = ReportFilterForm(data)
    if not form.is_valid():
        field, messages = next(iter(form.errors.items()))
        raise ApiError(422, "invalid", str(messages[0]), None if field == "__all__" else field)
    return form.filters()


def _attachment(response: HttpResponse, filename: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


@router.get(
    "/sites/{site_id}/reports/recordings.csv",
    response=errors(404, 422),
    openapi_extra=CSV_RESPONSE,
    summary="A site's recordings CSV: one row per recording x species, with auto, reviewed and final labels",
)
def site_recordings_csv(
    request: HttpRequest,
    site_id: int = Path(..., ge=1, le=MAX_ID),
    date_from: IsoDate | None = Query(None, description="First survey night (inclusive)."),
    date_to: IsoDate | None = Query(None, description="Last survey night (inclusive)."),
    min_confidence: int | None = Query(
        None, ge=0, le=100, description="Percent; expert decisions always count."
    ),
    auto: bool = Query(False, description="Also list species only the model found."),
) -> HttpResponse:
    user = api_user(request)
    site = get_site_for_user(user, site_id)
    filters = _report_filters(date_from=date_from, date_to=date_to, min_confidence=min_confidence, auto=auto)
    blocks = recordings_csv(Recording.objects.filter(visit__site=site), filters=filters,
                            blurred_site_ids=blurred_site_ids(site.project, user))  # fmt: skip
    response = StreamingHttpResponse((block.encode("utf-8") for block in blocks), content_type=CSV_TYPE)
    return _attachment(response, f"{slugify(site.code) or 'site'}-recordings")


@router.get(
    "/sites/{site_id}/reports/summary.csv",
    response=errors(404, 422),
    openapi_extra=CSV_RESPONSE,
    summary="A site's nightly activity summary CSV: one row per night x species",
)
def site_summary_csv(
    request: HttpRequest,
    site_id: int = Path(..., ge=1, le=MAX_ID),
    date_from: IsoDate | None = Query(None, description="First survey night (inclusive)."),
    date_to: IsoDate | None = Query(None, description="Last survey night (inclusive)."),
    min_confidence: int | None = Query(
        None, ge=0, le=100, description="Percent; expert decisions always count."
    ),
    auto: bool = Query(False, description="Also list species only the model found."),
) -> HttpResponse:
    user = api_user(request)
    site = get_site_for_user(user, site_id)
    filters = _report_filters(date_from=date_from, date_to=date_to, min_confidence=min_confidence, auto=auto)
    summary = activity_summary(Recording.objects.filter(visit__site=site), Visit.objects.filter(site=site),
                               filters=filters, blurred_site_ids=blurred_site_ids(site.project, user))  # fmt: skip
    response = HttpResponse(summary_csv(summary).encode("utf-8"), content_type=CSV_TYPE)
    return _attachment(response, f"{slugify(site.code) or 'site'}-nightly-summary")


# --------------------------------------------------------------------------------------------- quick analysis


# What a refused file or a failed job answers: the code is the service's, the status says whose fault it is.
STATUS_BY_CODE = {
    "invalid_audio": 422,
    "time_limit": 422,
    "too_large": 413,
    "no_active_model": 409,
    "disk_full": 503,
    "queue_unavailable": 503,
    "not_taken": 503,
    "worker_lost": 500,
    "server_error": 500,
}


def _job_answer(request: HttpRequest, response: HttpResponse, job: AnalysisJob) -> Status:
    """200 with the result (the job is collected: gone), 202 while it waits, the failure's status else."""
    url = reverse("api-v1:analyse_job", kwargs={"job_id": job.pk})
    body = {"id": job.pk, "state": job.state, "url": url, "analysis": None}
    if job.state == AnalysisState.FAILED:
        analyse_jobs.analyse_job_collect(job=job)
        code = job.error_code or "server_error"
        raise ApiError(STATUS_BY_CODE.get(code, 500), code, job.error or _("The analysis failed."), "file")
    if job.state == AnalysisState.DONE:
        body["analysis"] = job.result
        analyse_jobs.analyse_job_collect(job=job)
        return Status(200, body)
    response["Location"] = url
    response["Retry-After"] = "2"
    return Status(202, body)


@router.post(
    "/analyse",
    response={200: AnalyseJobOut, 202: AnalyseJobOut, **errors(400, 409, 413, 422, 500, 503)},
    summary="Analyse one WAV file without storing it",
)
@decorate_view(body_limit(lambda: analyse_jobs.max_bytes() + MULTIPART_OVERHEAD_BYTES))
def analyse(
    request: HttpRequest,
    response: HttpResponse,
    file: UploadedFile = File(..., description="One WAV recording."),
    time_expansion: float | None = Form(
        None,
        ge=1,
        le=100,
        allow_inf_nan=False,
        description="Used when the file has no GUANO TE field; 1 (real time) when neither says.",
    ),  # fmt: skip
    wait_s: float | None = Query(
        None,
        ge=0,
        le=MAX_WAIT_S,
        allow_inf_nan=False,
        description="How long to wait for the result before answering 202 (default: the server's setting).",
    ),  # fmt: skip
) -> Status:
    """The file goes to a worker (with a time and a size limit) through a short-lived job; nothing of it
    is kept. When the result is ready within `wait_s` the answer is 200 with it; otherwise 202 with the
    job's `url` to poll. Failures keep the error shape, with `code`: `invalid_audio` (422: not a WAV, or
    one that cannot be read), `time_limit` (422: the analysis took too long), `too_large` (413),
    `no_active_model` (409), `not_taken` / `queue_unavailable` (503: no worker), `worker_lost` /
    `server_error` (500: logged on the server)."""
    try:
        job = analyse_jobs.analyse_job_create(
            user=api_user(request), upload=file, time_expansion=time_expansion
        )
    except analyse_jobs.AnalyseRefused as exc:
        raise ApiError(STATUS_BY_CODE.get(exc.code, 422), exc.code, exc.message, exc.field) from exc
    timeout = analyse_jobs.wait_s() if wait_s is None else wait_s
    job = analyse_jobs.analyse_job_wait(job=job, timeout_s=min(timeout, MAX_WAIT_S))
    return _job_answer(request, response, job)


@router.get(
    "/analyse/{job_id}",
    response={200: AnalyseJobOut, 202: AnalyseJobOut, **errors(404, 409, 413, 422, 500, 503)},
    url_name="analyse_job",
    summary="Poll a quick analysis",
)
def analyse_job(request: HttpRequest, response: HttpResponse, job_id: uuid.UUID) -> Status:
    """200 with the result once (the job is then gone: a second poll answers 404), 202 while it waits."""
    job = analyse_jobs.analyse_job_for_user(user=api_user(request), job_id=job_id)
    job = analyse_jobs.analyse_job_wait(job=job, timeout_s=0)
    return _job_answer(request, response, job)
