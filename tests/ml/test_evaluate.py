"""Evaluation (ml.evaluate, ml.metrics): the scores, their conventions and the command's last JSON line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.__main__ import main
from ml.evaluate import evaluate, plot_confusion, recording_probabilities, score_examples
from ml.labels import BAT, CALL_TYPES, NOISE
from ml.metrics import expected_calibration_error, group_accuracy, score_head
from ml.model import load_model
from ml.synth import SynthConfig, generate_dataset
from ml.train import TrainConfig, train
from ml.training_data import CallExamples, FileRecord

LABELS = ("Pipistrellus pipistrellus", "Pipistrellus pygmaeus", "Myotis daubentonii", NOISE)
SHORT_FILES = SynthConfig(duration_s=(0.6, 1.0))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> object:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ------------------------------------------------------------------------------------------- metrics on arrays


def test_per_class_scores_follow_the_confusion_matrix() -> None:
    labels = ("a", "b", "c")
    truth = np.array([0, 0, 0, 0, 1, 1, 2, -1])
    predicted = np.array([0, 0, 0, 1, 1, 0, 2, 2])
    scores = score_head(truth, predicted, labels)
    a, b, c = scores.per_class
    assert (a.precision, a.recall) == (pytest.approx(3 / 4), pytest.approx(3 / 4))
    assert (b.precision, b.recall) == (pytest.approx(1 / 2), pytest.approx(1 / 2))
    assert (c.precision, c.recall, c.f1) == (1.0, 1.0, 1.0)
    assert scores.n == 7  # the row with unknown truth is left out
    assert scores.accuracy == pytest.approx(5 / 7)
    assert scores.macro_f1 == pytest.approx((0.75 + 0.5 + 1.0) / 3)
    assert scores.confusion.tolist() == [[3, 1, 0], [1, 1, 0], [0, 0, 1]]


def test_macro_f1_averages_over_classes_present_in_the_truth() -> None:
    scores = score_head(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), ("a", "b", "c", "d"))
    assert scores.macro_f1 == 1.0


def test_ece_is_small_for_honest_probabilities_and_large_for_overconfident_ones() -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    confidence = rng.uniform(0.5, 1.0, n)
    right = rng.random(n) < confidence  # right exactly as often as it says
    probabilities = np.stack([confidence, 1 - confidence], axis=1)
    truth = np.where(right, 0, 1)
    assert expected_calibration_error(probabilities, truth) < 0.02
    sure = np.stack([np.full(n, 0.99), np.full(n, 0.01)], axis=1)
    assert expected_calibration_error(sure, truth) > 0.15


def test_group_answers_count_as_right_at_group_level_only() -> None:
    truths = ["Pipistrellus pipistrellus"] * 4 + ["Barbastella barbastellus", "Myotis sp."]
    answers = [
        "Pipistrellus pipistrellus",  # right
        "Pipistrellus sp.",  # right at group level
        "Pipistrellus pygmaeus",  # wrong species, right group
        BAT,  # says nothing about the group: wrong
        BAT,  # Barbastella has no group: Chiroptera sp. is not a free win
        "Myotis daubentonii",  # a group truth (time-expanded Myotis sp. file) is scored at group level
    ]
    assert group_accuracy(answers, truths) == pytest.approx(4 / 6)
    assert group_accuracy(["Pipistrellus sp."], [BAT]) == 0.0  # nothing to check: no rows


def test_a_recording_is_the_mean_of_its_bat_calls_and_noise_when_there_are_none() -> None:
    labels = ("A a", "B b", NOISE)
    species = np.array([[0.1, 0.1, 0.8], [0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.05, 0.05, 0.9]])
    call_types = np.tile([0.7, 0.1, 0.1, 0.1], (4, 1))
    p, _ = recording_probabilities(species, call_types, labels, CALL_TYPES)
    assert np.argmax(p) == 0 and p[0] == pytest.approx(0.65)  # the insect calls do not dilute the bat
    empty, empty_type = recording_probabilities(np.zeros((0, 3)), np.zeros((0, 4)), labels, CALL_TYPES)
    assert empty.tolist() == [0.0, 0.0, 1.0] and CALL_TYPES[int(np.argmax(empty_type))] == "none"


def test_a_recording_call_type_is_weighted_by_time_when_start_times_are_given() -> None:
    labels = ("A a", NOISE)
    starts = np.concatenate([0.1 * np.arange(10), 1.05 + 0.005 * np.arange(30)])
    species = np.tile([0.9, 0.1], (40, 1))
    search, buzz = [0.9, 0.05, 0.03, 0.02], [0.05, 0.9, 0.03, 0.02]
    call_types = np.array([search] * 10 + [buzz] * 30)

    _, by_calls = recording_probabilities(species, call_types, labels, CALL_TYPES)
    _, by_time = recording_probabilities(species, call_types, labels, CALL_TYPES, starts)

    assert CALL_TYPES[int(np.argmax(by_calls))] == "feeding_buzz"
    assert CALL_TYPES[int(np.argmax(by_time))] == "echolocation"
    assert by_time.sum() == pytest.approx(1.0)


def _examples(truth: list[str], files: int = 1) -> CallExamples:
    n = len(truth)
    records = tuple(
        FileRecord(
            Path(f"f{i}.wav"),
            "d",
            f"f{i}.wav",
            f"{i:064x}",
            LABELS[0],
            LABELS[0],
            "echolocation",
            1.0,
            "",
            "",
        )
        for i in range(files)
    )
    index = {label: i for i, label in enumerate(LABELS)}
    return CallExamples(
        crops=np.zeros((n, 1, 48, 32), np.float32),
        context=np.zeros((n, 9), np.float32),
        species=np.array([index.get(t, -1) for t in truth]),
        call_type=np.zeros(n, dtype=np.int64),
        truth=tuple(truth),
        file_index=np.arange(n) % files,
        detected=np.ones(n, dtype=bool),
        start_s=np.arange(n) * 0.1,
        peak_hz=np.full(n, 45_000.0),
        files=records,
        label_set=LABELS,
        call_types=CALL_TYPES,
    )


def test_out_of_range_species_are_scored_apart_by_how_they_were_answered() -> None:
    examples = _examples([LABELS[0], BAT, BAT, BAT, BAT])
    # 50 kHz: inside the call range of all three bat classes, so only the probabilities decide here.
    examples = dataclasses.replace(examples, peak_hz=np.full(5, 50_000.0))
    species = np.array([
        [0.9, 0.05, 0.03, 0.02],  # in range, right
        [0.9, 0.05, 0.03, 0.02],  # out of range, answered as a confident European species: the failure
        [0.4, 0.35, 0.2, 0.05],  # out of range, falls back to Pipistrellus sp.
        [0.3, 0.1, 0.55, 0.05],  # ... to Chiroptera sp. (Myotis + pipistrelles, no group sure enough)
        [0.05, 0.05, 0.1, 0.8],  # ... noise
    ])  # fmt: skip
    call_types = np.tile([1.0, 0.0, 0.0, 0.0], (5, 1))
    scores, out_of_range = score_examples(examples, species, call_types, threshold=0.7)
    assert scores.species.n == 1 and scores.species.accuracy == 1.0
    assert out_of_range.n == 4
    assert out_of_range.confident_species == pytest.approx(0.25)
    assert out_of_range.group == pytest.approx(0.25)
    assert out_of_range.order == pytest.approx(0.25)
    assert out_of_range.noise == pytest.approx(0.25)


def test_ambiguous_detections_are_left_out_of_call_scores() -> None:
    examples = _examples([LABELS[0], "", LABELS[0]])
    species = np.tile([0.9, 0.05, 0.03, 0.02], (3, 1))
    scores, _ = score_examples(examples, species, np.tile([1.0, 0, 0, 0], (3, 1)))
    assert scores.species.n == 2


def test_confusion_matrix_is_written_as_png(tmp_path: Path) -> None:
    scores = score_head(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), ("a", "b", "c", "d"))
    out = plot_confusion(scores, tmp_path / "cm.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------------- on a real model


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("evaluate")
    data = generate_dataset(root / "train", 4, seed=21, config=SHORT_FILES, labels=LABELS)
    heldout = generate_dataset(root / "heldout", 2, seed=22, config=SHORT_FILES, labels=LABELS)
    config = TrainConfig(
        name="tiny",
        max_epochs=6,
        patience=6,
        batch_size=16,
        channels=(4, 8, 8),
        hidden_units=32,
        max_calls_per_file=40,
    )
    train([data], root / "m.pt", config=config, label_set=LABELS)
    torch.set_num_threads(previous)
    return root / "m.pt", heldout


def test_evaluate_scores_calls_and_recordings_with_the_baseline_beside(
    model_and_data: tuple[Path, Path],
) -> None:
    path, heldout = model_and_data
    model = load_model(path)
    per_call = evaluate(model, [heldout])
    per_recording = evaluate(model, [heldout], per_recording=True)
    assert per_call.level == "call" and per_recording.level == "recording"
    assert per_recording.cnn.species.n == per_recording.n_files == len(LABELS) * 2
    assert per_call.cnn.species.n > per_recording.cnn.species.n
    for report in (per_call, per_recording):
        assert report.baseline is not None
        for scores in (report.cnn, report.baseline):
            summary = scores.summary()
            assert all(
                0.0 <= summary[k] <= 1.0
                for k in (
                    "macro_f1_species",
                    "macro_f1_call_type",
                    "accuracy_species",
                    "accuracy_group",
                    "ece",
                )
            )
        # noise is scored as a class like the others
        assert report.cnn.species.per_class[LABELS.index(NOISE)].support > 0


def test_evaluate_test_split_scores_only_files_of_the_frozen_test_split(
    model_and_data: tuple[Path, Path],
) -> None:
    path, heldout = model_and_data
    model = load_model(path)
    everything = evaluate(model, [heldout], per_recording=True)
    test_only = evaluate(model, [heldout], per_recording=True, split="test")
    assert test_only.n_files < everything.n_files


def test_evaluate_command_prints_one_json_object_last(
    model_and_data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, heldout = model_and_data
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(path),
                "--data",
                str(heldout),
                "--per-recording",
                "--plots",
                str(tmp_path),
            ]
        )
        == 0
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert {"macro_f1_species", "macro_f1_call_type", "accuracy_species", "accuracy_group", "ece"} <= set(
        summary
    )
    assert summary["level"] == "recording" and summary["n"] == len(LABELS) * 2
    assert "baseline" in summary
    assert (tmp_path / "confusion_recording_cnn_species.png").is_file()
    assert json.loads((tmp_path / "report_recording.json").read_text())["cnn"]["species"]["labels"] == list(
        LABELS
    )


def test_scores_do_not_change_with_temperature_but_ece_does(model_and_data: tuple[Path, Path]) -> None:
    path, heldout = model_and_data
    # Per call, without pass smoothing: a pass's members are the calls more likely bat than noise, which
    # a temperature moves, so smoothed scores may change with it for that reason alone.
    model = dataclasses.replace(load_model(path), pass_smoothing=False)
    hot = dataclasses.replace(model, temperature_species=model.temperature_species * 5)
    a, b = evaluate(model, [heldout]), evaluate(hot, [heldout])
    assert a.cnn.species.macro_f1 == b.cnn.species.macro_f1
    assert a.cnn.ece != b.cnn.ece


def test_an_answer_outside_the_species_call_range_falls_back_to_a_bat_in_the_scores() -> None:
    # Out-of-range bats answered "sure, a pipistrelle" at 45 kHz count as the failure; at 20 kHz the same
    # output cannot name a pipistrelle (42-52 kHz, ml.plausibility) and falls back, still a bat.
    examples = _examples([BAT, BAT])
    examples = dataclasses.replace(examples, peak_hz=np.array([45_000.0, 20_000.0]))
    species = np.tile([0.9, 0.05, 0.03, 0.02], (2, 1))
    call_types = np.tile([1.0, 0.0, 0.0, 0.0], (2, 1))

    _, out_of_range = score_examples(examples, species, call_types, threshold=0.7)

    assert out_of_range.confident_species == pytest.approx(0.5)
    assert out_of_range.order + out_of_range.group == pytest.approx(0.5) and out_of_range.noise == 0.0
