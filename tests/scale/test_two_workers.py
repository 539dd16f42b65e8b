"""Scale out (issue 10): web and two workers on one database, one broker and object storage, sharing no disk.

The test process is the web side: it uploads recordings through the upload view into an S3 bucket (moto's
S3 server on 127.0.0.1). Two real Celery workers, started as the image starts them, each run in a folder of
their own with a MEDIA_ROOT, var folder and TMPDIR that hold none of the media; one consumes only the
`analysis` queue, the other `analysis` and `training`, as compose.yaml splits them. Then:

- every recording is ingested and analysed, and both workers did some of the analyses;
- the model file, the recordings, the spectrogram PNGs and the slowed audio live in the bucket, and nothing of
  the media lands in the web's MEDIA_ROOT or in any worker's folders (the only local file a worker keeps is
  its per-host copy of the model checkpoint);
- training-queue tasks reach only the worker that consumes `training`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from batsite.celery import app
from classifier import services
from classifier.models import Analysis, AnalysisState, ModelVersion, RenderedImage
from surveys.models import Recording, RecordingStatus, Role
from tests.factories import SiteFactory, VisitFactory, member
from tests.scale.conftest import S3Server, Worker, wait_ready
from tests.synthetic_audio import one_bat_wav

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

N_RECORDINGS = 6
SAMPLE_RATE_HZ = 384_000
DURATION_S = 1.0
SPECIES = ("Pipistrellus pipistrellus", "Nyctalus noctula")
ANALYSE_TASK = "classifier.tasks.analyse_recording"
INGEST_TASK = "surveys.tasks.ingest_recording"
TRAINING_SWEEP_TASK = "classifier.tasks.train_sweep_stale_jobs"
WORK_TIMEOUT_S = 240.0  # two workers import torch on a busy two-core machine before their first analysis


def _untrained_checkpoint(path: Path) -> Path:
    """A valid checkpoint of an untrained CNN: what it says does not matter here, only that analysis runs."""
    import torch

    from ml.detect import DetectConfig
    from ml.features import CropConfig
    from ml.labels import CALL_TYPES, DEFAULT_LABEL_SET
    from ml.model import CallClassifier, ModelConfig, save_checkpoint
    from ml.spectrogram import SpectrogramConfig

    torch.manual_seed(0)
    config = ModelConfig(n_species=len(DEFAULT_LABEL_SET), n_call_types=len(CALL_TYPES))
    module = CallClassifier(config).eval()
    save_checkpoint(
        path, module=module, label_set=DEFAULT_LABEL_SET, call_types=CALL_TYPES, temperature_species=1.0,
        temperature_call_type=1.0, spectrogram=SpectrogramConfig(), crop=CropConfig(), detect=DetectConfig(),
        metrics={}, manifest={}, baseline=None, version="scale-untrained",
    )  # fmt: skip
    return path


def _task_totals(workers: list[Worker]) -> dict[str, dict[str, int]]:
    """Tasks each worker has run so far, by task name (Celery's own per-process counters)."""
    stats = app.control.inspect(destination=[w.nodename for w in workers], timeout=5.0).stats() or {}
    return {w.nodename: dict(stats.get(w.nodename, {}).get("total", {})) for w in workers}


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _wait_for(condition, *, timeout_s: float, what: str, workers: list[Worker]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        for worker in workers:
            if worker.process.poll() is not None:
                message = f"{worker.nodename} exited while waiting for {what}\n{worker.log_tail()}"
                pytest.fail(message, pytrace=False)
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}\n" + "\n".join(w.log_tail() for w in workers), pytrace=False)


def test_two_workers_without_shared_disk_ingest_and_analyse_uploads_through_object_storage(
    client,
    settings,
    s3_media: S3Server,
    start_worker,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> None:
    # Both workers import Django and torch side by side while the web side prepares.
    analysis_only = start_worker("analysis", ("analysis",), tmp_path_factory.mktemp("host-a"))
    with_training = start_worker("training", ("analysis", "training"), tmp_path_factory.mktemp("host-b"))
    workers = [analysis_only, with_training]

    model = services.model_version_register(
        path=_untrained_checkpoint(tmp_path / "untrained.pt"), name="scale-untrained", activate=True
    )
    visit = VisitFactory(site=SiteFactory(code="KR01", time_zone="Europe/Amsterdam"))
    client.force_login(member(visit.site.project, Role.FIELDWORKER))
    wavs = {
        f"KR01_20250612_23{minute:02d}00.wav": one_bat_wav(
            SPECIES[minute % 2], seed=minute, duration_s=DURATION_S, sample_rate_hz=SAMPLE_RATE_HZ
        )
        for minute in range(N_RECORDINGS)
    }
    for worker in workers:
        wait_ready(worker)

    # The web side: the upload view stores each file in the bucket and queues its ingest after commit.
    files = [SimpleUploadedFile(name, data, content_type="audio/wav") for name, data in wavs.items()]
    response = client.post(reverse("visit_upload", args=[visit.pk]), {"files": files})
    assert response.status_code == 200, response.content.decode()[:2000]
    recordings = Recording.objects.filter(visit=visit)
    assert recordings.count() == N_RECORDINGS

    analyses = Analysis.objects.filter(recording__visit=visit, model_version=model)

    def settled() -> bool:  # every analysis finished, or some recording failed (then no analysis comes)
        finished = analyses.filter(state__in=[AnalysisState.DONE, AnalysisState.FAILED]).count()
        failed = recordings.filter(status__in=[RecordingStatus.FAILED, RecordingStatus.UNUSABLE]).exists()
        return failed or finished == N_RECORDINGS

    _wait_for(settled, timeout_s=WORK_TIMEOUT_S, what=f"{N_RECORDINGS} analyses", workers=workers)
    not_ingested = list(recordings.exclude(status=RecordingStatus.INGESTED).values_list("status", "reason"))
    assert not not_ingested, not_ingested
    failed = list(analyses.filter(state=AnalysisState.FAILED).values_list("error", flat=True))
    assert not failed, failed
    assert all(r.duration_s and abs(r.duration_s - DURATION_S) < 0.01 for r in recordings)

    # Both workers took part; every recording was ingested and analysed once at least.
    totals = _task_totals(workers)
    for worker in workers:
        assert totals[worker.nodename].get(ANALYSE_TASK, 0) >= 1, (worker.nodename, totals)
    assert sum(t.get(INGEST_TASK, 0) for t in totals.values()) >= N_RECORDINGS
    assert sum(t.get(ANALYSE_TASK, 0) for t in totals.values()) >= N_RECORDINGS

    # The web side draws the spectrograms on first view and streams audio, all through the bucket.
    analysis = analyses.select_related("recording").first()
    picture = client.get(reverse("analysis_spectrogram_png", args=[analysis.pk]))
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"
    assert b"".join(picture.streaming_content).startswith(b"\x89PNG")
    recording = analysis.recording
    audio = client.get(reverse("recording_audio", args=[recording.pk]))
    assert audio.status_code == 200 and b"".join(audio.streaming_content) == wavs[recording.original_name]
    slow = client.get(reverse("recording_audio_slow", args=[recording.pk]))
    assert slow.status_code == 200 and b"".join(slow.streaming_content).startswith(b"RIFF")

    keys = s3_media.keys()
    image = RenderedImage.objects.get(analysis=analysis, kind=RenderedImage.Kind.SPECTROGRAM)
    assert image.file.name in keys
    assert {r.file.name for r in recordings} <= keys
    assert ModelVersion.objects.get(pk=model.pk).file.name in keys
    assert any(key.startswith("playback/") for key in keys)

    # Nothing of the media is on a local disk: not in the web's MEDIA_ROOT, not in any worker's folders.
    # A worker keeps one local file: its per-host cache of the model checkpoint (classifier/model_cache.py).
    assert _files_under(Path(settings.MEDIA_ROOT)) == []
    for worker in workers:
        dirs = worker.local_dirs
        assert _files_under(dirs["cwd"]) == []
        assert _files_under(dirs["media"]) == []
        assert _files_under(dirs["tmp"]) == []  # temporary copies of recordings are gone after each task
        assert _files_under(dirs["var"]) == [f"model-cache/{model.sha256}.pt"]

    # Analysis and training use separate queues: training-queue work reaches only the worker consuming it.
    queues = app.control.inspect(destination=[w.nodename for w in workers], timeout=5.0).active_queues() or {}
    assert {q["name"] for q in queues[analysis_only.nodename]} == {"analysis"}
    assert {q["name"] for q in queues[with_training.nodename]} == {"analysis", "training"}
    from classifier.tasks_training import sweep_stale_training_jobs

    for _ in range(3):
        sweep_stale_training_jobs.delay()
    _wait_for(
        lambda: _task_totals(workers)[with_training.nodename].get(TRAINING_SWEEP_TASK, 0) == 3,
        timeout_s=60.0, what="the training-queue tasks", workers=workers,
    )  # fmt: skip
    assert TRAINING_SWEEP_TASK not in _task_totals(workers)[analysis_only.nodename]
