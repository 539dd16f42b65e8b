"""The call classifier: a small CNN with a species head and a call-type head, and its checkpoint file.

Place in the pipeline: ml.features (crops + context) -> **ml.model** -> ml.infer (passes, recordings).

`CallClassifier` reads one spectrogram crop per call (ml.features.call_crops) and the call's measured
parameters (ml.features.call_context) and returns two sets of logits: species (the model version's label
set, `noise` included) and call type. Three conv blocks keep the frequency axis in the flattened features,
because absolute frequency is most of what tells bat species apart; the context vector joins before the
hidden layer. About 40k weights, so ~50 calls take a few milliseconds on one CPU thread.

A checkpoint is a `torch.save`d dict of plain types and tensors (loadable with `weights_only=True`) that
describes itself: weights, model / spectrogram / crop / detect configs, label set, call types,
temperatures, metrics (baseline included), the baseline's weights, the novelty fit (ml.novelty) and the data
manifest. `load_model(path)`
rebuilds everything from that file alone and caches it per (path, mtime) in the process.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ml.audio import Audio
from ml.baseline import ParameterBaseline
from ml.detect import DetectConfig
from ml.features import (
    CONTEXT_FEATURES,
    CallLike,
    CropConfig,
    call_context,
    call_crops,
    smooth_species_over_passes,
)
from ml.labels import NOISE
from ml.novelty import NoveltyModel
from ml.spectrogram import Spectrogram, SpectrogramConfig, compute_spectrogram

__all__ = [
    "CHECKPOINT_FORMAT",
    "CallClassifier",
    "CallPredictions",
    "LoadedModel",
    "ModelConfig",
    "classify_calls",
    "load_model",
    "predict_calls",
    "save_checkpoint",
]

# Bumped when the checkpoint layout changes in a way old readers cannot follow.
CHECKPOINT_FORMAT = 1


@dataclass(frozen=True)
class ModelConfig:
    """Shape of a CallClassifier; stored in the checkpoint so the file alone rebuilds the network."""

    n_species: int
    n_call_types: int
    n_freq_bins: int = 48
    n_frames: int = 32
    n_context: int = len(CONTEXT_FEATURES)
    channels: tuple[int, int, int] = (12, 24, 48)
    hidden_units: int = 64
    dropout: float = 0.2

    def __post_init__(self) -> None:
        # Three 2x2 poolings: both crop sides must survive them.
        if self.n_freq_bins % 8 or self.n_frames % 8:
            raise ValueError("n_freq_bins and n_frames must be multiples of 8")


class _MaxPool2x2(nn.Module):
    """2x2 max pooling as the maximum of four strided views.

    Same result as nn.MaxPool2d(2) on even sizes, but on CPU in NCHW layout PyTorch's max_pool2d kernel
    is about ten times slower than this (measured with torch 2.11, one thread), and pooling would then
    cost more than the convolutions.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(
            torch.maximum(x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2]),
            torch.maximum(x[:, :, 0::2, 1::2], x[:, :, 1::2, 1::2]),
        )


class CallClassifier(nn.Module):
    """Crop + context -> (species logits, call-type logits)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        blocks: list[nn.Module] = []
        in_channels = 1
        for out_channels in config.channels:
            blocks += [
                nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                _MaxPool2x2(),
            ]
            in_channels = out_channels
        self.features = nn.Sequential(*blocks)
        n_flat = config.channels[-1] * (config.n_freq_bins // 8) * (config.n_frames // 8)
        self.hidden = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(n_flat + config.n_context, config.hidden_units),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
        )
        self.species_head = nn.Linear(config.hidden_units, config.n_species)
        self.call_type_head = nn.Linear(config.hidden_units, config.n_call_types)

    def forward(self, crops: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.heads(self.embed(crops, context))

    def embed(self, crops: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """The hidden layer both heads read (batch, hidden_units); ml.novelty measures calls here."""
        # crops: (batch, 1, freq, time); context: (batch, n_context)
        x = self.features(crops).flatten(1)  # (batch, channels * freq/8 * time/8)
        return self.hidden(torch.cat([x, context], dim=1))

    def heads(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.species_head(hidden), self.call_type_head(hidden)


@dataclass(frozen=True)
class LoadedModel:
    """Everything needed to analyse a file, rebuilt from the checkpoint file alone."""

    module: CallClassifier  # in eval mode
    label_set: tuple[str, ...]
    call_types: tuple[str, ...]
    temperature_species: float
    temperature_call_type: float
    spectrogram: SpectrogramConfig
    crop: CropConfig
    detect: DetectConfig
    metrics: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    baseline: ParameterBaseline | None = None
    version: str = ""
    sha256: str = ""  # of the checkpoint file
    path: str = ""
    # Share species evidence between the calls of a pass (ml.features.smooth_species_over_passes).
    pass_smoothing: bool = True
    novelty: NoveltyModel | None = None  # None: checkpoints from before ml.novelty; no call is novel

    @property
    def noise_index(self) -> int | None:
        return self.label_set.index(NOISE) if NOISE in self.label_set else None


def _plain(value: Any) -> Any:
    # Only types torch.load(weights_only=True) accepts: tuples become lists, nested configs dicts.
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def _config_dict(config: object) -> dict[str, Any]:
    return _plain(dataclasses.asdict(config))  # type: ignore[call-overload]


def _config_from(cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a config dataclass, ignoring fields this version no longer has (old checkpoints still load).

    Nested configs (DetectConfig.spectrogram) are rebuilt from their dicts; lists become tuples.
    """
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        value = values[f.name]
        default = f.default if f.default is not dataclasses.MISSING else None
        if isinstance(value, dict) and dataclasses.is_dataclass(default):
            value = _config_from(type(default), value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    module: CallClassifier,
    label_set: Sequence[str],
    call_types: Sequence[str],
    temperature_species: float,
    temperature_call_type: float,
    spectrogram: SpectrogramConfig,
    crop: CropConfig,
    detect: DetectConfig,
    metrics: dict[str, Any],
    manifest: dict[str, Any],
    baseline: ParameterBaseline | None,
    version: str,
    pass_smoothing: bool = True,
    novelty: NoveltyModel | None = None,
) -> None:
    """Write a self-describing checkpoint (atomically: a half-written file never replaces a good one)."""
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "version": version,
        "model_config": _config_dict(module.config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in module.state_dict().items()},
        "label_set": list(label_set),
        "call_types": list(call_types),
        "context_features": list(CONTEXT_FEATURES),
        "temperature_species": float(temperature_species),
        "temperature_call_type": float(temperature_call_type),
        "spectrogram_config": _config_dict(spectrogram),
        "crop_config": _config_dict(crop),
        "detect_config": _config_dict(detect),
        "metrics": metrics,
        "manifest": manifest,
        "baseline": baseline.to_dict() if baseline is not None else None,
        "pass_smoothing": bool(pass_smoothing),
        "novelty": novelty.to_dict() if novelty is not None else None,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    torch.save(checkpoint, partial)
    os.replace(partial, path)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, size: int) -> LoadedModel:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{path}: checkpoint format {checkpoint.get('format')!r}, expected {CHECKPOINT_FORMAT}"
        )
    config = _config_from(ModelConfig, checkpoint["model_config"])
    module = CallClassifier(config)
    module.load_state_dict(checkpoint["state_dict"])
    module.eval()
    baseline = checkpoint.get("baseline")
    novelty = checkpoint.get("novelty")
    return LoadedModel(
        module=module,
        label_set=tuple(checkpoint["label_set"]),
        call_types=tuple(checkpoint["call_types"]),
        temperature_species=float(checkpoint["temperature_species"]),
        temperature_call_type=float(checkpoint["temperature_call_type"]),
        spectrogram=_config_from(SpectrogramConfig, checkpoint["spectrogram_config"]),
        crop=_config_from(CropConfig, checkpoint["crop_config"]),
        detect=_config_from(DetectConfig, checkpoint["detect_config"]),
        metrics=checkpoint.get("metrics") or {},
        manifest=checkpoint.get("manifest") or {},
        baseline=ParameterBaseline.from_dict(baseline) if baseline else None,
        version=str(checkpoint.get("version", "")),
        sha256=_file_sha256(Path(path)),
        path=path,
        pass_smoothing=bool(checkpoint.get("pass_smoothing", False)),
        novelty=NoveltyModel.from_dict(novelty) if novelty else None,
    )


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """The model in a checkpoint file, loaded once per process (reloaded when the file changes)."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _load_cached(str(resolved), stat.st_mtime_ns, stat.st_size)


def softmax_with_temperature(logits: torch.Tensor, temperature: float) -> np.ndarray:
    """Calibrated probabilities (numpy float32) from logits and a fitted temperature."""
    return torch.softmax(logits / max(float(temperature), 1e-3), dim=1).numpy().astype(np.float32)


class CallPredictions(NamedTuple):
    """Per-call output of the network: calibrated probabilities of both heads, and whether each call is
    novel (ml.novelty: unlike every class the model was trained on; all False without a novelty fit)."""

    species: np.ndarray  # (n, len(label_set)) float32
    call_type: np.ndarray  # (n, len(call_types)) float32
    novel: np.ndarray  # (n,) bool


def classify_calls(
    model: LoadedModel,
    audio: Audio,
    events: Sequence[CallLike],
    *,
    spectrogram: Spectrogram | None = None,
    batch_size: int = 256,
) -> CallPredictions:
    """What the model says of each call of one file: calibrated probabilities of both heads (species shared
    within passes when the checkpoint says so, as training calibrated and evaluation scores them) and novelty.

    `events` are the calls of one file (all of them: species evidence is shared within passes). Crops are cut
    for all calls at once: for many calls ml.features pools the spectrogram once and gathers small cells from
    it, for a few it gathers their windows, so neither holds more than a fraction of the spectrogram; the
    forward pass goes `batch_size` calls at a time, so the CNN's activations of a file with hundreds of calls
    never sit in memory at once (peak RSS). Pass the file's spectrogram when it was already computed with
    `model.spectrogram` (the detector needed it too); otherwise it is computed here from `audio`.
    """
    if not events:
        return CallPredictions(
            np.zeros((0, len(model.label_set)), dtype=np.float32),
            np.zeros((0, len(model.call_types)), dtype=np.float32),
            np.zeros(0, dtype=bool),
        )
    if spectrogram is None or spectrogram.config != model.spectrogram:
        spectrogram = compute_spectrogram(audio.samples, audio.sample_rate_hz, model.spectrogram)
    crops = call_crops(spectrogram, events, model.crop)
    species, call_types, novel = predict_calls(model, crops, call_context(events), batch_size=batch_size)
    if model.pass_smoothing:
        starts = np.array([e.start_s for e in events], dtype=np.float64)
        peaks = np.array([e.peak_hz for e in events], dtype=np.float64)
        species = smooth_species_over_passes(species, starts, peaks, model.noise_index)
    return CallPredictions(species, call_types, novel)


def predict_calls(
    model: LoadedModel, crops: np.ndarray, context: np.ndarray, *, batch_size: int = 256
) -> CallPredictions:
    """`predict_arrays` plus the novelty of each call, from the same forward pass."""
    species_logits, call_type_logits, hidden = forward_batches(
        model.module, crops, context, batch_size=batch_size
    )
    novel = (
        model.novelty.novel(hidden.numpy())
        if model.novelty is not None
        else np.zeros(len(species_logits), dtype=bool)
    )
    return CallPredictions(
        softmax_with_temperature(species_logits, model.temperature_species),
        softmax_with_temperature(call_type_logits, model.temperature_call_type),
        novel,
    )


def predict_arrays(
    model: LoadedModel, crops: np.ndarray, context: np.ndarray, *, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated per-call probabilities for precomputed crops (n, 1, F, T) and context (n, C).

    No pass smoothing here (rows need not come from one file); see classify_calls and
    ml.features.smooth_species_by_file."""
    species_logits, call_type_logits = predict_logits(model.module, crops, context, batch_size=batch_size)
    return (
        softmax_with_temperature(species_logits, model.temperature_species),
        softmax_with_temperature(call_type_logits, model.temperature_call_type),
    )


def predict_logits(
    module: CallClassifier, crops: np.ndarray, context: np.ndarray, *, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw logits in eval mode, in batches (a long night file can hold thousands of calls)."""
    species, call_types, _ = forward_batches(module, crops, context, batch_size=batch_size)
    return species, call_types


def forward_batches(
    module: CallClassifier, crops: np.ndarray, context: np.ndarray, *, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Species logits, call-type logits and hidden activations in eval mode, in batches."""
    was_training = module.training
    module.eval()
    species, call_types, hidden = [], [], []
    with torch.inference_mode():
        for start in range(0, len(crops), batch_size):
            h = module.embed(
                torch.from_numpy(crops[start : start + batch_size]),
                torch.from_numpy(context[start : start + batch_size]),
            )
            s, c = module.heads(h)
            species.append(s)
            call_types.append(c)
            hidden.append(h)
    module.train(was_training)
    if not species:
        return (
            torch.zeros((0, module.config.n_species)),
            torch.zeros((0, module.config.n_call_types)),
            torch.zeros((0, module.config.hidden_units)),
        )
    return torch.cat(species), torch.cat(call_types), torch.cat(hidden)
