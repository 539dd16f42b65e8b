"""Training (ml.train, ml.training_data): a tiny model on a tiny generated set, splits, checkpoint, callbacks.

Everything runs on the CPU with one torch thread, on a generated set of four classes x five files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.__main__ import main
from ml.dataset import read_dataset
from ml.evaluate import evaluate
from ml.features import CropConfig
from ml.labels import NOISE
from ml.model import load_model, predict_calls
from ml.novelty import MIN_REFERENCE_FILES, NOVELTY_QUANTILE
from ml.synth import SynthConfig, generate_dataset
from ml.train import (
    PRESETS,
    TrainConfig,
    TrainingCancelled,
    TrainProgress,
    _weight_average,
    prepare_training_examples,
    train,
    train_on_examples,
)
from ml.training_data import DataConfig, FileRecord, assign_splits, is_test_file, label_calls

LABELS = ("Pipistrellus pipistrellus", "Nyctalus noctula", "Rhinolophus hipposideros", "noise")
# A few hundred calls: small batches so that 15 epochs are enough optimiser steps.
TINY = TrainConfig(
    name="tiny",
    max_epochs=15,
    patience=15,
    batch_size=16,
    channels=(4, 8, 8),
    hidden_units=32,
    max_calls_per_file=60,
)
SHORT_FILES = SynthConfig(duration_s=(0.6, 1.0))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> object:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("train") / "data", 5, seed=11, config=SHORT_FILES, labels=LABELS
    )


@pytest.fixture(scope="module")
def tiny_heldout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("heldout") / "data", 3, seed=12, config=SHORT_FILES, labels=LABELS
    )


@pytest.fixture(scope="module")
def tiny_model(tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[TrainProgress]]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    reports: list[TrainProgress] = []
    out = tmp_path_factory.mktemp("model") / "tiny.pt"
    train([tiny_data], out, config=TINY, seed=3, label_set=LABELS, progress=reports.append)
    torch.set_num_threads(previous)
    return out, reports


def test_a_tiny_model_beats_chance_clearly_on_files_it_never_saw(
    tiny_model: tuple[Path, list], tiny_heldout: Path
) -> None:
    model = load_model(tiny_model[0])
    report = evaluate(model, [tiny_heldout])
    # Four classes: chance is 0.25 macro-F1 and accuracy.
    assert report.cnn.species.macro_f1 > 0.6
    assert report.cnn.species.accuracy > 0.7
    per_recording = evaluate(model, [tiny_heldout], per_recording=True)
    assert per_recording.cnn.species.accuracy > 0.7


def test_progress_reports_files_then_epochs_with_loss_and_validation_score(
    tiny_model: tuple[Path, list],
) -> None:
    _, reports = tiny_model
    stages = [r.stage for r in reports]
    assert stages[0] == "prepare" and stages[-1] == "done"
    epochs = [r for r in reports if r.stage == "train"]
    assert [r.epoch for r in epochs] == list(range(1, len(epochs) + 1))
    assert all(np.isfinite(r.train_loss) and 0.0 <= r.validation_score <= 1.0 for r in epochs)
    assert epochs[-1].train_loss < epochs[0].train_loss
    assert reports[stages.index("train") - 1].files_done == reports[stages.index("train") - 1].files_total


def test_checkpoint_describes_its_data_and_scores(tiny_model: tuple[Path, list], tiny_data: Path) -> None:
    model = load_model(tiny_model[0])
    files = model.manifest["files"]
    assert len(files) == len(read_dataset(tiny_data))
    assert all(
        len(f["sha256"]) == 64 and f["licence"] == "CC0-1.0" and f["split"] in ("train", "validation", "test")
        for f in files
    )
    assert len(model.manifest["sha256"]) == 64
    assert model.label_set == LABELS
    assert model.temperature_species > 0 and model.temperature_call_type > 0
    assert model.baseline is not None
    assert {"cnn", "baseline"} <= set(model.metrics["test"])  # the baseline is reported beside the CNN
    assert "macro_f1_species" in model.metrics["test"]["baseline"]["call"]
    assert model.metrics["best_epoch"] >= 1


def test_the_version_names_preset_seed_data_and_settings(
    tiny_model: tuple[Path, list], tiny_data: Path, tmp_path: Path
) -> None:
    model = load_model(tiny_model[0])
    assert model.version.startswith(f"tiny-s3-{model.manifest['sha256'][:10]}-")
    # The same preset name, seed and data with a wider network is another model, so another version.
    torch.set_num_threads(1)
    wider = dataclasses.replace(TINY, channels=(8, 8, 8), max_epochs=1, patience=1)
    train([tiny_data], tmp_path / "wider.pt", config=wider, seed=3, label_set=LABELS)
    other = load_model(tmp_path / "wider.pt")
    assert other.manifest["sha256"] == model.manifest["sha256"]
    assert other.version != model.version and other.version.startswith("tiny-s3-")
    # So is one whose crops are cut otherwise.
    short = dataclasses.replace(TINY, max_epochs=1, patience=1)
    crops = {}
    for window_ms in (32.0, 24.0):
        path = tmp_path / f"crop{window_ms:.0f}.pt"
        crop = CropConfig(window_ms=window_ms)
        train([tiny_data], path, config=short, seed=3, label_set=LABELS, crop_config=crop)
        crops[window_ms] = load_model(path)
    assert crops[24.0].crop.window_ms == 24.0
    assert crops[24.0].version != crops[32.0].version


def test_weight_averaging_follows_the_live_weights_with_a_lag() -> None:
    live = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    averaged = _weight_average(live, decay=0.9)
    start = live[0].weight.detach().clone()
    with torch.no_grad():
        live[0].weight.add_(1.0)
    for _ in range(200):
        averaged.update_parameters(live)
    # Many updates towards fixed weights reach them; the live module itself is never touched.
    assert torch.allclose(averaged.module[0].weight, start + 1.0, atol=1e-4)
    assert averaged.module is not live
    with torch.no_grad():
        live[0].weight.add_(1.0)
    averaged.update_parameters(live)
    # One step later the average has moved a tenth of the way (decay 0.9): between old and new weights.
    assert torch.allclose(averaged.module[0].weight, start + 1.1, atol=1e-4)
    assert averaged.module[1].num_batches_tracked == live[1].num_batches_tracked
    assert _weight_average(live, decay=None) is None  # no average: the live weights are validated and kept


def test_a_checkpoint_with_enough_validation_recordings_tells_calls_unlike_its_training_data(
    tiny_heldout: Path, tmp_path: Path
) -> None:
    # 12 files per class, none in the test split and 40 % in validation: over MIN_REFERENCE_FILES bat files.
    data = generate_dataset(tmp_path / "data", 12, seed=13, config=SHORT_FILES, labels=LABELS)
    torch.set_num_threads(1)
    split = DataConfig(test_percent=0, validation_fraction=0.4)
    train([data], tmp_path / "m.pt", config=TINY, seed=3, label_set=LABELS, data_config=split)
    model = load_model(tmp_path / "m.pt")
    assert model.novelty is not None and model.novelty.quantile == NOVELTY_QUANTILE
    examples = prepare_training_examples([tiny_heldout], label_set=LABELS, data_config=DataConfig(test_percent=0))
    bats = examples.subset((examples.species >= 0) & (examples.species != LABELS.index(NOISE)))
    alien = np.full_like(bats.crops, 4.0)  # every pixel loud: nothing like a call of any class

    held_out = predict_calls(model, bats.crops, bats.context).novel
    unlike = predict_calls(model, alien, bats.context).novel

    # 1 - NOVELTY_QUANTILE of new calls like the training ones is the aim; tiny models on 20 validation
    # files flag 10-22 % of these 95 calls, depending on the training seed.
    assert held_out.mean() < 0.25
    assert unlike.mean() > 0.9


def test_a_checkpoint_with_too_few_validation_recordings_has_no_novelty_check(
    tiny_model: tuple[Path, list]
) -> None:
    model = load_model(tiny_model[0])
    assert model.metrics["n_files"]["validation"] < MIN_REFERENCE_FILES
    assert model.novelty is None


def test_split_is_by_recording_and_the_test_split_never_trains(tiny_data: Path) -> None:
    examples = prepare_training_examples(
        [tiny_data], label_set=LABELS, data_config=DataConfig(test_percent=30)
    )
    split_of_call = [examples.files[i].split for i in examples.file_index]
    for i, record in enumerate(examples.files):
        # Every call of a file is on the file's side, whatever side that is.
        assert {split_of_call[k] for k in np.flatnonzero(examples.file_index == i)} <= {record.split}
    assert {f.split for f in examples.files} == {"train", "validation", "test"}
    for record in examples.files:
        assert (record.split == "test") == is_test_file(record.sha256, 30)


def _sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def _record(sha: str, species: str, dataset: str = "a") -> FileRecord:
    return FileRecord(
        Path(f"{dataset}/{sha}.wav"), dataset, f"{sha}.wav", sha, species, species, "", 1.0, "", ""
    )


def test_the_test_split_is_frozen_by_content_whatever_the_seed_or_the_other_files() -> None:
    records = [_record(_sha(i), LABELS[i % 4]) for i in range(600)]
    test_a = {r.sha256 for r in assign_splits(records, DataConfig(), seed=0) if r.split == "test"}
    test_b = {r.sha256 for r in assign_splits(records[::-1][:300], DataConfig(), seed=5) if r.split == "test"}
    assert test_b <= test_a and test_b
    assert 0.1 < len(test_a) / len(records) < 0.3


def test_the_same_recording_in_two_folders_lands_on_one_side() -> None:
    records = [_record(_sha(i), LABELS[i % 4], "a") for i in range(40)]
    copies = [_record(_sha(i), LABELS[i % 4], "b") for i in range(40)]
    split = assign_splits(records + copies, DataConfig(test_percent=0, validation_fraction=0.5), seed=1)
    for original, copy in zip(split[:40], split[40:]):
        assert original.split == copy.split
    assert {r.split for r in split} == {"train", "validation"}


def test_training_is_repeatable_with_the_same_seed(tiny_data: Path, tmp_path: Path) -> None:
    examples = prepare_training_examples([tiny_data], label_set=LABELS, seed=2)
    one_epoch = dataclasses.replace(TINY, max_epochs=1)
    a = train_on_examples(examples, tmp_path / "a.pt", config=one_epoch, seed=2)
    b = train_on_examples(examples, tmp_path / "b.pt", config=one_epoch, seed=2)
    state_a, state_b = load_model(a.path).module.state_dict(), load_model(b.path).module.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert a.manifest_sha256 == b.manifest_sha256


def test_should_stop_cancels_training_and_writes_nothing(tiny_data: Path, tmp_path: Path) -> None:
    epochs_seen: list[int] = []

    def progress(p: TrainProgress) -> None:
        if p.stage == "train":
            epochs_seen.append(p.epoch)

    with pytest.raises(TrainingCancelled):
        train(
            [tiny_data],
            tmp_path / "m.pt",
            config=TINY,
            label_set=LABELS,
            progress=progress,
            should_stop=lambda: bool(epochs_seen),
        )
    assert epochs_seen == [1]
    assert not (tmp_path / "m.pt").exists()


def test_detections_take_the_label_of_the_call_they_overlap_not_of_a_noise_bed(tiny_data: Path) -> None:
    from ml.audio import load_audio
    from ml.detect import detect_calls

    file = next(f for f in read_dataset(tiny_data) if f.species == LABELS[0] and f.events)
    calls = label_calls(detect_calls(load_audio(file.path, time_expansion=file.time_expansion)), file, LABELS)
    bat_events = [e for e in file.events if e.species == LABELS[0]]
    for call in calls:
        on_a_bat_call = any(
            min(call.end_s, e.end_s) - max(call.start_s, e.start_s)
            >= 0.5 * min(call.end_s - call.start_s, e.end_s - e.start_s)
            and e.low_hz - 3000 <= call.peak_hz <= e.high_hz + 3000
            for e in bat_events
        )
        if on_a_bat_call:
            assert call.species == LABELS[0]
    assert any(c.species == LABELS[0] for c in calls)


def test_a_file_without_events_labels_every_detection_with_the_file_label(tiny_data: Path) -> None:
    from ml.audio import load_audio
    from ml.detect import detect_calls

    file = next(f for f in read_dataset(tiny_data) if f.species == LABELS[1])
    file = dataclasses.replace(file, events=())
    detections = detect_calls(load_audio(file.path, time_expansion=file.time_expansion))
    calls = label_calls(detections, file, LABELS)
    assert len(calls) == len(detections) > 0
    assert {(c.species, c.call_type) for c in calls} == {(LABELS[1], file.call_types[0])}


def test_train_command_prints_progress_to_stderr_and_json_last(
    tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(PRESETS, "quick", dataclasses.replace(TINY, max_epochs=2, patience=2))
    out = tmp_path / "cli.pt"
    assert (
        main(["train", "--data", str(tiny_data), "--out", str(out), "--preset", "quick", "--seed", "4"]) == 0
    )
    captured = capsys.readouterr()
    assert "epoch 1/2" in captured.err and "prepare" in captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["model"] == str(out) and out.is_file()
    assert load_model(out).metrics["seed"] == 4
