"""Quick analysis of one file sent to `POST /api/v1/analyse` (the seed's /predict), never stored as a recording.

    analyse_job_create   (web) check the file (size, really a WAV), put it in a temporary place in the
                         storage backend, create the job row and queue the worker task
    analyse_job_run      (worker) claim the job, analyse the file with the active model within the time
                         limit, write the result on the row and delete the file, whatever happened
    analyse_job_wait     (web) poll the job row for up to a few seconds
    analyse_job_collect  (web) the result was handed over: the row goes too
    analyse_jobs_sweep   rows and files that nobody collected (and jobs whose worker died) are removed

The model never runs in the web process: the request only moves bytes and reads the row. Limits come from
settings (defaults here, in one place): API_ANALYSE_MAX_MB (file size), API_ANALYSE_TIME_LIMIT_S (the
worker's hard limit; the soft one is 10 s earlier), API_ANALYSE_WAIT_S (how long a request waits before it
answers 202) and API_ANALYSE_JOB_TTL_S (when uncollected jobs are swept).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import uuid
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.storage import default_storage
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _

from classifier import model_cache
from classifier.models import AnalysisJob, AnalysisState, ModelVersion
from classifier.storage_files import local_path
from ml.audio import AudioError
from surveys import uploads
from surveys.uploads import UploadRejected

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.core.files.uploadedfile import UploadedFile

log = logging.getLogger(__name__)

DEFAULT_MAX_MB = 50  # a few minutes of full-spectrum audio; longer files belong in a visit
DEFAULT_TIME_LIMIT_S = 120
DEFAULT_WAIT_S = 10.0
DEFAULT_JOB_TTL_S = 3600
POLL_INTERVAL_S = 0.25
QUEUED_TOO_LONG = dt.timedelta(minutes=10)  # no worker took it: say so instead of "queued" forever
TEMP_FOLDER = "tmp/analyse"


class AnalyseRefused(Exception):
    """The file is not analysed; `code` is stable (too_large, invalid_audio, no_active_model, disk_full,
    queue_unavailable), the message is for people."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def max_bytes() -> int:
    return int(getattr(settings, "API_ANALYSE_MAX_MB", DEFAULT_MAX_MB)) * uploads.MB


def time_limit_s() -> int:
    return int(getattr(settings, "API_ANALYSE_TIME_LIMIT_S", DEFAULT_TIME_LIMIT_S))


def wait_s() -> float:
    return float(getattr(settings, "API_ANALYSE_WAIT_S", DEFAULT_WAIT_S))


def job_ttl() -> dt.timedelta:
    return dt.timedelta(seconds=int(getattr(settings, "API_ANALYSE_JOB_TTL_S", DEFAULT_JOB_TTL_S)))


def _too_large(name: str) -> AnalyseRefused:
    return AnalyseRefused(
        "too_large",
        _(
            "%(name)s is larger than the quick-analysis limit of %(limit)d MB. Upload long recordings to a "
            "visit instead: they are analysed there too."
        )
        % {"name": name, "limit": max_bytes() // uploads.MB},
        "file",
    )


# --------------------------------------------------------------------------------------------- web side


def analyse_job_create(
    *, user: AbstractBaseUser, upload: UploadedFile, time_expansion: float | None = None
) -> AnalysisJob:
    """Store the file in a temporary place and queue its analysis; refused files leave nothing behind."""
    model_version = ModelVersion.objects.active()
    if model_version is None:
        raise AnalyseRefused(
            "no_active_model",
            _("No model version is active, so nothing can be analysed yet. Ask the operator to promote one."),
        )
    name = uploads.base_name(upload.name or "upload.wav")
    if upload.size is not None and upload.size > max_bytes():
        raise _too_large(name)
    try:
        uploads.check_disk_space(incoming_bytes=upload.size or 0)
    except UploadRejected as exc:
        raise AnalyseRefused("disk_full", str(exc)) from exc
    try:
        staged = uploads.stage_chunks(uploads.upload_chunks(upload), name=name, max_bytes=max_bytes())
    except UploadRejected as exc:
        raise AnalyseRefused("invalid_audio", str(exc), "file") from exc
    try:
        uploads.validate_audio(staged)
        analyse_jobs_sweep()  # here as well as periodically: the table stays small even without beat
        job = AnalysisJob(
            id=uuid.uuid4(),
            user=user,
            model_version=model_version,
            original_name=name,
            size_bytes=staged.size_bytes,
            time_expansion=time_expansion,
        )
        content = uploads.StagedContent(staged)
        try:
            job.file.save(f"{job.pk}.wav", content, save=False)
        finally:
            content.close()
        try:
            job.save(force_insert=True)
        except BaseException:
            job.file.storage.delete(job.file.name)
            raise
    except UploadRejected as exc:
        raise AnalyseRefused("invalid_audio", str(exc), "file") from exc
    finally:
        staged.discard()
    _enqueue(job)
    return job


def _enqueue(job: AnalysisJob) -> None:
    from classifier.tasks_api import analyse_quick_job

    try:
        analyse_quick_job.delay_on_commit(str(job.pk))
    except Exception as exc:
        log.exception("queueing quick analysis %s failed", job.pk)
        _remove(job)
        raise AnalyseRefused(
            "queue_unavailable",
            _("The analysis queue cannot be reached right now; nothing was kept. Try again in a minute."),
        ) from exc


def analyse_job_for_user(*, user: AbstractBaseUser, job_id: uuid.UUID) -> AnalysisJob:
    """A job of this user's; someone else's job answers 404 like a missing (or collected) one."""
    return get_object_or_404(AnalysisJob.objects.filter(user=user), pk=job_id)


def analyse_job_wait(*, job: AnalysisJob, timeout_s: float) -> AnalysisJob:
    """The job as it stands once finished, or after `timeout_s` (reads the row; never runs anything)."""
    deadline = time.monotonic() + max(timeout_s, 0.0)
    while True:
        fresh = AnalysisJob.objects.filter(pk=job.pk).first()
        if fresh is None:  # swept or collected meanwhile
            return job
        job = _expire_if_lost(fresh)
        remaining = deadline - time.monotonic()
        if job.finished or remaining <= 0:
            return job
        time.sleep(min(POLL_INTERVAL_S, remaining))


def _expire_if_lost(job: AnalysisJob) -> AnalysisJob:
    """A running job past the hard time limit lost its worker (killed); a queued one that no worker took
    for long will not be taken soon. Both are failed with the reason, so the client stops polling."""
    now = timezone.now()
    error = code = ""
    if job.state == AnalysisState.RUNNING and job.started_at is not None:
        if now - job.started_at > dt.timedelta(seconds=time_limit_s() + 30):
            code = "worker_lost"
            error = _(
                "The worker analysing the file stopped (killed at the time limit of %(limit)d s, or lost); "
                "nothing was kept."
            ) % {"limit": time_limit_s()}
    elif job.state == AnalysisState.QUEUED and now - job.created_at > QUEUED_TOO_LONG:
        code = "not_taken"
        error = _("No worker took the analysis within %(minutes)d minutes; try again later.") % {
            "minutes": QUEUED_TOO_LONG.seconds // 60
        }
    if not code:
        return job
    AnalysisJob.objects.filter(pk=job.pk, state=job.state).update(
        state=AnalysisState.FAILED, error=error, error_code=code, finished_at=now
    )
    job.refresh_from_db()
    return job


def analyse_job_collect(*, job: AnalysisJob) -> None:
    """The client has the result (or the failure): nothing of the job is kept."""
    _remove(job)


# --------------------------------------------------------------------------------------------- worker side


def _time_limit_message() -> str:
    return _("The analysis took longer than the limit of %(limit)d s and was stopped.") % {
        "limit": time_limit_s()
    }


def analyse_job_run(*, job_id: str) -> AnalysisJob | None:
    """Analyse one job's file (claimed first, so a second delivery does nothing) and delete the file."""
    claimed = AnalysisJob.objects.filter(pk=job_id, state=AnalysisState.QUEUED).update(
        state=AnalysisState.RUNNING, started_at=timezone.now()
    )
    if claimed != 1:
        return None
    job = AnalysisJob.objects.select_related("model_version").get(pk=job_id)
    state, result, error, code = AnalysisState.FAILED, None, "", ""
    try:
        result = _analyse(job)
        state = AnalysisState.DONE
    except SoftTimeLimitExceeded:
        error, code = _time_limit_message(), "time_limit"
    except AudioError as exc:  # the file's fault: the message says what is wrong with it
        error, code = str(exc), "invalid_audio"
    except AnalyseRefused as exc:
        error, code = exc.message, exc.code
    except Exception as exc:  # ours: logged, and answered as a server error
        log.exception("quick analysis %s failed", job_id)
        error = _("The analysis failed on the server (%(error)s).") % {"error": type(exc).__name__}
        code = "server_error"
    finally:
        _delete_file(job)
    AnalysisJob.objects.filter(pk=job.pk).update(
        state=state, result=result, error=error[:2000], error_code=code, finished_at=timezone.now(), file=""
    )
    job.refresh_from_db()
    return job


def _analyse(job: AnalysisJob) -> dict[str, Any]:
    from ml.infer import InferConfig, analyse

    # The size limit holds on the worker too: a row written by an older web process, or by hand.
    if job.size_bytes > max_bytes() or job.file.size > max_bytes():
        raise _too_large(job.original_name)
    model_version = job.model_version or ModelVersion.objects.active()
    if model_version is None:
        raise AnalyseRefused("no_active_model", _("No model version is active; nothing was analysed."))
    model = model_cache.loaded_model(model_version)
    config = InferConfig(confidence_threshold=settings.CONFIDENCE_THRESHOLD, pass_gap_s=settings.PASS_GAP_S)
    with local_path(job.file) as path:
        analysis = analyse(path, model, time_expansion=job.time_expansion, config=config)
    return analysis_json(analysis, file_name=job.original_name, model_version=model_version.name)


def _number(value: Any, digits: int = 6) -> float | None:
    """A JSON-safe float: NaN and infinities (which JSON cannot hold) become null."""
    number = float(value)
    return round(number, digits) if math.isfinite(number) else None


def analysis_json(analysis: Any, *, file_name: str, model_version: str) -> dict[str, Any]:
    """An `ml.infer.Analysis` as the API's plain JSON (the shape of classifier.api.schemas.QuickAnalysisOut)."""

    def optional(name: str) -> float | None:
        value = getattr(analysis, name, None)
        return None if value is None else _number(value)

    return {
        "file": file_name,
        "model_version": model_version,
        "duration_s": optional("duration_s"),
        "sample_rate_hz": int(analysis.sample_rate_hz) if getattr(analysis, "sample_rate_hz", None) else None,
        "time_expansion": optional("time_expansion"),
        "species": analysis.species,
        "species_group": analysis.species_group,
        "species_present": list(analysis.species_present),
        "call_type": analysis.call_type,
        "call_types": list(analysis.call_types),
        "confidence": _number(analysis.confidence, 4),
        "top": [{"label": label, "probability": _number(p, 4)} for label, p in analysis.top],
        "passes": [
            {
                "species": p.species,
                "start_s": _number(getattr(p, "start_s", 0.0)),
                "end_s": _number(getattr(p, "end_s", 0.0)),
                "n_calls": int(getattr(p, "n_calls", 0)),
                "call_types": list(getattr(p, "call_types", ())),
                "confidence": _number(getattr(p, "confidence", 0.0), 4),
            }
            for p in analysis.passes
        ],
        "calls": [
            {
                "start_s": _number(c.start_s),
                "end_s": _number(c.end_s),
                "low_hz": _number(c.low_hz, 1),
                "high_hz": _number(c.high_hz, 1),
                "peak_hz": _number(c.peak_hz, 1),
                "snr_db": _number(c.snr_db, 2),
                "species": c.species,
                "call_type": c.call_type,
                "confidence": _number(c.confidence, 4),
                "pass_index": int(c.pass_index),
                "novel": bool(c.novel),
            }
            for c in analysis.calls
        ],
    }


# --------------------------------------------------------------------------------------------- cleaning up


def _delete_file(job: AnalysisJob) -> None:
    if job.file.name:
        try:
            job.file.storage.delete(job.file.name)
        except OSError:
            log.exception("could not delete the quick-analysis file %s", job.file.name)


def _remove(job: AnalysisJob) -> None:
    _delete_file(job)
    AnalysisJob.objects.filter(pk=job.pk).delete()


def analyse_jobs_sweep(*, older_than: dt.timedelta | None = None) -> int:
    """Remove jobs older than the TTL (collected or not) with their files, and stray files of jobs whose
    row never got written (a crash between storing the file and saving the row). Returns jobs removed."""
    cutoff = timezone.now() - (older_than if older_than is not None else job_ttl())
    stale = list(AnalysisJob.objects.filter(created_at__lt=cutoff).only("pk", "file")[:500])
    for job in stale:
        _remove(job)
    _sweep_stray_files(cutoff)
    return len(stale)


def _sweep_stray_files(cutoff: dt.datetime) -> None:
    try:
        _folders, names = default_storage.listdir(TEMP_FOLDER)
    except (FileNotFoundError, NotImplementedError):
        return
    for name in names:
        stem = PurePosixPath(name).stem
        path = f"{TEMP_FOLDER}/{name}"
        try:
            job_id = uuid.UUID(stem)
        except ValueError:
            job_id = None
        if job_id is not None and AnalysisJob.objects.filter(pk=job_id).exists():
            continue
        try:
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)
        except (OSError, NotImplementedError):
            log.warning("could not sweep the stray quick-analysis file %s", path)
