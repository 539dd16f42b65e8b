"""Retraining in the app (flow step 7): build the data, train on the training queue, compare, promote.

Services (STYLE.md: keyword-only, `<noun>_<verb>`); views, tasks and commands are thin layers over them.

- `training_run_start` stores the staff's choice (Xeno-Canto imports with allowed licences, expert-confirmed
  recordings via classifier.review_export, synthetic calls) and queues `train_model` on the "training" queue.
- `training_run_execute` claims the run in the database (a conditional UPDATE writing a fresh claim token;
  not acks_late, so a long run is never redelivered to a second worker) and keeps a heartbeat while it
  works: every progress report and every `should_stop` poll of ml.train writes it, and each poll also reads
  the cancel flag. It builds one dataset folder per source, trains (ml.train.train), scores the new model
  and the active one on the same frozen test split (files whose content hash puts them in the test split,
  which no training run uses: ml.training_data), and registers the checkpoint as a new, inactive
  ModelVersion whose metrics hold the CNN and baseline scores with confusion matrices and whose manifest
  lists every file with its licence.
- `training_jobs_requeue_stale` is the periodic sweep: a run or import whose heartbeat went stale lost its
  worker and is queued again (from the start; its claim token changes, so a zombie cannot write), unless
  staff had asked to cancel it (then cancelled) or its worker vanished settings.MAX_JOB_ATTEMPTS times
  (then failed, so a job that kills its worker does not kill one after another).
- `model_version_promote` / `model_version_roll_back` are the explicit staff actions; promotion can queue
  re-analysis of chosen visits (classifier.services.recordings_reanalyse).

Label set of a new model: the classes of ARCHITECTURE.md's default set, plus Dutch species without a class
of their own (E. nilssonii, M. myotis, ...) once real data for them exists, each kept only when at least
`MIN_FILES_PER_CLASS` files of the run's data name it; `noise` always.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from classifier import model_cache
from classifier.models import JobState, ModelVersion, TrainingRun, XenoCantoImport, XenoCantoRecording
from classifier.services import model_version_activate, model_version_register, recordings_reanalyse
from classifier.storage_files import library_file_fetch
from ml import labels
from ml.dataset import DatasetFile, read_dataset, write_dataset
from ml.xenocanto import LICENCE_CODES
from surveys.models import RecordingStatus, Visit

if TYPE_CHECKING:
    from ml.model import LoadedModel
    from ml.train import TrainConfig, TrainProgress
    from ml.training_data import CallExamples

logger = logging.getLogger(__name__)

# A running job whose heartbeat is older than this lost its worker (heartbeats come every few seconds;
# decoding one long file or one epoch of a big run stays well under it). Settings: STALE_JOB_AFTER_S.
STALE_JOB_AFTER = timedelta(seconds=settings.STALE_JOB_AFTER_S)
# A queued job that no worker took for this long lost its broker message.
LOST_QUEUED_JOB_AFTER = timedelta(seconds=settings.LOST_QUEUED_JOB_AFTER_S)
HEARTBEAT_EVERY_S = 3.0
CANCEL_CHECK_EVERY_S = 1.0
MIN_FILES_PER_CLASS = 2
RELIABILITY_BINS = 10
SOURCES = ("xeno_canto", "reviewed", "synthetic")


class TrainingError(ValueError):
    """A run that cannot start or cannot train as asked; the message is shown on the run's page."""


# --------------------------------------------------------------------------------------------- folders


def training_dir() -> Path:
    return Path(getattr(settings, "TRAINING_DIR", Path(settings.VAR_DIR) / "training"))


def xeno_canto_library_dir() -> Path:
    """Where imported Xeno-Canto recordings live (a dataset folder: audio/, metadata/, labels.csv)."""
    return Path(getattr(settings, "XENO_CANTO_DIR", Path(settings.VAR_DIR) / "xeno-canto"))


# --------------------------------------------------------------------------------------------- presets


def training_presets() -> dict[str, TrainConfig]:
    """The presets staff may choose: ml.train's, plus `tiny` for a check of the whole loop in seconds."""
    from ml.train import PRESETS, TrainConfig

    tiny = TrainConfig(name="tiny", max_epochs=15, patience=15, channels=(8, 16, 16), hidden_units=32,
                       max_calls_per_file=60)  # fmt: skip
    return {"tiny": tiny, **PRESETS}


PRESET_HELP = {
    "tiny": "a few seconds to a minute: checks the whole loop, not a model to promote",
    "quick": "minutes: the demo model's preset",
    "default": "up to a quarter of an hour per thousand files: the benchmark preset",
}


# --------------------------------------------------------------------------------------------- claims


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_claim(model: type[models.Model], pk: int) -> str | None:
    """Take a queued job (or one whose worker died) with a conditional UPDATE; the new claim token or None."""
    now = timezone.now()
    token = uuid.uuid4().hex
    claimable = Q(state=JobState.QUEUED) | Q(state=JobState.RUNNING, heartbeat_at__lt=now - STALE_JOB_AFTER)
    changed = model.objects.filter(claimable, pk=pk, cancel_requested=False).update(
        state=JobState.RUNNING, started_at=now, heartbeat_at=now, finished_at=None, attempts=F("attempts") + 1,
        worker=_worker_name(), claim=token, error="",
    )  # fmt: skip
    return token if changed == 1 else None


class JobMonitor:
    """The worker's side of a claimed job: heartbeat, progress fields, the cancel flag, the final state.

    Every write is conditional on the claim token, so a worker that lost its claim (the sweep gave the job
    to another one) notices (`lost`) and stops instead of overwriting the new owner's progress.
    """

    def __init__(
        self, model: type[models.Model], pk: int, claim: str, *, clock: Callable[[], float] = time.monotonic
    ):
        self.model, self.pk, self.claim, self.clock = model, pk, claim, clock
        self.lost = False
        self.cancelled = False
        self._last_beat = -math.inf
        self._last_cancel_check = -math.inf

    def _mine(self) -> models.QuerySet:
        return self.model.objects.filter(pk=self.pk, claim=self.claim, state=JobState.RUNNING)

    def beat(self, *, force: bool = False, **fields: Any) -> bool:
        """Write the heartbeat (and `fields`) when due or forced; False once the claim is lost."""
        now = self.clock()
        if self.lost or (not force and now - self._last_beat < HEARTBEAT_EVERY_S):
            return not self.lost
        self._last_beat = now
        if self._mine().update(heartbeat_at=timezone.now(), **fields) == 0:
            self.lost = True
            logger.warning("%s %s: claim lost, stopping", self.model.__name__, self.pk)
        return not self.lost

    def should_stop(self) -> bool:
        """Polled by the long work: True once staff asked to cancel or the claim was lost."""
        now = self.clock()
        if not self.lost and now - self._last_cancel_check >= CANCEL_CHECK_EVERY_S:
            self._last_cancel_check = now
            self.cancelled = bool(self.model.objects.filter(pk=self.pk, cancel_requested=True).exists())
            self.beat()
        return self.cancelled or self.lost

    def finish(self, state: str, **fields: Any) -> bool:
        if self.lost:
            return False
        return (
            self._mine().update(
                state=state, finished_at=timezone.now(), heartbeat_at=timezone.now(), **fields
            )
            == 1
        )


def job_cancel(model: type[models.Model], job: models.Model) -> None:
    """A queued job is cancelled at once; a running one is asked to stop at its next poll."""
    now = timezone.now()
    queued = model.objects.filter(pk=job.pk, state=JobState.QUEUED).update(
        state=JobState.CANCELLED,
        cancel_requested=True,
        finished_at=now,
        message="cancelled before it started",
    )
    if not queued:
        model.objects.filter(pk=job.pk, state=JobState.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()


def training_jobs_requeue_stale() -> dict[str, int]:
    """The periodic sweep: queue again the runs and imports whose worker vanished or whose message was lost."""
    from classifier.tasks_training import import_xenocanto, train_model

    now = timezone.now()
    stale = Q(state=JobState.RUNNING, heartbeat_at__lt=now - STALE_JOB_AFTER) | Q(
        state=JobState.QUEUED, queued_at__lt=now - LOST_QUEUED_JOB_AFTER
    )
    counts = {}
    for model, task in ((TrainingRun, train_model), (XenoCantoImport, import_xenocanto)):
        vanished = Q(state=JobState.RUNNING, heartbeat_at__lt=now - STALE_JOB_AFTER)
        # Staff asked to cancel it and its worker died before it noticed: it is cancelled, not run again.
        model.objects.filter(vanished, cancel_requested=True).update(
            state=JobState.CANCELLED, finished_at=now, claim="", message="cancelled"
        )
        # A job whose worker vanished MAX_JOB_ATTEMPTS times (killed for memory, say) is failed, not retried.
        model.objects.filter(vanished, attempts__gte=settings.MAX_JOB_ATTEMPTS).update(
            state=JobState.FAILED, finished_at=now, claim="", message="failed",
            error=f"its worker stopped {settings.MAX_JOB_ATTEMPTS} times without finishing",
        )  # fmt: skip
        counts[model.__name__] = 0
        ids = list(model.objects.filter(stale, cancel_requested=False).values_list("pk", flat=True)[:100])
        for pk in ids:
            # Conditional again, job by job: one a worker claimed since the query above keeps its claim. The
            # claim token is cleared, so the vanished worker, should it come back, can no longer write.
            if model.objects.filter(stale, pk=pk, cancel_requested=False).update(
                state=JobState.QUEUED, queued_at=now, claim=""
            ):
                task.delay(pk)
                counts[model.__name__] += 1
    return counts


# --------------------------------------------------------------------------------------------- start, cancel


def training_run_start(
    *,
    user: Any,
    use_xeno_canto: bool,
    use_reviewed: bool,
    use_synthetic: bool,
    synthetic_per_class: int = 0,
    licences: Iterable[str] = (),
    preset: str = "quick",
    seed: int = 0,
) -> TrainingRun:
    """Store the staff's choice of data and queue the run on the training queue."""
    from classifier.tasks_training import train_model

    licences = sorted(set(licences))
    unknown = set(licences) - set(LICENCE_CODES)
    if unknown:
        raise TrainingError(f"unknown licence code(s): {', '.join(sorted(unknown))}")
    if preset not in training_presets():
        raise TrainingError(f"unknown preset {preset!r}")
    if use_synthetic and synthetic_per_class < 1:
        raise TrainingError("synthetic data needs at least one file per class")
    if not (use_xeno_canto or use_reviewed or use_synthetic):
        raise TrainingError("choose at least one source of training data")
    run = TrainingRun.objects.create(
        requested_by=user if getattr(user, "is_authenticated", False) else None,
        use_xeno_canto=use_xeno_canto, use_reviewed=use_reviewed, use_synthetic=use_synthetic,
        synthetic_per_class=synthetic_per_class if use_synthetic else 0, licences=licences, preset=preset,
        seed=seed, message="waiting for a worker on the training queue",
    )  # fmt: skip
    train_model.delay_on_commit(run.pk)
    return run


def training_run_cancel(*, run: TrainingRun) -> TrainingRun:
    job_cancel(TrainingRun, run)
    return run


# --------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class TrainingData:
    dirs: tuple[Path, ...]  # one dataset folder per source that has files
    label_set: tuple[str, ...]
    summary: dict[str, Any]  # per source: files, licences, species; and the classes


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)  # the library and the run folder share a disk: no copy
    except OSError:
        shutil.copy2(source, target)


def _xeno_canto_dataset(run: TrainingRun, folder: Path, heartbeat: Callable[[], object]) -> dict[str, Any]:
    rows = XenoCantoRecording.objects.order_by("xc_id")
    if run.licences:
        rows = rows.filter(licence_code__in=run.licences)
    library = xeno_canto_library_dir()
    files: list[DatasetFile] = []
    missing: list[str] = []
    for row in rows.iterator():
        heartbeat()
        source = library / row.path
        target = folder / row.path
        if source.is_file():
            _link_or_copy(source, target)
        elif not library_file_fetch(relative_path=row.path, target=target):  # imported on another host
            missing.append(row.xc_id)
            continue
        files.append(DatasetFile(
            path=target, species=row.species, call_types=tuple(row.call_types), time_expansion=1.0,
            source=f"Xeno-Canto: {row.attribution}", licence=row.licence,
            extra={"xc_id": row.xc_id, "recordist": row.recordist, "url": row.url, "sha256": row.sha256},
        ))  # fmt: skip
    write_dataset(folder, files)
    return {
        "files": len(files),
        "missing_files": missing,
        "licences_allowed": list(run.licences) or ["any"],
        "licences": dict(Counter(f.licence for f in files).most_common()),
        "species": dict(Counter(f.species for f in files).most_common()),
    }


def _reviewed_dataset(folder: Path) -> dict[str, Any]:
    try:
        from classifier.review_export import review_export
    except ImportError:  # the review app is optional for retraining
        return {"files": 0, "note": "expert review export is not available in this installation"}
    summary = review_export(folder=folder)
    files = list(read_dataset(folder)) if summary.files else []
    # The export labels each detected call with what the model that analysed the recording said, mapped onto
    # the reviewed species. Where the expert *corrected* that model, its per-call answers are what was wrong:
    # a species it did not know comes out as "noise" call by call, and teaching those calls as noise would
    # teach the new model the old one's mistake. Those files keep only their file label (every detection of
    # the file carries the expert's species), as Xeno-Canto files do.
    corrected = [f for f in files if f.extra.get("review_status") == "corrected" and f.events]
    if corrected:
        files = [replace(f, events=()) if f in corrected else f for f in files]
        write_dataset(folder, files)
    return {
        "files": summary.files,
        "files_with_events": sum(1 for f in files if f.events),
        "corrected_without_call_labels": len(corrected),
        "missing_files": list(summary.missing),
        "licences": {"own recordings": summary.files} if summary.files else {},
        "species": dict(Counter(f.species for f in files).most_common()),
    }


def _synthetic_labels() -> tuple[str, ...]:
    """Synthetic calls for the classes of the active model (or the default set), where ml.synth knows them."""
    from ml.synth_species import SPECIES_PARAMETERS

    active = ModelVersion.objects.active()
    wanted = tuple(active.label_set) if active and active.label_set else labels.DEFAULT_LABEL_SET
    return tuple(label for label in wanted if label == labels.NOISE or label in SPECIES_PARAMETERS)


def _synthetic_dataset(run: TrainingRun, folder: Path, heartbeat: Callable[[], object]) -> dict[str, Any]:
    from ml.synth import LICENCE, generate_dataset

    synth_labels = _synthetic_labels()
    generate_dataset(
        folder,
        per_class=run.synthetic_per_class,
        seed=run.seed,
        difficulty="easy",
        labels=synth_labels,
        progress=lambda done, total, label: heartbeat(),
    )
    return {
        "files": run.synthetic_per_class * len(synth_labels),
        "licences": {LICENCE: run.synthetic_per_class * len(synth_labels)},
        "species": {label: run.synthetic_per_class for label in synth_labels},
    }


def candidate_classes() -> tuple[str, ...]:
    """Classes a new model may have: the default set, then Dutch species without a class of their own."""
    extra = sorted(
        s for s in labels.SPECIES
        if s not in labels.DEFAULT_LABEL_SET and labels.pair_of(s) not in labels.DEFAULT_LABEL_SET
    )  # fmt: skip
    return (*[c for c in labels.DEFAULT_LABEL_SET if c != labels.NOISE], *extra, labels.NOISE)


def label_set_for(dirs: Sequence[Path], *, min_files: int = MIN_FILES_PER_CLASS) -> tuple[str, ...]:
    """The classes with at least `min_files` files naming them (file label or a labelled event); noise always."""
    candidates = candidate_classes()
    counts: Counter[str] = Counter()
    for folder in dirs:
        for file in read_dataset(folder):
            named = {labels.to_class(file.species, candidates)} if file.species else set()
            named |= {labels.to_class(e.species, candidates) for e in file.events if e.species}
            counts.update(named)
    return tuple(c for c in candidates if c == labels.NOISE or counts[c] >= min_files)


def training_data_build(
    *, run: TrainingRun, folder: Path, heartbeat: Callable[[], object] = lambda: None
) -> TrainingData:
    """One dataset folder per chosen source under `folder`, and the classes the data can teach.

    `heartbeat` is called as files are linked or synthesised (a big synthetic set takes minutes)."""
    dirs: list[Path] = []
    summary: dict[str, Any] = {}
    builders: list[tuple[str, bool, Callable[[Path], dict[str, Any]]]] = [
        ("xeno_canto", run.use_xeno_canto, lambda f: _xeno_canto_dataset(run, f, heartbeat)),
        ("reviewed", run.use_reviewed, _reviewed_dataset),
        ("synthetic", run.use_synthetic and run.synthetic_per_class > 0,
         lambda f: _synthetic_dataset(run, f, heartbeat)),
    ]  # fmt: skip
    for name, chosen, build in builders:
        if not chosen:
            continue
        summary[name] = build(folder / name)
        if summary[name]["files"]:
            dirs.append(folder / name)
    if not dirs:
        raise TrainingError("the chosen sources hold no recordings: import from Xeno-Canto, review recordings, "
                            "or add synthetic calls")  # fmt: skip
    label_set = label_set_for(dirs)
    if len([c for c in label_set if c != labels.NOISE]) < 1 or len(label_set) < 2:
        raise TrainingError(f"the data names too few classes to train on ({', '.join(label_set)}); each class "
                            f"needs at least {MIN_FILES_PER_CLASS} files")  # fmt: skip
    licences: Counter[str] = Counter()
    for part in summary.values():
        licences.update(part.get("licences", {}))
    summary["licences"] = dict(licences.most_common())
    summary["classes"] = list(label_set)
    return TrainingData(tuple(dirs), label_set, summary)


# --------------------------------------------------------------------------------------------- compare


def _reliability(model: LoadedModel, examples: CallExamples) -> list[dict[str, float]]:
    """Calibration table of the species head: per confidence bin, the calls in it and how often right (the
    probabilities the model answers from, pass smoothing included, as the evaluation's ECE)."""
    import numpy as np

    from ml.evaluate import predict_examples

    if len(examples) == 0:
        return []
    probabilities = predict_examples(model, examples).species
    rows = examples.detected & (examples.species >= 0)
    if not rows.any():
        return []
    confidence = probabilities[rows].max(axis=1)
    correct = probabilities[rows].argmax(axis=1) == examples.species[rows]
    bins = np.clip(np.ceil(confidence * RELIABILITY_BINS).astype(int) - 1, 0, RELIABILITY_BINS - 1)
    table = []
    for b in range(RELIABILITY_BINS):
        inside = bins == b
        if inside.any():
            table.append(
                {
                    "low": b / RELIABILITY_BINS,
                    "high": (b + 1) / RELIABILITY_BINS,
                    "n": int(inside.sum()),
                    "confidence": round(float(confidence[inside].mean()), 4),
                    "accuracy": round(float(correct[inside].mean()), 4),
                }
            )
    return table


def model_score_on_test_split(
    model: LoadedModel, dirs: Sequence[Path], *, should_stop: Callable[[], bool] | None = None
) -> dict[str, Any]:
    """Scores of one model on the frozen test split of `dirs` (call and recording level, calibration)."""
    from ml.evaluate import evaluate_examples
    from ml.training_data import DataConfig, assign_splits, load_files, prepare_examples

    loaded = load_files(list(dirs), model.label_set)
    records = assign_splits([r for r, _ in loaded], DataConfig(), seed=0)
    pairs = [(r, f) for r, (_, f) in zip(records, loaded, strict=True) if r.split == "test"]
    examples = prepare_examples(
        pairs, label_set=model.label_set, call_types=model.call_types, spectrogram_config=model.spectrogram,
        crop_config=model.crop, detect_config=model.detect, data_config=DataConfig(), should_stop=should_stop,
    )  # fmt: skip
    call = evaluate_examples(model, examples)
    recording = evaluate_examples(model, examples, per_recording=True)
    return {
        "version": model.version,
        "label_set": list(model.label_set),
        "files": [
            {
                "path": f"{Path(r.dataset).name}/{r.relative_path}",
                "sha256": r.sha256,
                "class": r.species_class,
            }
            for r in examples.files
        ],
        "call": call.as_dict(),
        "recording": recording.as_dict(),
        "reliability": _reliability(model, examples),
    }


def model_compare(
    *,
    new: LoadedModel,
    current: LoadedModel | None,
    dirs: Sequence[Path],
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """The new and the current model on the same frozen test files (neither trained on them)."""
    new_scores = model_score_on_test_split(new, dirs, should_stop=should_stop)
    comparison: dict[str, Any] = {"test_files": new_scores.pop("files"), "new": new_scores, "current": None}
    if current is not None:
        current_scores = model_score_on_test_split(current, dirs, should_stop=should_stop)
        current_scores.pop("files")
        comparison["current"] = current_scores
    return comparison


# --------------------------------------------------------------------------------------------- execute


class _TrainingMonitor(JobMonitor):
    def progress(self, update: TrainProgress) -> None:
        fields: dict[str, Any] = {"stage": update.stage}
        if update.stage == "prepare":
            fields.update(files_done=update.files_done, files_total=update.files_total,
                          message=f"decoding, detecting: {update.files_done}/{update.files_total} files")  # fmt: skip
            self.beat(force=update.files_done in (0, update.files_total), **fields)
            return
        if update.stage == "train":
            loss = None if math.isnan(update.train_loss) else round(update.train_loss, 5)
            score = None if math.isnan(update.validation_score) else round(update.validation_score, 5)
            fields.update(epoch=update.epoch, epochs=update.epochs, train_loss=loss, validation_score=score,
                          history=_history_append(self.pk, update.epoch, loss, score),
                          message=f"epoch {update.epoch} of at most {update.epochs}")  # fmt: skip
        else:
            fields["message"] = {"calibrate": "calibrating confidence", "evaluate": "scoring the test split",
                                 "done": "checkpoint written"}.get(update.stage, update.stage)  # fmt: skip
        self.beat(force=True, **fields)


def _history_append(run_id: int, epoch: int, loss: float | None, score: float | None) -> list[dict[str, Any]]:
    history = list(TrainingRun.objects.filter(pk=run_id).values_list("history", flat=True).first() or [])
    history = [h for h in history if h.get("epoch") != epoch]
    history.append({"epoch": epoch, "train_loss": loss, "validation_score": score})
    return history


def _loaded_active() -> tuple[ModelVersion | None, LoadedModel | None]:
    from ml.model import load_model

    active = ModelVersion.objects.active()
    if active is None:
        return None, None
    try:
        return active, load_model(model_cache.checkpoint_path(active))
    except Exception:  # a broken or missing file must not sink the new model: it is compared with nothing
        logger.exception("could not load the active model %s for comparison", active)
        return active, None


def training_run_execute(*, run_id: int) -> TrainingRun | None:
    """Claim and run one training run (module docstring); None when another worker has it."""
    from ml.model import load_model
    from ml.train import TrainingCancelled, train

    claim = job_claim(TrainingRun, run_id)
    if claim is None:
        return None
    run = TrainingRun.objects.get(pk=run_id)
    monitor = _TrainingMonitor(TrainingRun, run_id, claim)
    workdir = training_dir() / f"run-{run.pk}"
    shutil.rmtree(workdir, ignore_errors=True)  # a re-queued run starts over
    try:
        monitor.beat(force=True, stage="data", message="collecting the training data", history=[])
        data = training_data_build(run=run, folder=workdir / "data", heartbeat=monitor.beat)
        monitor.beat(force=True, label_set=list(data.label_set), data_summary=data.summary)
        if monitor.should_stop():
            raise TrainingCancelled("cancelled while collecting data")
        result = train(
            data.dirs, workdir / "model.pt", config=training_presets()[run.preset], seed=run.seed,
            progress=monitor.progress, should_stop=monitor.should_stop, label_set=data.label_set,
        )  # fmt: skip
        monitor.beat(force=True, stage="compare", message="comparing with the active model on the test split")
        active, active_model = _loaded_active()
        comparison = model_compare(new=load_model(result.path), current=active_model, dirs=data.dirs,
                                   should_stop=monitor.should_stop)  # fmt: skip
        if monitor.should_stop():
            raise TrainingCancelled("cancelled while comparing")
        monitor.beat(force=True, stage="register", message="storing the new model version")
        version = model_version_register(
            path=result.path, name=f"run{run.pk}-{result.version}", activate=False,
            notes=f"Trained by training run {run.pk} ({run.preset} preset, seed {run.seed}).",
        )  # fmt: skip
        ModelVersion.objects.filter(pk=version.pk).update(
            metrics={**version.metrics, "training_run": run.pk, "data": data.summary}
        )
        monitor.finish(JobState.DONE, stage="done", message="done", model_version=version, compared_with=active,
                       comparison=comparison)  # fmt: skip
    except TrainingCancelled:
        monitor.finish(JobState.CANCELLED, message="cancelled")
    except TrainingError as exc:
        monitor.finish(JobState.FAILED, error=str(exc), message="failed")
    except Exception as exc:  # shown on the run's page; the traceback goes to the worker log
        logger.exception("training run %s failed", run_id)
        monitor.finish(JobState.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], message="failed")
    finally:
        # The registered version holds its own copy of the checkpoint, and its manifest every file's hash and
        # licence: the run's folder (hard links, exported and synthetic files) is not needed any more.
        shutil.rmtree(workdir, ignore_errors=True)
    run.refresh_from_db()
    return run


# --------------------------------------------------------------------------------------------- promote


@dataclass(frozen=True)
class PromoteResult:
    model_version: ModelVersion
    previous: ModelVersion | None
    queued: int  # recordings queued for re-analysis


def model_version_promote(*, model_version: ModelVersion, visits: Iterable[Visit] = ()) -> PromoteResult:
    """Make `model_version` the active one and queue re-analysis of the chosen visits with it."""
    with transaction.atomic():
        previous = ModelVersion.objects.active()
        model_version_activate(model_version=model_version)
        visit_ids = [v.pk for v in visits]
        queued = 0
        if visit_ids:
            from surveys.models import Recording

            recordings = Recording.objects.filter(
                visit_id__in=visit_ids, status=RecordingStatus.INGESTED
            ).only("pk")
            queued = recordings_reanalyse(recordings=recordings, model_version=model_version)
    return PromoteResult(model_version, previous if previous != model_version else None, queued)


def previous_active_version(current: ModelVersion) -> ModelVersion | None:
    """The version that was active before `current` (the latest activation among the others)."""
    return (
        ModelVersion.objects.exclude(pk=current.pk).filter(activated_at__isnull=False)
        .order_by("-activated_at", "-pk").first()
    )  # fmt: skip


def model_version_roll_back(*, model_version: ModelVersion) -> ModelVersion:
    """Make the version active before `model_version` (which must be the active one) active again."""
    if not model_version.is_active:
        raise TrainingError(f"{model_version.name} is not the active model: nothing to roll back")
    previous = previous_active_version(model_version)
    if previous is None:
        raise TrainingError("no model version was active before this one")
    return model_version_activate(model_version=previous)
