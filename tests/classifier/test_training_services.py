"""Retraining services: starting on the training queue, the database claim with heartbeat and cancel, the
stale-job sweep, the training data (sources, licence filter, classes), promotion and roll back.

ml.train is replaced by a fake here where only the job handling is under test; test_training_loop trains
for real.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from batsite.celery import app
from classifier import training
from classifier.models import (
    JobState,
    ModelVersion,
    TrainingRun,
    XenoCantoImport,
    XenoCantoRecording,
)
from classifier.tasks_training import import_xenocanto, train_model
from ml.dataset import DatasetFile, write_dataset
from ml.train import TrainingCancelled, TrainProgress
from tests.classifier.conftest import NOC, PIP, ingested, make_model_version, wav_bytes
from tests.factories import UserFactory, VisitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def folders(settings, tmp_path: Path) -> Path:
    settings.TRAINING_DIR = tmp_path / "training"
    settings.XENO_CANTO_DIR = tmp_path / "xeno-canto"
    return tmp_path


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


def _queued_run(**fields) -> TrainingRun:
    defaults = {"use_xeno_canto": False, "use_reviewed": False, "use_synthetic": True, "synthetic_per_class": 1,
                "preset": "tiny"}  # fmt: skip
    return TrainingRun.objects.create(**{**defaults, **fields})


def _library_recording(xc_id: str, *, species: str, licence: str, code: str, seed: int) -> XenoCantoRecording:
    path = training.xeno_canto_library_dir() / "audio" / f"{xc_id}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(seed=seed))
    return XenoCantoRecording.objects.create(
        xc_id=xc_id, species=species, scientific_name=species, call_types=["echolocation"], licence=licence,
        licence_code=code, url=f"https://xeno-canto.org/{xc_id[2:]}", attribution=f"Someone, {xc_id}.",
        path=f"audio/{xc_id}.wav", sha256="0" * 64, sample_rate_hz=384_000,
    )  # fmt: skip


# ----------------------------------------------------------------------------------------------- starting


def test_starting_a_run_queues_it_on_the_training_queue(staff, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = training.training_run_start(user=staff, use_xeno_canto=True, use_reviewed=True, use_synthetic=False,
                                          licences=["by", "by-nc"], preset="quick")  # fmt: skip

    assert run.state == JobState.QUEUED and run.requested_by == staff
    assert run.licences == ["by", "by-nc"]
    assert len(callbacks) == 1  # sent once the row is committed
    for task in (train_model, import_xenocanto):
        assert app.amqp.router.route({}, task.name, (), {})["queue"].name == "training"
    assert not train_model.acks_late


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"use_xeno_canto": False, "use_reviewed": False, "use_synthetic": False}, "at least one source"),
        ({"use_synthetic": True, "synthetic_per_class": 0}, "at least one file per class"),
        ({"licences": ["by", "all-rights-reserved"]}, "unknown licence"),
        ({"preset": "enormous"}, "unknown preset"),
    ],
)
def test_a_run_that_cannot_train_as_asked_is_refused(staff, fields, message) -> None:
    arguments = {
        "user": staff,
        "use_xeno_canto": True,
        "use_reviewed": False,
        "use_synthetic": False,
        **fields,
    }

    with pytest.raises(training.TrainingError, match=message):
        training.training_run_start(**arguments)

    assert not TrainingRun.objects.exists()


# ----------------------------------------------------------------------------------------------- claims


def test_a_run_is_claimed_by_one_worker_only() -> None:
    run = _queued_run()

    first = training.job_claim(TrainingRun, run.pk)
    second = training.job_claim(TrainingRun, run.pk)

    assert first and second is None
    run.refresh_from_db()
    assert (run.state, run.attempts, run.claim) == (JobState.RUNNING, 1, first)


def test_a_running_run_whose_heartbeat_went_stale_can_be_claimed_again() -> None:
    run = _queued_run()
    old_claim = training.job_claim(TrainingRun, run.pk)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - training.STALE_JOB_AFTER * 2)

    new_claim = training.job_claim(TrainingRun, run.pk)

    assert new_claim and new_claim != old_claim
    zombie = training.JobMonitor(TrainingRun, run.pk, old_claim)
    assert zombie.beat(force=True, message="still here") is False  # the old worker cannot write any more
    assert zombie.should_stop()
    assert TrainingRun.objects.get(pk=run.pk).message != "still here"


def test_the_sweep_queues_again_what_lost_its_worker_or_its_message(monkeypatch) -> None:
    sent: list[tuple[str, int]] = []
    monkeypatch.setattr(train_model, "delay", lambda pk: sent.append(("train", pk)))
    monkeypatch.setattr(import_xenocanto, "delay", lambda pk: sent.append(("import", pk)))
    long_ago = timezone.now() - timedelta(hours=2)
    dead = _queued_run(state=JobState.RUNNING, heartbeat_at=long_ago, claim="gone")
    alive = _queued_run(state=JobState.RUNNING, heartbeat_at=timezone.now(), claim="here")
    lost_message = XenoCantoImport.objects.create(query="grp:bats", queued_at=long_ago)
    XenoCantoImport.objects.create(query="grp:bats")  # queued just now: waits its turn

    counts = training.training_jobs_requeue_stale()

    assert sorted(sent) == sorted([("train", dead.pk), ("import", lost_message.pk)])
    assert counts == {"TrainingRun": 1, "XenoCantoImport": 1}
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert (dead.state, dead.claim) == (JobState.QUEUED, "")
    assert alive.state == JobState.RUNNING


# ----------------------------------------------------------------------------------------------- running


@pytest.fixture
def fake_data(monkeypatch, tmp_path: Path) -> Path:
    """training_data_build replaced: one tiny dataset folder, two classes."""
    folder = tmp_path / "fake-data"
    wav = folder / "a.wav"
    folder.mkdir()
    wav.write_bytes(wav_bytes())
    write_dataset(folder, [DatasetFile(path=wav, species=PIP, call_types=("echolocation",), time_expansion=1.0,
                                       source="test", licence="CC0-1.0")])  # fmt: skip
    data = training.TrainingData(
        (folder,), (PIP, "noise"), {"synthetic": {"files": 1}, "licences": {"CC0-1.0": 1}}
    )
    monkeypatch.setattr(training, "training_data_build", lambda **kwargs: data)
    return folder


def test_progress_is_written_as_training_goes_and_a_cancel_stops_it(monkeypatch, fake_data) -> None:
    run = _queued_run()
    seen_by_train: dict[str, object] = {}

    def fake_train(dirs, out_path, *, progress, should_stop, **kwargs):
        progress(TrainProgress("prepare", files_done=1, files_total=1))
        progress(TrainProgress("train", epoch=1, epochs=15, train_loss=0.9, validation_score=0.4))
        seen_by_train["after epoch 1"] = TrainingRun.objects.values("stage", "epoch", "train_loss",
                                                                    "validation_score").get(pk=run.pk)  # fmt: skip
        training.training_run_cancel(run=TrainingRun.objects.get(pk=run.pk))  # staff presses "cancel"
        monkeypatch.setattr(training, "CANCEL_CHECK_EVERY_S", 0.0)
        if should_stop():
            raise TrainingCancelled("cancelled in epoch 2")
        raise AssertionError("should_stop did not see the cancel")

    monkeypatch.setattr("ml.train.train", fake_train)

    result = training.training_run_execute(run_id=run.pk)

    assert seen_by_train["after epoch 1"] == {
        "stage": "train",
        "epoch": 1,
        "train_loss": 0.9,
        "validation_score": 0.4,
    }
    assert result.state == JobState.CANCELLED
    assert result.history == [{"epoch": 1, "train_loss": 0.9, "validation_score": 0.4}]
    assert result.model_version is None and result.finished_at is not None
    assert not (training.training_dir() / f"run-{run.pk}").exists()  # nothing left behind


def test_a_failing_run_stores_the_error(monkeypatch, fake_data) -> None:
    run = _queued_run()

    def broken_train(*args, **kwargs):
        raise RuntimeError("out of memory while batching")

    monkeypatch.setattr("ml.train.train", broken_train)

    result = training.training_run_execute(run_id=run.pk)

    assert result.state == JobState.FAILED
    assert result.error == "RuntimeError: out of memory while batching"


def test_a_run_already_claimed_elsewhere_is_left_alone(monkeypatch, fake_data) -> None:
    run = _queued_run()
    training.job_claim(TrainingRun, run.pk)
    monkeypatch.setattr("ml.train.train", lambda *a, **k: pytest.fail("a second worker trained"))

    assert training.training_run_execute(run_id=run.pk) is None


def test_a_queued_run_cancelled_before_it_starts_never_runs(monkeypatch) -> None:
    run = _queued_run()
    training.training_run_cancel(run=run)
    monkeypatch.setattr("ml.train.train", lambda *a, **k: pytest.fail("a cancelled run trained"))

    assert run.state == JobState.CANCELLED
    assert training.training_run_execute(run_id=run.pk) is None


# ----------------------------------------------------------------------------------------------- data


def test_xeno_canto_data_keeps_only_the_allowed_licences(tmp_path: Path) -> None:
    _library_recording("XC1", species=PIP, licence="CC-BY-4.0", code="by", seed=1)
    _library_recording("XC2", species=PIP, licence="CC-BY-NC-ND-4.0", code="by-nc-nd", seed=2)
    _library_recording("XC3", species=NOC, licence="CC-BY-SA-4.0", code="by-sa", seed=3)
    _library_recording("XC4", species=NOC, licence="CC-BY-SA-4.0", code="by-sa", seed=4)
    _library_recording("XC5", species=PIP, licence="CC-BY-4.0", code="by", seed=5)
    run = _queued_run(use_xeno_canto=True, use_synthetic=False, licences=["by", "by-sa"])

    data = training.training_data_build(run=run, folder=tmp_path / "data")

    xc = data.summary["xeno_canto"]
    assert xc["files"] == 4
    assert xc["licences"] == {"CC-BY-4.0": 2, "CC-BY-SA-4.0": 2}
    assert data.summary["licences"] == {"CC-BY-4.0": 2, "CC-BY-SA-4.0": 2}
    assert data.label_set == (PIP, NOC, "noise")
    assert {f.name for f in (tmp_path / "data" / "xeno_canto" / "audio").iterdir()} == {"XC1.wav", "XC3.wav",
                                                                                      "XC4.wav", "XC5.wav"}  # fmt: skip


def test_xeno_canto_files_imported_on_another_host_come_from_media_storage(tmp_path: Path) -> None:
    _library_recording("XC1", species=PIP, licence="CC-BY-4.0", code="by", seed=1)
    elsewhere = _library_recording("XC2", species=PIP, licence="CC-BY-4.0", code="by", seed=2)
    lost = _library_recording("XC3", species=NOC, licence="CC-BY-4.0", code="by", seed=3)
    _library_recording("XC4", species=NOC, licence="CC-BY-4.0", code="by", seed=4)
    _library_recording("XC5", species=NOC, licence="CC-BY-4.0", code="by", seed=5)
    library = training.xeno_canto_library_dir()
    sent = (library / elsewhere.path).read_bytes()
    default_storage.save(f"xeno-canto/{elsewhere.path}", ContentFile(sent))
    (library / elsewhere.path).unlink()  # this host's library lacks it: it was imported on another host
    (library / lost.path).unlink()  # and this one is nowhere
    run = _queued_run(use_xeno_canto=True, use_synthetic=False)

    data = training.training_data_build(run=run, folder=tmp_path / "data")

    audio = tmp_path / "data" / "xeno_canto" / "audio"
    assert {f.name for f in audio.iterdir()} == {"XC1.wav", "XC2.wav", "XC4.wav", "XC5.wav"}
    assert (audio / "XC2.wav").read_bytes() == sent
    assert data.summary["xeno_canto"]["files"] == 4
    assert data.summary["xeno_canto"]["missing_files"] == ["XC3"]


def test_data_with_nothing_in_it_is_a_clear_error(tmp_path: Path) -> None:
    run = _queued_run(use_xeno_canto=True, use_synthetic=False)

    with pytest.raises(training.TrainingError, match="hold no recordings"):
        training.training_data_build(run=run, folder=tmp_path / "data")


def test_a_dutch_species_without_a_class_joins_the_classes_once_two_files_name_it(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    rows = [
        ("Eptesicus nilssonii", 2),
        ("Myotis brandtii", 2),
        ("Hipposideros caffer", 3),
        ("Myotis myotis", 1),
    ]
    files = []
    for species, count in rows:
        for i in range(count):
            path = folder / f"{species.replace(' ', '_')}_{i}.wav"
            path.write_bytes(b"")
            files.append(DatasetFile(path=path, species=species, call_types=(), time_expansion=1.0, source="",
                                     licence=""))  # fmt: skip
    write_dataset(folder, files)

    classes = training.label_set_for([folder])

    # E. nilssonii gets a class of its own; M. brandtii trains its pair; one M. myotis file is not enough;
    # a non-European species never becomes a class.
    assert classes == ("Myotis mystacinus/brandtii", "Eptesicus nilssonii", "noise")


# ----------------------------------------------------------------------------------------------- promote


def test_promotion_makes_the_version_active_and_queues_the_chosen_nights(
    fake_ml, visit, django_capture_on_commit_callbacks
) -> None:
    old = make_model_version(name="old", activate=True)
    new = make_model_version(name="new")
    chosen = [ingested(visit), ingested(visit)]
    other_night = ingested(VisitFactory(site=visit.site))

    with django_capture_on_commit_callbacks(execute=True):
        result = training.model_version_promote(model_version=new, visits=[visit])

    assert ModelVersion.objects.active() == new
    assert (result.previous, result.queued) == (old, 2)
    assert {a.recording_id for a in new.analyses.all()} == {r.pk for r in chosen}
    assert not other_night.analyses.exists()


def test_roll_back_makes_the_previously_active_version_active_again() -> None:
    first = make_model_version(name="first", activate=True)
    second = make_model_version(name="second")
    training.model_version_promote(model_version=second)

    restored = training.model_version_roll_back(model_version=ModelVersion.objects.get(pk=second.pk))

    assert restored == first and ModelVersion.objects.active() == first


def test_roll_back_needs_the_active_version_and_one_before_it() -> None:
    only = make_model_version(name="only", activate=True)
    idle = make_model_version(name="idle")

    with pytest.raises(training.TrainingError, match="not the active model"):
        training.model_version_roll_back(model_version=idle)
    with pytest.raises(training.TrainingError, match="no model version was active before"):
        training.model_version_roll_back(model_version=only)
