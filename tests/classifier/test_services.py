"""The analysis workflow: queueing, the task's idempotency, failures and retry, model switches.

Most tests replace ml with `fake_ml` (a fixed two-species result); the last ones run the real tiny model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from django.utils import timezone

from classifier import model_cache, services, tasks
from classifier.models import Analysis, AnalysisState, CallDetection, ModelVersion, Prediction
from ml.audio import TruncatedAudioError
from surveys.models import RecordingStatus
from tests.classifier.conftest import (
    NOC,
    PIP,
    FakeCall,
    ingested,
    make_model_version,
    pipistrelle_and_noctule,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_queued(django_capture_on_commit_callbacks):
    """Queue the analysis of a recording and run it (eagerly, once the queueing 'commits')."""

    def run(recording, model_version=None) -> Analysis:
        with django_capture_on_commit_callbacks(execute=True):
            analysis = services.analysis_queue(recording_id=recording.pk, model_version=model_version)
        assert analysis is not None
        analysis.refresh_from_db()
        return analysis

    return run


def test_analysis_stores_every_call_and_one_prediction(fake_ml, model_version, visit, run_queued):
    recording = ingested(visit)

    analysis = run_queued(recording)

    assert analysis.state == AnalysisState.DONE and analysis.attempts == 1 and analysis.error == ""
    calls = list(analysis.calls.order_by("start_s"))
    assert [c.species for c in calls] == [PIP, PIP, PIP, NOC, NOC]
    assert calls[2].call_type == "feeding_buzz" and calls[3].low_hz == 18_000.0
    prediction = Prediction.objects.get(recording=recording)
    assert prediction.model_version == model_version and prediction.analysis == analysis
    assert prediction.species_present == [PIP, NOC]
    assert (prediction.n_calls, prediction.n_passes, prediction.feeding_buzzes) == (5, 2, 1)
    assert prediction.margin == pytest.approx(0.93 - 0.05)
    assert fake_ml.analysed[0][2] == 1.0  # the recording's time-expansion factor reaches ml


def test_a_call_unlike_the_training_data_is_stored_as_novel(fake_ml, model_version, visit, run_queued):
    base = pipistrelle_and_noctule()
    fake_ml.result = replace(
        base, calls=(*base.calls, FakeCall(0.7, 0.705, "Chiroptera sp.", pass_index=-1, novel=True))
    )

    analysis = run_queued(ingested(visit))

    assert list(analysis.calls.order_by("start_s").values_list("novel", flat=True)) == [False] * 5 + [True]


def test_a_rerun_replaces_calls_and_prediction_and_never_duplicates_them(
    fake_ml, model_version, visit, run_queued
):
    recording = ingested(visit)
    run_queued(recording)
    fake_ml.result = replace(
        pipistrelle_and_noctule(confidence=0.71), calls=(FakeCall(0.2, 0.205, PIP), FakeCall(0.3, 0.305, PIP))
    )

    analysis = run_queued(recording)

    assert Analysis.objects.filter(recording=recording).count() == 1
    assert CallDetection.objects.filter(analysis__recording=recording).count() == 2
    prediction = Prediction.objects.get(recording=recording)
    assert prediction.confidence == pytest.approx(0.71) and prediction.n_calls == 2
    assert analysis.attempts == 2


def test_a_redelivered_task_does_not_analyse_a_finished_analysis_again(
    fake_ml, model_version, visit, run_queued
):
    analysis = run_queued(ingested(visit))

    tasks.analyse_recording(analysis.pk)  # acks_late: the broker may deliver the same message twice

    assert len(fake_ml.analysed) == 1
    assert CallDetection.objects.filter(analysis=analysis).count() == 5


def test_a_running_analysis_is_not_claimed_by_a_second_worker(fake_ml, model_version, visit):
    recording = ingested(visit)
    analysis = Analysis.objects.create(
        recording=recording,
        model_version=model_version,
        state=AnalysisState.RUNNING,
        heartbeat_at=timezone.now(),
    )

    assert services.recording_analyse(analysis_id=analysis.pk) is None
    assert fake_ml.analysed == []


def test_failure_stores_the_error_and_retry_queues_it_again(
    fake_ml, model_version, visit, run_queued, django_capture_on_commit_callbacks
):
    recording = ingested(visit)
    fake_ml.error = TruncatedAudioError("KR01_0001.wav is truncated: 960000 samples declared, only 12 read.")

    analysis = run_queued(recording)

    assert analysis.state == AnalysisState.FAILED
    assert analysis.error.startswith("TruncatedAudioError: KR01_0001.wav is truncated")
    assert not Prediction.objects.filter(recording=recording).exists()

    fake_ml.error = None
    with django_capture_on_commit_callbacks(execute=True):
        services.analysis_retry(analysis=analysis)

    analysis.refresh_from_db()
    assert analysis.state == AnalysisState.DONE and analysis.error == "" and analysis.attempts == 2
    assert Prediction.objects.filter(recording=recording).count() == 1


def test_recordings_that_are_not_ingested_are_not_queued(fake_ml, model_version, visit):
    unusable = ingested(visit, status=RecordingStatus.UNUSABLE, reason="true sample rate 44100 Hz")

    assert services.analysis_queue(recording_id=unusable.pk) is None
    assert not Analysis.objects.exists()


def test_without_an_active_model_nothing_is_queued(fake_ml, visit):
    make_model_version(name="inactive")

    assert services.analysis_queue(recording_id=ingested(visit).pk) is None
    assert not Analysis.objects.exists()


def test_activating_another_version_makes_the_next_analysis_use_it(fake_ml, visit, run_queued):
    first = make_model_version(name="v1", activate=True)
    recording = ingested(visit)
    run_queued(recording)
    second = make_model_version(name="v2")

    services.model_version_activate(model_version=second)
    analysis = run_queued(recording)

    assert ModelVersion.objects.active() == second
    assert analysis.model_version == second
    used_model = fake_ml.analysed[-1][1]
    assert used_model.checkpoint == b"fake checkpoint v2"  # the worker's cache reloaded the new file
    assert [path.name for path in fake_ml.loads] == [f"{first.sha256}.pt", f"{second.sha256}.pt"]
    # the first version's prediction stays attached to it
    assert set(
        Prediction.objects.filter(recording=recording).values_list("model_version__name", flat=True)
    ) == {
        "v1",
        "v2",
    }


def test_the_worker_loads_a_model_once_for_many_recordings(fake_ml, model_version, visit, run_queued):
    for _ in range(3):
        run_queued(ingested(visit))

    assert len(fake_ml.loads) == 1
    assert len(fake_ml.analysed) == 3


def test_model_cache_keeps_only_the_version_used_last(fake_ml, db):
    first, second = make_model_version(name="a"), make_model_version(name="b")

    model_cache.loaded_model(first)
    model_cache.loaded_model(second)
    model_cache.loaded_model(first)

    assert len(fake_ml.loads) == 3  # switching back loads again: one model in memory per process


def test_reanalysing_a_visit_with_the_active_model_keeps_older_results(
    fake_ml, visit, django_capture_on_commit_callbacks
):
    old = make_model_version(name="old", activate=True)
    recordings = [ingested(visit) for _ in range(2)]
    ingested(visit, status=RecordingStatus.UNUSABLE)
    with django_capture_on_commit_callbacks(execute=True):
        services.recordings_reanalyse(recordings=recordings)
    new = make_model_version(name="new", activate=True)

    with django_capture_on_commit_callbacks(execute=True):
        queued = services.recordings_reanalyse(recordings=visit.recordings.all())

    assert queued == 2
    assert Prediction.objects.filter(model_version=old).count() == 2
    assert Prediction.objects.filter(model_version=new).count() == 2


def test_waiting_recordings_are_queued_when_a_model_becomes_active(
    fake_ml, visit, django_capture_on_commit_callbacks
):
    recording = ingested(visit)
    make_model_version(name="first", activate=True)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.analyses_queue_waiting() == 1

    assert Analysis.objects.get(recording=recording).state == AnalysisState.DONE


def test_the_sweep_requeues_an_analysis_whose_worker_vanished(fake_ml, model_version, visit):
    recording = ingested(visit)
    lost = timezone.now() - services.STALE_ANALYSIS_AFTER - dt.timedelta(seconds=5)
    analysis = Analysis.objects.create(
        recording=recording,
        model_version=model_version,
        state=AnalysisState.RUNNING,
        heartbeat_at=lost,
        attempts=1,
    )

    assert tasks.sweep_stale_analyses() == 1

    analysis.refresh_from_db()
    assert analysis.state == AnalysisState.DONE and analysis.attempts == 2


# ------------------------------------------------------------------------------------------- the real model


@pytest.mark.slow
def test_a_registered_tiny_model_names_a_synthetic_pipistrelle(
    tiny_model_path, synthetic_pipistrelle_wav, visit, run_queued
):
    version = services.model_version_register(path=tiny_model_path, name="tiny", activate=True)
    recording = ingested(visit, content=synthetic_pipistrelle_wav, duration_s=3.0)

    analysis = run_queued(recording)

    assert analysis.state == AnalysisState.DONE, analysis.error
    prediction = Prediction.objects.get(recording=recording, model_version=version)
    assert prediction.species == PIP and prediction.species_present[0] == PIP
    assert prediction.n_calls == analysis.calls.count() >= 5
    assert {label for label, _ in prediction.top} == set(version.label_set)
    # a rerun with the real model is idempotent too
    run_queued(recording)
    assert analysis.calls.count() == prediction.n_calls
    assert Prediction.objects.filter(recording=recording).count() == 1


# ------------------------------------------------------------------------------------------- registering


def _retrained_copy(tiny_model_path, folder):
    """Another checkpoint with the same version string (same preset, seed and data), other weights."""
    import torch

    checkpoint = torch.load(tiny_model_path, weights_only=False)
    checkpoint["temperature_species"] = checkpoint["temperature_species"] * 1.5
    path = folder / "retrained.pt"
    torch.save(checkpoint, path)
    return path


@pytest.mark.slow
def test_a_second_checkpoint_with_the_same_version_string_is_registered_under_its_own_name(
    tiny_model_path, tmp_path
):
    first = services.model_version_register(path=tiny_model_path)
    second = services.model_version_register(path=_retrained_copy(tiny_model_path, tmp_path))

    assert first.pk != second.pk and first.sha256 != second.sha256
    assert second.name.startswith(first.name) and second.name != first.name
    assert services.model_version_register(path=tiny_model_path).pk == first.pk  # same file: same version


@pytest.mark.slow
def test_a_name_already_taken_is_refused_clearly_and_nothing_is_stored(tiny_model_path, tmp_path):
    from django.core.management import CommandError, call_command

    services.model_version_register(path=tiny_model_path, name="field-2026")
    retrained = _retrained_copy(tiny_model_path, tmp_path)

    with pytest.raises(CommandError, match="named 'field-2026' exists already"):
        call_command("register_model", str(retrained), "--name", "field-2026")
    assert ModelVersion.objects.count() == 1
