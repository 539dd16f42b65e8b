"""Workflows of the classifier app: model registry, queueing and running analyses.

Views, tasks and management commands are thin interfaces over these functions (STYLE.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from classifier import model_cache
from classifier.models import Analysis, AnalysisState, CallDetection, ModelVersion, Prediction
from classifier.review import review_entry_store
from classifier.storage_files import local_path
from surveys.models import Recording, RecordingStatus

logger = logging.getLogger(__name__)

# A running analysis claimed longer ago than this was lost with its worker and may be claimed again: the
# task's hard time limit (settings.ANALYSIS_TIME_LIMIT_S, shorter) stops any worker still running it.
STALE_ANALYSIS_AFTER = timedelta(seconds=settings.STALE_ANALYSIS_AFTER_S)
# A queued analysis no worker took for this long lost its broker message (a Redis restart, say).
LOST_QUEUED_ANALYSIS_AFTER = timedelta(seconds=settings.LOST_QUEUED_ANALYSIS_AFTER_S)


# --- model registry ----------------------------------------------------------------------------------


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ModelNameTaken(ValueError):
    """A model version of that name exists already (names are unique)."""


def model_version_register(
    *, path: Path, name: str | None = None, activate: bool = False, notes: str = ""
) -> ModelVersion:
    """Store a checkpoint file as a new model version; the file alone describes the model."""
    from ml.model import load_model

    model = load_model(path)  # refuses files that are not our checkpoints, before anything is saved
    sha256 = _sha256_of(path)
    existing = ModelVersion.objects.filter(sha256=sha256).first()
    if existing is not None:
        if activate:
            model_version_activate(model_version=existing)
        return existing
    if name is None:
        name = model.version or f"model-{sha256[:10]}"
        if ModelVersion.objects.filter(name=name).exists():
            # Another checkpoint of the same preset, seed and data (trained by other code, or retrained).
            name = f"{name}-{sha256[:8]}"
    elif ModelVersion.objects.filter(name=name).exists():
        raise ModelNameTaken(f"a model version named {name!r} exists already; choose another name")
    manifest = dict(model.manifest or {})
    version = ModelVersion(
        name=name,
        sha256=sha256,
        label_set=list(model.label_set),
        call_types=list(model.call_types),
        metrics=dict(model.metrics or {}),
        manifest=manifest,
        licences=_licence_mix(manifest),
        notes=notes,
    )
    with open(path, "rb") as f:
        version.file.save(f"{sha256}.pt", File(f), save=False)
    try:
        version.save()
    except IntegrityError:
        version.file.delete(save=False)
        raise
    if activate:
        model_version_activate(model_version=version)
    return version


def _licence_mix(manifest: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in manifest.get("files", []):
        licence = entry.get("licence") or "unknown"
        counts[licence] = counts.get(licence, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


@transaction.atomic
def model_version_activate(*, model_version: ModelVersion) -> ModelVersion:
    """Make this the one active version (workers notice on their next task)."""
    ModelVersion.objects.filter(is_active=True).exclude(pk=model_version.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=model_version.pk).update(is_active=True, activated_at=timezone.now())
    model_version.refresh_from_db()
    return model_version


# --- queueing ------------------------------------------------------------------------------------------


def analysis_queue(*, recording_id: int, model_version: ModelVersion | None = None) -> Analysis | None:
    """Queue the analysis of an ingested recording by a model version (the active one by default).

    Idempotent: an existing analysis of the same pair is re-queued, never duplicated.
    """
    from classifier.tasks import analyse_recording

    model_version = model_version or ModelVersion.objects.active()
    if model_version is None:
        logger.info("No active model: recording %s waits for one", recording_id)
        return None
    recording = Recording.objects.filter(pk=recording_id, status=RecordingStatus.INGESTED).first()
    if recording is None:
        return None
    analysis, created = Analysis.objects.get_or_create(recording=recording, model_version=model_version)
    if not created:
        if analysis.state == AnalysisState.RUNNING:
            return analysis
        Analysis.objects.filter(pk=analysis.pk).update(
            state=AnalysisState.QUEUED, error="", queued_at=timezone.now()
        )
        analysis.refresh_from_db()
    analyse_recording.delay_on_commit(analysis.pk)
    return analysis


def recordings_reanalyse(*, recordings: Iterable[Recording], model_version: ModelVersion | None = None) -> int:
    """Queue re-analysis with the active model; results of older versions stay attached to them."""
    count = 0
    for recording in recordings:
        if analysis_queue(recording_id=recording.pk, model_version=model_version) is not None:
            count += 1
    return count


def analysis_retry(*, analysis: Analysis) -> Analysis | None:
    return analysis_queue(recording_id=analysis.recording_id, model_version=analysis.model_version)


def analyses_queue_waiting() -> int:
    """Queue every ingested recording that has no analysis by the active model yet (e.g. after promotion)."""
    model_version = ModelVersion.objects.active()
    if model_version is None:
        return 0
    waiting = Recording.objects.filter(status=RecordingStatus.INGESTED).exclude(
        analyses__model_version=model_version
    )
    return recordings_reanalyse(recordings=waiting.only("pk"), model_version=model_version)


# --- running --------------------------------------------------------------------------------------------


def _stale_running(now) -> Q:
    return Q(state=AnalysisState.RUNNING, heartbeat_at__lt=now - STALE_ANALYSIS_AFTER)


class AnalysisInterrupted(Exception):
    """The database connection broke while this worker held the analysis's claim number `attempt`.

    The task retries with `resume_attempt=attempt`, which takes the claim back at once instead of waiting
    for the sweep to find it stale.
    """

    def __init__(self, analysis_id: int, attempt: int) -> None:
        super().__init__(f"analysis {analysis_id}: database connection lost during attempt {attempt}")
        self.analysis_id, self.attempt = analysis_id, attempt


def _claim(analysis_id: int, *, resume_attempt: int | None = None) -> int | None:
    """Take the analysis with a conditional UPDATE that must change exactly one row.

    Returns the attempt number this claim holds, or None when another worker has the analysis (or it is
    done). Every claim counts `attempts` up, so the number tells this claim from any later one: results are
    stored only while the analysis still holds it (`_store_result`). `resume_attempt` takes back a claim
    this task held when the database went away (AnalysisInterrupted), if nobody took it since.
    """
    now = timezone.now()
    claimable = Q(state=AnalysisState.QUEUED) | _stale_running(now)
    if resume_attempt is not None:
        claimable |= Q(state=AnalysisState.RUNNING, attempts=resume_attempt)
    with transaction.atomic():  # the UPDATE's row lock keeps `attempts` ours until the read below
        changed = Analysis.objects.filter(claimable, pk=analysis_id).update(
            state=AnalysisState.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            worker=_worker_name(),
            error="",
        )
        if changed != 1:
            return None
        return Analysis.objects.filter(pk=analysis_id).values_list("attempts", flat=True).get()


def _worker_name() -> str:
    """The Celery worker's node name (unique per worker, even for two workers on one host)."""
    from celery import current_task

    hostname = getattr(getattr(current_task, "request", None), "hostname", None)
    return hostname or f"{socket.gethostname()}:{os.getpid()}"


def _infer_config():
    from ml.infer import InferConfig

    return InferConfig(confidence_threshold=settings.CONFIDENCE_THRESHOLD, pass_gap_s=settings.PASS_GAP_S)


def recording_analyse(*, analysis_id: int, resume_attempt: int | None = None) -> Analysis | None:
    """Run one analysis (claimed first, so a redelivered task never runs it twice) and store its results.

    Raises AnalysisInterrupted when the database connection breaks after the claim (a PostgreSQL restart).
    """
    attempt = _claim(analysis_id, resume_attempt=resume_attempt)
    if attempt is None:
        return None
    try:
        return _analyse_claimed(analysis_id, attempt)
    except (OperationalError, InterfaceError) as exc:
        raise AnalysisInterrupted(analysis_id, attempt) from exc


def _analyse_claimed(analysis_id: int, attempt: int) -> Analysis:
    from ml.infer import analyse

    analysis = Analysis.objects.select_related("recording__visit", "model_version").get(pk=analysis_id)
    recording = analysis.recording
    try:
        model = model_cache.loaded_model(analysis.model_version)
        with local_path(recording.file) as path:
            result = analyse(
                path, model, time_expansion=recording.time_expansion or None, config=_infer_config()
            )
    except (OperationalError, InterfaceError):
        raise  # the database went away, not the analysis: recording_analyse says so to the task
    except Exception as exc:  # stored and shown on the recording page, where "retry" re-queues it
        logger.exception("Analysis %s failed", analysis_id)
        Analysis.objects.filter(pk=analysis_id, state=AnalysisState.RUNNING, attempts=attempt).update(
            state=AnalysisState.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        return Analysis.objects.get(pk=analysis_id)
    _store_result(analysis, result, attempt=attempt)
    analysis.refresh_from_db()
    return analysis


@transaction.atomic
def _store_result(analysis: Analysis, result, *, attempt: int) -> bool:
    """Replace this analysis's calls and prediction (an upsert under the recording x model constraint).

    Only while the analysis still holds this worker's claim (`attempt`): the row is locked first, so a
    worker that lost its claim (the sweep gave the analysis to another one) stores nothing, and two
    workers never write calls for one analysis at once. False when nothing was stored.
    """
    held = Analysis.objects.select_for_update().filter(
        pk=analysis.pk, state=AnalysisState.RUNNING, attempts=attempt
    )
    if not held.exists():
        logger.warning("Analysis %s lost claim %s to another worker: nothing stored", analysis.pk, attempt)
        return False
    CallDetection.objects.filter(analysis=analysis).delete()
    CallDetection.objects.bulk_create(
        CallDetection(
            analysis=analysis,
            start_s=call.start_s,
            end_s=call.end_s,
            low_hz=call.low_hz,
            high_hz=call.high_hz,
            peak_hz=call.peak_hz,
            snr_db=call.snr_db,
            species=call.species,
            call_type=call.call_type,
            confidence=call.confidence,
            pass_index=call.pass_index,
            novel=bool(call.novel),
        )
        for call in result.calls
    )
    top = [[label, float(p)] for label, p in result.top]
    margin = top[0][1] - top[1][1] if len(top) > 1 else (top[0][1] if top else 0.0)
    prediction, _created = Prediction.objects.update_or_create(
        recording=analysis.recording,
        model_version=analysis.model_version,
        defaults={
            "analysis": analysis,
            "species": result.species,
            "species_group": result.species_group,
            "species_present": list(result.species_present),
            "call_type": result.call_type,
            "call_types": list(result.call_types),
            "confidence": float(result.confidence),
            "margin": float(margin),
            "top": top,
            "n_calls": len(result.calls),
            "n_passes": len(result.passes),
            "feeding_buzzes": sum(1 for c in result.calls if c.call_type == "feeding_buzz"),
            "social_calls": sum(1 for c in result.calls if c.call_type == "social_call"),
        },
    )
    review_entry_store(prediction=prediction)  # rank it in the project's review queue
    Analysis.objects.filter(pk=analysis.pk).update(
        state=AnalysisState.DONE, finished_at=timezone.now(), heartbeat_at=timezone.now(), error=""
    )
    return True


def analysis_fail(*, analysis_id: int, error: str) -> None:
    Analysis.objects.filter(pk=analysis_id).update(
        state=AnalysisState.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def analyses_requeue_stale() -> int:
    """The periodic sweep: re-queue analyses whose worker vanished (stale claim) or whose message was lost.

    An analysis whose worker vanished `MAX_ANALYSIS_ATTEMPTS` times is marked failed instead: a file that
    kills every worker that opens it must not take the night's workers down one after the other.
    Returns how many analyses were queued again.
    """
    from classifier.tasks import analyse_recording

    now = timezone.now()
    Analysis.objects.filter(_stale_running(now), attempts__gte=settings.MAX_ANALYSIS_ATTEMPTS).update(
        state=AnalysisState.FAILED,
        finished_at=now,
        error=gettext(
            "The analysis stopped without a result several times (its worker was lost); retry to try again."
        ),
    )
    lost = _stale_running(now) | Q(state=AnalysisState.QUEUED, queued_at__lt=now - LOST_QUEUED_ANALYSIS_AFTER)
    requeued = 0
    for analysis_id in list(Analysis.objects.filter(lost).values_list("pk", flat=True)[:1000]):
        # Conditional again, row by row: an analysis a worker claimed since the query above is left alone.
        if Analysis.objects.filter(lost, pk=analysis_id).update(state=AnalysisState.QUEUED, queued_at=now):
            analyse_recording.delay(analysis_id)
            requeued += 1
    return requeued
