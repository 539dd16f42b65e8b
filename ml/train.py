"""Training: dataset folders in, a self-describing checkpoint out.

Place in the pipeline: ml.training_data (calls + labels + splits) -> **ml.train** -> checkpoint file ->
ml.model.load_model -> ml.infer / ml.evaluate. The web app's retraining task calls `train` with a progress
callback (shown on the page) and a should_stop callback (the cancel button).

One run:
1. read every folder, hash every file, split by recording (frozen test split by content hash; validation
   per species with the seed), decode + detect + crop each file once (ml.training_data);
2. fit the call-parameter baseline (ml.baseline) on the training calls;
3. train the CNN (ml.model) with class-weighted cross-entropy on both heads, light augmentation,
   AdamW + cosine schedule, early stopping on the validation score (mean macro-F1 of the two heads);
4. fit one temperature per head on the validation calls (ml.calibration);
5. score CNN and baseline on the frozen test split, per call and per recording (ml.evaluate);
6. write the checkpoint (ml.model.save_checkpoint) with metrics and the data manifest.
Seeded: the same data, preset, seed and thread count give the same weights.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ml.baseline import fit_baseline
from ml.calibration import DEFAULT_CONFIDENCE_THRESHOLD, fit_temperature, fit_temperature_to
from ml.detect import DetectConfig
from ml.evaluate import score_examples
from ml.features import CropConfig, smooth_species_by_file
from ml.labels import CALL_TYPES, DEFAULT_LABEL_SET, NOISE
from ml.metrics import score_head
from ml.model import (
    CallClassifier,
    ModelConfig,
    forward_batches,
    predict_logits,
    save_checkpoint,
    softmax_with_temperature,
)
from ml.novelty import NoveltyModel, fit_novelty
from ml.spectrogram import SpectrogramConfig
from ml.training_data import CallExamples, DataConfig, assign_splits, load_files, manifest, prepare_examples

__all__ = [
    "PRESETS",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "TrainingCancelled",
    "prepare_training_examples",
    "train",
    "train_on_examples",
]


@dataclass(frozen=True)
class TrainConfig:
    """A training preset: optimisation and data settings (model shape in ModelConfig defaults)."""

    name: str
    max_epochs: int
    patience: int  # epochs without a better validation score before stopping
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    # Class weight = (mean count / class count) ** power: 0.5 lifts rare classes without letting a handful
    # of calls of one class dominate the loss.
    class_weight_power: float = 0.5
    augment: bool = True
    # Torch threads while training. One: on a two-core machine that also serves the web app and analyses
    # uploads, two OpenMP threads competing with other processes ran ~10x slower than one (measured).
    threads: int = 1
    # 12/24/48 instead of 8/16/32: +0.05 species and +0.04 call-type macro-F1 per recording on the hard set
    # for 579 s of training instead of 402 s and 5 ms more per 5 s file (docs/model.md, "The network").
    channels: tuple[int, int, int] = (12, 24, 48)
    hidden_units: int = 128
    dropout: float = 0.2
    max_calls_per_file: int = 400
    # Each epoch draws at most this many calls of one species class (a fresh draw every epoch). Noise
    # detections (insects, wind) outnumber every bat class several times; all of them every epoch would
    # cost time and teach little the draw does not.
    max_per_class_per_epoch: int | None = 4000
    pass_smoothing: bool = True  # share species evidence within passes (ml.features), fitted and stored
    # Validation, early stopping and the checkpoint use an exponential moving average of the weights (decay
    # per batch; None: the live weights). Live-weight validation scores jumped by up to 0.07 between epochs
    # of the one-cycle schedule, so early stopping kept whichever epoch happened to peak, often one of the
    # first (docs/model.md, "Training").
    weight_average_decay: float | None = 0.998


PRESETS: dict[str, TrainConfig] = {
    # The demo model `make run` trains on synthetic data only (docs/model.md: about 2 minutes with its data).
    "quick": TrainConfig(
        name="quick", max_epochs=12, patience=4, max_calls_per_file=120, max_per_class_per_epoch=2000
    ),
    # The benchmark model: <= 15 minutes on two cores for the synthetic benchmark set (docs/benchmarks.md).
    # 18 epochs: with weight averaging the validation score rises to the last epoch, so training runs them
    # all; 24 took 17 minutes on this machine type (38 s an epoch), and gained 0.002 validation score over
    # epoch 18 of that run.
    "default": TrainConfig(name="default", max_epochs=18, patience=6),
}


@dataclass(frozen=True)
class TrainProgress:
    """One progress report. stage: prepare (files), train (epochs), calibrate, evaluate, done."""

    stage: str
    epoch: int = 0
    epochs: int = 0
    train_loss: float = math.nan
    validation_score: float = math.nan  # mean macro-F1 (species, call type) on validation calls
    files_done: int = 0
    files_total: int = 0

    def line(self) -> str:
        if self.stage == "prepare":
            return f"prepare: {self.files_done}/{self.files_total} files"
        if self.stage == "train":
            return f"epoch {self.epoch}/{self.epochs}: loss {self.train_loss:.4f}, validation score {self.validation_score:.4f}"
        return self.stage


@dataclass(frozen=True)
class TrainResult:
    path: Path
    version: str
    epochs_run: int
    best_epoch: int
    seconds: float
    metrics: dict[str, Any]
    manifest_sha256: str


class TrainingCancelled(Exception):
    """should_stop() said stop; nothing was written."""


def _class_weights(labels: np.ndarray, n_classes: int, power: float, cap: int | None = None) -> np.ndarray:
    counts = np.bincount(labels[labels >= 0], minlength=n_classes).astype(np.float64)
    if cap is not None:
        counts = np.minimum(counts, cap)  # what an epoch actually sees
    present = counts > 0
    weights = np.zeros(n_classes)
    if present.any():
        weights[present] = (counts[present].mean() / counts[present]) ** power
        weights[present] /= weights[present].mean()
    return weights


def _species_probabilities(
    species_logits: torch.Tensor, examples: CallExamples, temperature: float, pass_smoothing: bool
) -> np.ndarray:
    """What the model will output for these calls: tempered softmax, then (optionally) pass smoothing."""
    probs = softmax_with_temperature(species_logits, temperature)
    if not pass_smoothing:
        return probs
    noise = examples.label_set.index(NOISE) if NOISE in examples.label_set else None
    return smooth_species_by_file(probs, examples.file_index, examples.start_s, examples.peak_hz, noise)


def _sampled_epoch(species: np.ndarray, cap: int | None, generator: torch.Generator) -> torch.Tensor:
    """Row indices of one epoch: every row, except at most `cap` rows of any one species class."""
    if cap is None:
        return torch.randperm(len(species), generator=generator)
    chosen = [torch.from_numpy(np.flatnonzero(species < 0))]
    for k in np.unique(species[species >= 0]):
        rows = torch.from_numpy(np.flatnonzero(species == k))
        if len(rows) > cap:
            rows = rows[torch.randperm(len(rows), generator=generator)[:cap]]
        chosen.append(rows)
    index = torch.cat(chosen)
    return index[torch.randperm(len(index), generator=generator)]


def _validation_score(module: CallClassifier, examples: CallExamples, pass_smoothing: bool) -> float:
    if len(examples) == 0:
        return math.nan
    species_logits, call_type_logits = predict_logits(module, examples.crops, examples.context)
    species_probs = _species_probabilities(species_logits, examples, 1.0, pass_smoothing)
    species = score_head(examples.species, species_probs.argmax(1), examples.label_set)
    call_type = score_head(examples.call_type, call_type_logits.argmax(1).numpy(), examples.call_types)
    return (species.macro_f1 + call_type.macro_f1) / 2.0


def _augment(
    crops: torch.Tensor, context: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Small changes a real call would survive: a frame or two of timing, level, measurement noise."""
    shift = int(torch.randint(-2, 3, (1,), generator=generator))
    if shift:
        crops = torch.roll(crops, shifts=shift, dims=3)
    gain = 1.0 + 0.15 * (torch.rand((crops.shape[0], 1, 1, 1), generator=generator) * 2 - 1)
    crops = crops * gain + 0.03 * torch.randn(crops.shape, generator=generator)
    context = context + 0.02 * torch.randn(context.shape, generator=generator)
    return crops, context


def _metrics_block(
    examples: CallExamples,
    species: np.ndarray,
    call_type: np.ndarray,
    threshold: float,
    *,
    novel: np.ndarray | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for level in ("call", "recording"):
        scores, out_of_range = score_examples(
            examples, species, call_type, level=level, threshold=threshold, novel=novel
        )
        out[level] = {**scores.as_dict(), "out_of_range": out_of_range.as_dict()}
    return out


def _fit_novelty(
    module: CallClassifier, train_set: CallExamples, validation_set: CallExamples
) -> NoveltyModel | None:
    """ml.novelty on the hidden layer: class means from the training calls, the threshold from the
    validation split's bat calls (files the fit never saw, as new recordings are); none when the validation
    split holds too few recordings with bat calls for a threshold (ml.novelty.MIN_REFERENCE_FILES)."""
    _, _, train_hidden = forward_batches(module, train_set.crops, train_set.context)
    noise = train_set.label_set.index(NOISE) if NOISE in train_set.label_set else -2
    bats = (validation_set.species >= 0) & (validation_set.species != noise)
    _, _, reference_hidden = forward_batches(
        module, validation_set.crops[bats], validation_set.context[bats]
    )
    reference_files = len(np.unique(validation_set.file_index[bats]))
    return fit_novelty(
        train_hidden.numpy(), train_set.species, reference_hidden.numpy(), reference_files=reference_files
    )


def _weight_average(module: nn.Module, decay: float | None) -> AveragedModel | None:
    """torch's AveragedModel as an exponential moving average of the weights and float buffers (BatchNorm
    statistics); None when decay is None (the live weights are used).

    The decay warms up as (1 + step) / (10 + step), so the first batches are not averaged with the random
    initial weights for long. Integer buffers (BatchNorm's batch count) follow the live module.
    """
    if decay is None:
        return None

    def average(averaged: torch.Tensor, live: torch.Tensor, n_averaged: torch.Tensor | int) -> torch.Tensor:
        if not averaged.is_floating_point():
            return live
        step = float(n_averaged) + 1.0
        return torch.lerp(averaged, live, 1.0 - min(decay, (1.0 + step) / (10.0 + step)))

    return AveragedModel(module, avg_fn=average, use_buffers=True)


def _settings_hash(
    metrics: dict[str, Any], module: CallClassifier, label_set: Sequence[str], crop_config: CropConfig
) -> str:
    """Six hex digits of what else makes a model: training, data, crop and network settings, the label set.

    With the data hash and the seed in the version string, two checkpoints of one preset, seed and data
    trained with other settings (a wider network, another label set) get different versions."""
    settings = {
        "train": metrics["train_config"],
        "data": metrics["data_config"],
        "model": asdict(module.config),
        "labels": list(label_set),
        "crop": asdict(crop_config),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:6]


def _resolve(preset: str, config: TrainConfig | None) -> TrainConfig:
    if config is not None:
        return config
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[preset]


def train(
    data_dirs: Sequence[str | os.PathLike[str]],
    out_path: str | os.PathLike[str],
    *,
    preset: str = "default",
    seed: int = 0,
    progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    label_set: Sequence[str] = DEFAULT_LABEL_SET,
    data_config: DataConfig | None = None,
    spectrogram_config: SpectrogramConfig = SpectrogramConfig(),
    crop_config: CropConfig = CropConfig(),
    detect_config: DetectConfig = DetectConfig(),
    config: TrainConfig | None = None,
) -> TrainResult:
    """Train a model on the dataset folders and write its checkpoint to `out_path` (module docstring).

    Raises TrainingCancelled when `should_stop()` returns True (polled between files and batches);
    nothing is written then.
    """
    config = _resolve(preset, config)
    started = time.monotonic()
    examples = prepare_training_examples(
        data_dirs,
        seed=seed,
        label_set=label_set,
        data_config=data_config or DataConfig(max_calls_per_file=config.max_calls_per_file),
        spectrogram_config=spectrogram_config,
        crop_config=crop_config,
        detect_config=detect_config,
        progress=progress,
        should_stop=should_stop,
        threads=config.threads,
    )
    return train_on_examples(
        examples, out_path, config=config, seed=seed, progress=progress, should_stop=should_stop,
        spectrogram_config=spectrogram_config, crop_config=crop_config, detect_config=detect_config,
        data_config=data_config or DataConfig(max_calls_per_file=config.max_calls_per_file), started=started,
    )  # fmt: skip


def prepare_training_examples(
    data_dirs: Sequence[str | os.PathLike[str]],
    *,
    seed: int = 0,
    label_set: Sequence[str] = DEFAULT_LABEL_SET,
    data_config: DataConfig = DataConfig(),
    spectrogram_config: SpectrogramConfig = SpectrogramConfig(),
    crop_config: CropConfig = CropConfig(),
    detect_config: DetectConfig = DetectConfig(),
    progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    threads: int = 1,
) -> CallExamples:
    """Step 1 of `train`: read, hash, split and decode + detect + crop every file once."""
    report = progress or (lambda p: None)
    stop = should_stop or (lambda: False)
    loaded = load_files([Path(d) for d in data_dirs], label_set)
    if not loaded:
        raise ValueError("no files in the dataset folders")
    records = assign_splits([r for r, _ in loaded], data_config, seed)
    pairs = [(r, f) for r, (_, f) in zip(records, loaded)]
    report(TrainProgress("prepare", files_done=0, files_total=len(pairs)))
    with _torch_threads(threads):
        examples = prepare_examples(
            pairs,
            label_set=label_set,
            call_types=CALL_TYPES,
            spectrogram_config=spectrogram_config,
            crop_config=crop_config,
            detect_config=detect_config,
            data_config=data_config,
            include_missed=True,
            limit_calls=True,
            seed=seed,
            progress=lambda done, total: report(TrainProgress("prepare", files_done=done, files_total=total)),
            should_stop=stop,
        )
    if stop():
        raise TrainingCancelled("training cancelled while preparing data")
    return examples


@contextlib.contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_on_examples(
    examples: CallExamples,
    out_path: str | os.PathLike[str],
    *,
    config: TrainConfig = PRESETS["default"],
    seed: int = 0,
    progress: Callable[[TrainProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    spectrogram_config: SpectrogramConfig = SpectrogramConfig(),
    crop_config: CropConfig = CropConfig(),
    detect_config: DetectConfig = DetectConfig(),
    data_config: DataConfig = DataConfig(),
    started: float | None = None,
) -> TrainResult:
    """Steps 2-6 of `train` on prepared examples (their configs must be the ones passed here)."""
    with _torch_threads(config.threads):
        return _fit(
            examples, Path(out_path), config, seed, progress or (lambda p: None), should_stop or (lambda: False),
            spectrogram_config, crop_config, detect_config, data_config,
            time.monotonic() if started is None else started,
        )  # fmt: skip


def _fit(
    examples: CallExamples,
    out_path: Path,
    config: TrainConfig,
    seed: int,
    report: Callable[[TrainProgress], None],
    stop: Callable[[], bool],
    spectrogram_config: SpectrogramConfig,
    crop_config: CropConfig,
    detect_config: DetectConfig,
    data_config: DataConfig,
    started: float,
) -> TrainResult:
    torch.manual_seed(seed)
    label_set, call_types = examples.label_set, examples.call_types
    labelled = (examples.species >= 0) | (examples.call_type >= 0)
    train_mask = (
        np.array([f.split == "train" for f in examples.files], dtype=bool)[examples.file_index] & labelled
    )
    train_set = examples.subset(train_mask)
    # Validation and test score what the model will meet in use: detected calls only.
    validation_set = examples.in_split("validation")
    validation_set = validation_set.subset(validation_set.detected)
    test_set = examples.in_split("test")
    test_set = test_set.subset(test_set.detected)
    if len(train_set) == 0:
        raise ValueError("no labelled calls in the training split")
    if len(validation_set) == 0:
        # Tiny datasets: no recording to spare. Early stopping and calibration then see training calls,
        # which the metrics note says.
        validation_set = train_set.subset(train_set.detected)

    species_weight = _class_weights(
        train_set.species, len(label_set), config.class_weight_power, config.max_per_class_per_epoch
    )
    call_type_weight = _class_weights(train_set.call_type, len(call_types), config.class_weight_power)
    baseline = fit_baseline(
        train_set.context,
        train_set.species,
        train_set.call_type,
        n_species=len(label_set),
        n_call_types=len(call_types),
        species_weight=species_weight,
        call_type_weight=call_type_weight,
    )

    model_config = ModelConfig(
        n_species=len(label_set),
        n_call_types=len(call_types),
        n_freq_bins=crop_config.n_freq_bins,
        n_frames=crop_config.n_frames,
        n_context=train_set.context.shape[1],
        channels=config.channels,
        hidden_units=config.hidden_units,
        dropout=config.dropout,
    )
    module = CallClassifier(model_config)
    optimiser = torch.optim.AdamW(
        module.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    epoch_rows = len(
        _sampled_epoch(train_set.species, config.max_per_class_per_epoch, torch.Generator().manual_seed(0))
    )
    steps_per_epoch = max(1, math.ceil(epoch_rows / config.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser,
        max_lr=config.learning_rate,
        total_steps=steps_per_epoch * config.max_epochs,
        pct_start=0.15,
    )
    species_loss = nn.CrossEntropyLoss(weight=torch.from_numpy(species_weight).float(), ignore_index=-1)
    call_type_loss = nn.CrossEntropyLoss(weight=torch.from_numpy(call_type_weight).float(), ignore_index=-1)
    generator = torch.Generator().manual_seed(seed)
    crops = torch.from_numpy(train_set.crops)
    context = torch.from_numpy(train_set.context)
    species = torch.from_numpy(train_set.species)
    call_type = torch.from_numpy(train_set.call_type)

    averaged = _weight_average(module, config.weight_average_decay)
    scored = module if averaged is None else averaged.module  # what is validated and kept
    best_score, best_epoch, best_state = -math.inf, 0, copy.deepcopy(module.state_dict())
    history = []
    epoch = 0
    for epoch in range(1, config.max_epochs + 1):
        module.train()
        order = _sampled_epoch(train_set.species, config.max_per_class_per_epoch, generator)
        total_loss, n_batches = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            if stop():
                raise TrainingCancelled(f"training cancelled in epoch {epoch}")
            index = order[start : start + config.batch_size]
            if len(index) < 2:
                continue  # BatchNorm needs two rows
            x, c = crops[index], context[index]
            if config.augment:
                x, c = _augment(x, c, generator)
            species_logits, call_type_logits = module(x, c)
            loss = torch.zeros(())
            # A batch may hold no row known to one head (ignore_index everywhere gives NaN): skip that term.
            if bool((species[index] >= 0).any()):
                loss = loss + species_loss(species_logits, species[index])
            if bool((call_type[index] >= 0).any()):
                loss = loss + call_type_loss(call_type_logits, call_type[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            if averaged is not None:
                averaged.update_parameters(module)
            total_loss += float(loss.detach())
            n_batches += 1
        score = _validation_score(scored, validation_set, config.pass_smoothing)
        train_loss = total_loss / max(n_batches, 1)
        history.append(
            {"epoch": epoch, "train_loss": round(train_loss, 5), "validation_score": round(score, 5)}
        )
        report(
            TrainProgress(
                "train", epoch=epoch, epochs=config.max_epochs, train_loss=train_loss, validation_score=score
            )
        )
        if score > best_score + 1e-4:
            best_score, best_epoch, best_state = score, epoch, copy.deepcopy(scored.state_dict())
        elif epoch - best_epoch >= config.patience:
            break
    module.load_state_dict(best_state)
    module.eval()

    report(TrainProgress("calibrate"))
    val_species_logits, val_call_type_logits = predict_logits(
        module, validation_set.crops, validation_set.context
    )
    if config.pass_smoothing:
        temperature_species = fit_temperature_to(
            lambda t: _species_probabilities(val_species_logits, validation_set, t, True),
            validation_set.species,
        )
    else:
        temperature_species = fit_temperature(val_species_logits, validation_set.species)
    temperature_call_type = fit_temperature(val_call_type_logits, validation_set.call_type)
    novelty = _fit_novelty(module, train_set, validation_set)

    report(TrainProgress("evaluate"))
    threshold = DEFAULT_CONFIDENCE_THRESHOLD
    data_manifest = manifest(examples.files)
    metrics: dict[str, Any] = {
        "preset": config.name,
        "seed": seed,
        "threads": config.threads,
        "epochs_run": epoch,
        "best_epoch": best_epoch,
        "best_validation_score": best_score,
        "history": history,
        "threshold": threshold,
        "validation_is_training": len(examples.in_split("validation")) == 0,
        "n_calls": {
            "train": int(len(train_set)),
            "validation": int(len(validation_set)),
            "test": int(test_set.detected.sum()),
        },
        "n_files": {
            split: sum(1 for f in examples.files if f.split == split and not f.skipped)
            for split in ("train", "validation", "test")
        },
        "files_skipped": [f"{f.relative_path}: {f.skipped}" for f in examples.files if f.skipped],
        "train_config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "data_config": asdict(data_config),
    }
    if len(test_set.files) and any(f.split == "test" for f in test_set.files):
        test_logits = forward_batches(module, test_set.crops, test_set.context)
        test_novel = novelty.novel(test_logits[2].numpy()) if novelty is not None else None
        cnn_species = _species_probabilities(
            test_logits[0], test_set, temperature_species, config.pass_smoothing
        )
        cnn_call_type = softmax_with_temperature(test_logits[1], temperature_call_type)
        b_species, b_call_type = baseline.predict_proba(test_set.context)
        if config.pass_smoothing:
            # The baseline runs in the same pipeline: only the per-call classifier differs.
            noise = label_set.index(NOISE) if NOISE in label_set else None
            b_species = smooth_species_by_file(
                b_species, test_set.file_index, test_set.start_s, test_set.peak_hz, noise
            )
        metrics["test"] = {
            "cnn": _metrics_block(test_set, cnn_species, cnn_call_type, threshold, novel=test_novel),
            "baseline": _metrics_block(test_set, b_species, b_call_type, threshold),
        }
    seconds = time.monotonic() - started
    metrics["train_seconds"] = round(seconds, 1)
    settings = _settings_hash(metrics, module, label_set, crop_config)
    version = f"{config.name}-s{seed}-{data_manifest['sha256'][:10]}-{settings}"
    save_checkpoint(
        out_path,
        module=module,
        label_set=label_set,
        call_types=call_types,
        temperature_species=temperature_species,
        temperature_call_type=temperature_call_type,
        spectrogram=spectrogram_config,
        crop=crop_config,
        detect=detect_config,
        metrics=metrics,
        manifest=data_manifest,
        baseline=baseline,
        version=version,
        pass_smoothing=config.pass_smoothing,
        novelty=novelty,
    )
    report(TrainProgress("done", epoch=epoch, epochs=config.max_epochs, validation_score=best_score))
    return TrainResult(
        path=out_path,
        version=version,
        epochs_run=epoch,
        best_epoch=best_epoch,
        seconds=seconds,
        metrics=metrics,
        manifest_sha256=str(data_manifest["sha256"]),
    )
