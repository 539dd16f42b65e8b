"""The claim rules the real-process fault tests rely on, checked in-process where each case can be set up
exactly (pytest-django's database, a fake analysis engine, tasks run eagerly):

- an analysis stores its results only under the claim it holds: a worker whose claim went stale and was
  taken over stores nothing; a retry after a lost database connection takes its own claim back, once;
- the sweep re-queues a stale claim but fails an analysis whose worker vanished MAX_ANALYSIS_ATTEMPTS times,
  and fails a training run the same way (MAX_JOB_ATTEMPTS);
- an ingest message for a recording that is no longer waiting (a redelivery, a second message from the
  upload sweep) does nothing, and the upload sweep queues only uploads that waited too long.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.utils import timezone

from classifier import services, tasks, training
from classifier.models import Analysis, AnalysisState, CallDetection, JobState, Prediction, TrainingRun
from classifier.tasks_training import train_model
from surveys import services as survey_services
from surveys import tasks as survey_tasks
from surveys.models import Recording, RecordingStatus
from tests.classifier.conftest import FakeML, ingested, make_model_version, wav_bytes
from tests.factories import UserFactory, VisitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "media")},
    }}  # fmt: skip
    settings.MODEL_CACHE_DIR = tmp_path / "model-cache"
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture
def fake_ml(monkeypatch) -> FakeML:
    fake = FakeML()
    monkeypatch.setattr("ml.model.load_model", fake.load_model)
    monkeypatch.setattr("ml.infer.analyse", fake.analyse)
    return fake


@pytest.fixture
def analysis() -> Analysis:
    version = make_model_version(name="claims", activate=True)
    return Analysis.objects.create(recording=ingested(VisitFactory()), model_version=version)


def _make_stale(analysis: Analysis) -> None:
    long_ago = timezone.now() - services.STALE_ANALYSIS_AFTER - dt.timedelta(seconds=5)
    Analysis.objects.filter(pk=analysis.pk).update(heartbeat_at=long_ago)


def test_a_worker_whose_stale_claim_was_taken_over_stores_nothing(
    analysis: Analysis, fake_ml: FakeML
) -> None:
    first = services._claim(analysis.pk)
    _make_stale(analysis)  # its worker looks dead: another takes the analysis over
    second = services._claim(analysis.pk)
    assert (first, second) == (1, 2)

    assert services._store_result(analysis, fake_ml.result, attempt=first) is False  # the zombie comes back
    assert not CallDetection.objects.filter(analysis=analysis).exists()
    assert not Prediction.objects.filter(analysis=analysis).exists()

    assert services._store_result(analysis, fake_ml.result, attempt=second) is True
    assert CallDetection.objects.filter(analysis=analysis).count() == len(fake_ml.result.calls)
    assert services._store_result(analysis, fake_ml.result, attempt=second) is False  # done: no second store
    assert CallDetection.objects.filter(analysis=analysis).count() == len(fake_ml.result.calls)


def test_a_fresh_claim_is_taken_back_only_by_the_retry_that_held_it(analysis: Analysis) -> None:
    attempt = services._claim(analysis.pk)

    assert services._claim(analysis.pk) is None  # a redelivered message: the claim is fresh
    assert services._claim(analysis.pk, resume_attempt=attempt + 1) is None  # not its claim
    assert services._claim(analysis.pk, resume_attempt=attempt) == attempt + 1
    assert services._claim(analysis.pk, resume_attempt=attempt) is None  # taken back once only


def test_an_analysis_whose_store_loses_the_database_is_finished_by_its_retry(
    analysis: Analysis, fake_ml: FakeML, monkeypatch
) -> None:
    real_store = services._store_result
    calls: list[int] = []

    def connection_lost_once(analysis, result, *, attempt):
        calls.append(attempt)
        if len(calls) == 1:
            raise OperationalError("terminating connection due to administrator command")
        return real_store(analysis, result, attempt=attempt)

    monkeypatch.setattr(services, "_store_result", connection_lost_once)

    tasks.analyse_recording.apply(args=[analysis.pk])

    analysis.refresh_from_db()
    assert calls == [1, 2]
    assert (analysis.state, analysis.attempts) == (AnalysisState.DONE, 2)
    assert CallDetection.objects.filter(analysis=analysis).count() == len(fake_ml.result.calls)


def test_the_sweep_requeues_a_stale_claim_but_fails_one_whose_worker_vanished_too_often(
    analysis: Analysis, settings, monkeypatch
) -> None:
    queued: list[int] = []
    monkeypatch.setattr(tasks.analyse_recording, "delay", queued.append)
    services._claim(analysis.pk)
    _make_stale(analysis)

    assert services.analyses_requeue_stale() == 1
    assert queued == [analysis.pk]
    assert Analysis.objects.get(pk=analysis.pk).state == AnalysisState.QUEUED

    Analysis.objects.filter(pk=analysis.pk).update(state=AnalysisState.RUNNING,
                                                   attempts=settings.MAX_ANALYSIS_ATTEMPTS)  # fmt: skip
    _make_stale(analysis)
    assert services.analyses_requeue_stale() == 0
    analysis.refresh_from_db()
    assert analysis.state == AnalysisState.FAILED and "worker was lost" in analysis.error
    assert queued == [analysis.pk]


def _vanished_run(**fields) -> TrainingRun:
    long_ago = timezone.now() - training.STALE_JOB_AFTER * 2
    defaults = {"use_synthetic": True, "synthetic_per_class": 1, "preset": "tiny", "state": JobState.RUNNING,
                "heartbeat_at": long_ago, "claim": "gone", "attempts": 1}  # fmt: skip
    return TrainingRun.objects.create(**(defaults | fields))


def test_the_training_sweep_fails_a_run_whose_worker_vanished_too_often_and_cancels_a_cancelled_one(
    settings, monkeypatch
) -> None:
    sent: list[int] = []
    monkeypatch.setattr(train_model, "delay", sent.append)
    too_often = _vanished_run(attempts=settings.MAX_JOB_ATTEMPTS)
    cancelled = _vanished_run(cancel_requested=True)
    lost_once = _vanished_run()

    assert training.training_jobs_requeue_stale()["TrainingRun"] == 1

    assert sent == [lost_once.pk]
    for run in (too_often, cancelled, lost_once):
        run.refresh_from_db()
    assert (too_often.state, too_often.claim) == (JobState.FAILED, "") and "stopped" in too_often.error
    assert (cancelled.state, cancelled.claim) == (JobState.CANCELLED, "")
    assert (lost_once.state, lost_once.claim) == (JobState.QUEUED, "")


def _upload(count: int) -> list[int]:
    visit = VisitFactory()
    files = [
        SimpleUploadedFile(f"KR01_20250612_2300{i:02d}.wav", wav_bytes(seed=100 + i)) for i in range(count)
    ]
    return [
        o.recording_id
        for o in survey_services.recordings_upload(visit=visit, user=UserFactory(), files=files)
    ]


def test_an_ingest_message_for_a_recording_no_longer_waiting_does_nothing(monkeypatch) -> None:
    monkeypatch.setattr(survey_services.ingest_recording, "delay", lambda *args: None)
    [recording_id] = _upload(1)
    Recording.objects.filter(pk=recording_id).update(status=RecordingStatus.INGESTED)
    ingests: list[int] = []
    monkeypatch.setattr(
        survey_services, "recording_ingest", lambda *, recording_id: ingests.append(recording_id)
    )

    survey_tasks.ingest_recording.apply(args=[recording_id])

    assert ingests == []


def test_the_upload_sweep_queues_ingest_of_uploads_that_waited_too_long_only(settings, monkeypatch) -> None:
    monkeypatch.setattr(survey_services.ingest_recording, "delay", lambda *args: None)
    old, _new, done = _upload(3)
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    Recording.objects.filter(pk__in=[old, done]).update(created_at=an_hour_ago)
    Recording.objects.filter(pk=done).update(status=RecordingStatus.INGESTED)
    settings.LOST_UPLOAD_AFTER_S = 600
    queued: list[int] = []
    monkeypatch.setattr(survey_services.ingest_recording, "delay", queued.append)

    assert survey_tasks.sweep_waiting_uploads() == 1

    assert queued == [old]
