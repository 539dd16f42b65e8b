"""Explanations: which parts of the spectrogram the recording's answer rests on (occlusion maps).

Place in the pipeline: ml.infer (calls + answer) -> **ml.explain** -> ml.plots.plot_occlusion -> the
occlusion view of the web app and `python -m ml explain`.

Occlusion, as the seed did it with sliding horizontal bands, and here also by time windows: hide one part
of the spectrogram (replace it by the recording's own background level, per frequency row), cut the call
crops again, classify them again, and see how much the recording-level score of the predicted class drops.
A big drop means the answer needed that part; none means it did not look there. The detected calls stay
as they were (the detector is not re-run), so the map explains the classifier, not the detector.

The recording-level score is the one `ml.infer` reports in `top`: the mean calibrated probability of the
answer (a class, or a group's summed classes) over the calls the model calls bats; for a `noise` answer,
over all calls. All masked variants are classified in one batched forward pass; a time window changes only
the crops that overlap it, so only those are re-classified.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ml.audio import load_audio
from ml.features import call_context, call_crops
from ml.infer import Analysis, CallResult, InferConfig, analyse_audio, label_mass
from ml.labels import NOISE
from ml.model import LoadedModel, predict_arrays
from ml.spectrogram import Spectrogram

__all__ = ["Occlusion", "OcclusionConfig", "occlude", "occlusion_map"]


@dataclass(frozen=True)
class OcclusionConfig:
    # Sliding horizontal bands: 10 kHz wide, every 5 kHz, so each frequency is hidden by two bands and a
    # narrow-band call (a horseshoe's CF line, a noctule's QCF tail) is hidden whole by at least one.
    band_width_hz: float = 10_000.0
    band_step_hz: float = 5_000.0
    # Time windows: at least this long, widened so a long file gets at most max_windows of them.
    window_s: float = 0.1
    max_windows: int = 50
    # A hidden part holding no pixel this far above its row's background inside a call's crop cannot change
    # that crop beyond noise texture; the pair is not re-classified (drop 0). 12 dB is above the largest
    # of a few hundred background pixels (Rayleigh noise: about +8 dB over the median).
    skip_below_db: float = 12.0
    # Band drops are means over calls; this many calls, spread over the file, estimate them well.
    max_band_calls: int = 32
    batch_size: int = 256  # (call, hidden part) pairs per mosaic and forward pass


@dataclass(frozen=True, eq=False)  # eq=False: arrays do not compare as one truth value
class Occlusion:
    """Drops in the recording-level score of `label` when each band / window is hidden (arrays read-only)."""

    file: str
    label: str  # the class (or group) explained: the recording's answer
    score: float  # its recording-level score with nothing hidden
    band_low_hz: np.ndarray  # (n_bands,)
    band_high_hz: np.ndarray  # (n_bands,)
    band_drop: np.ndarray  # (n_bands,) score - score with the band hidden; > 0: the band mattered
    window_start_s: np.ndarray  # (n_windows,)
    window_end_s: np.ndarray  # (n_windows,)
    window_drop: np.ndarray  # (n_windows,)

    @property
    def most_important_band_hz(self) -> tuple[float, float]:
        k = int(np.argmax(self.band_drop)) if len(self.band_drop) else 0
        return (
            (float(self.band_low_hz[k]), float(self.band_high_hz[k])) if len(self.band_drop) else (0.0, 0.0)
        )


def _frozen(values: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64)
    out.setflags(write=False)
    return out


def _bands(spectrogram: Spectrogram, config: OcclusionConfig) -> tuple[np.ndarray, np.ndarray]:
    fmin = float(spectrogram.config.fmin_hz)
    fmax = float(spectrogram.config.fmax_hz)
    width = min(config.band_width_hz, fmax - fmin)
    lows = np.arange(fmin, fmax - width + config.band_step_hz / 2, config.band_step_hz)
    return lows, np.minimum(lows + width, fmax)


def _windows(duration_s: float, config: OcclusionConfig) -> tuple[np.ndarray, np.ndarray]:
    n = max(1, min(config.max_windows, math.ceil(duration_s / config.window_s - 1e-9)))
    edges = np.linspace(0.0, duration_s, n + 1)
    return edges[:-1], edges[1:]


@dataclass(frozen=True)
class _Point:
    """A call reduced to its centre: all call_crops needs to place a crop."""

    start_s: float
    end_s: float
    low_hz: float = 0.0
    high_hz: float = 0.0
    peak_hz: float = 0.0


def _crop_frames(model: LoadedModel, hop_s: float) -> tuple[int, int]:
    """Frames before and after the centre frame that ml.features.call_crops reads for one crop.

    The same arithmetic as call_crops (whole source frames per crop cell); test_explain checks that crops
    cut from the mosaic equal crops cut from the masked spectrogram, so a change there cannot go unnoticed.
    """
    crop = model.crop
    frames_per_cell = max(1, int(round(crop.window_ms / 1000.0 / crop.n_frames / hop_s)))
    width = frames_per_cell * crop.n_frames
    return width // 2, width - width // 2 - 1


def occlude(
    spectrogram: Spectrogram,
    analysis: Analysis,
    model: LoadedModel,
    config: OcclusionConfig = OcclusionConfig(),
) -> Occlusion:
    """Occlusion map of an analysis (ml.infer.analyse_audio gives both it and the spectrogram).

    How it stays fast: every (call, hidden part) pair needs a crop of the masked spectrogram, but only the
    frames around the call matter for it. So each call's neighbourhood (the frames its crop reads, plus a
    margin) is cut out once, masked copies are laid side by side in a small "mosaic" spectrogram, and
    `call_crops` cuts the crops from the mosaic: the same crops, pixel for pixel, as masking the whole
    spectrogram. Mosaics and forward passes go `batch_size` pairs at a time, so memory stays flat.
    Pairs whose hidden part holds nothing `skip_below_db` above the background inside the call's crop are not
    re-classified: hiding background with background leaves the crop as it was, so their drop is 0. Band
    drops are measured on at most `max_band_calls` calls spread over the file (a mean over calls needs no
    more); window drops on every call, since a window only concerns the calls it touches.
    """
    label = analysis.species
    band_low, band_high = _bands(spectrogram, config)
    window_start, window_end = _windows(float(analysis.duration_s), config)
    bat_calls = [c for c in analysis.calls if c.species != NOISE]
    support: list[CallResult] = list(analysis.calls) if label == NOISE else bat_calls
    n = len(support)
    if n == 0 or spectrogram.values_db.shape[1] == 0:
        return Occlusion(
            str(analysis.file), label, float(analysis.confidence),
            _frozen(band_low), _frozen(band_high), _frozen(np.zeros(len(band_low))),
            _frozen(window_start), _frozen(window_end), _frozen(np.zeros(len(window_start))),
        )  # fmt: skip

    values = np.ascontiguousarray(spectrogram.values_db, dtype=np.float32)  # (freq, time)
    n_freq, n_time = values.shape
    freqs = np.asarray(spectrogram.frequencies_hz)
    hop_s = spectrogram.hop_s
    # The background level of each frequency row: what a hidden pixel is set to (every 8th frame is plenty).
    fill = np.median(values[:, ::8], axis=1).astype(np.float32)  # (freq,)

    # Each call's neighbourhood: the frames its crop reads plus a margin of 2. Frames outside the file are
    # -inf, as call_crops treats them.
    before, after = _crop_frames(model, hop_s)
    half = max(before, after) + 2
    width = 2 * half + 1
    centre_frames = np.array([round((c.start_s + c.end_s) / 2.0 / hop_s) for c in support], dtype=np.int64)
    index = centre_frames[:, None] + np.arange(-half, half + 1)[None, :]  # (n, width) frame numbers
    outside = (index < 0) | (index >= n_time)
    segments = values[:, np.clip(index, 0, n_time - 1)].transpose(1, 0, 2).copy()  # (n, freq, width)
    segments[np.broadcast_to(outside[:, None, :], segments.shape)] = -np.inf
    # What a crop shows: pixels far enough above their row's background, inside the crop's frames.
    in_crop = slice(half - before, half + after + 1)
    salient = (segments[:, :, in_crop] - fill[None, :, None]) > config.skip_below_db  # (n, freq, crop frames)
    salient_rows = salient.any(axis=2)  # (n, freq)
    salient_frames = salient.any(axis=1)  # (n, crop frames)

    # Every pair to classify: (call, rows to hide or None, frames of the neighbourhood to hide or None).
    pairs: list[tuple[int, np.ndarray | None, np.ndarray | None]] = [(i, None, None) for i in range(n)]
    band_calls = np.unique(np.linspace(0, n - 1, min(n, config.max_band_calls)).round().astype(np.int64))
    band_pairs: list[np.ndarray] = []
    for lo, hi in zip(band_low, band_high):
        rows = (freqs >= lo) & (freqs < hi)
        touched = band_calls[salient_rows[band_calls][:, rows].any(axis=1)]
        band_pairs.append(touched)
        pairs += [(int(i), rows, None) for i in touched]
    window_pairs: list[np.ndarray] = []
    crop_index = index[:, in_crop]
    for t0, t1 in zip(window_start, window_end):
        f0, f1 = int(math.ceil(t0 / hop_s - 1e-9)), int(math.ceil(t1 / hop_s - 1e-9))  # frames [f0, f1)
        touched = np.flatnonzero((salient_frames & (crop_index >= f0) & (crop_index < f1)).any(axis=1))
        window_pairs.append(touched)
        pairs += [(int(i), None, (index[i] >= f0) & (index[i] < f1)) for i in touched]

    context = call_context(support)  # calls are not re-detected: context unchanged
    mass = np.empty(len(pairs))
    for start in range(0, len(pairs), config.batch_size):
        chunk = pairs[start : start + config.batch_size]
        mosaic = np.empty((n_freq, len(chunk) * width), dtype=np.float32)
        for j, (i, rows, frames) in enumerate(chunk):
            piece = mosaic[:, j * width : (j + 1) * width]
            piece[:] = segments[i]
            if rows is not None:
                piece[rows] = np.where(np.isinf(piece[rows]), -np.inf, fill[rows, None])
            if frames is not None:
                keep_outside = np.isinf(piece[:, frames])
                piece[:, frames] = np.where(keep_outside, -np.inf, fill[:, None])
        mosaic_spectrogram = replace(
            spectrogram, values_db=mosaic, times_s=np.arange(mosaic.shape[1], dtype=np.float64) * hop_s
        )
        points = [_Point((j * width + half) * hop_s, (j * width + half) * hop_s) for j in range(len(chunk))]
        crops = call_crops(mosaic_spectrogram, points, model.crop)
        probs, _ = predict_arrays(
            model, crops, context[[i for i, _, _ in chunk]], batch_size=config.batch_size
        )
        mass[start : start + len(chunk)] = label_mass(probs, label, model.label_set)

    base = mass[:n]
    score = float(base.mean())
    offset = n
    band_drop = np.zeros(len(band_low))
    for b, touched in enumerate(band_pairs):
        masked = base[band_calls].copy()
        position = np.searchsorted(band_calls, touched)
        masked[position] = mass[offset : offset + touched.size]
        offset += touched.size
        band_drop[b] = float(base[band_calls].mean()) - float(masked.mean())
    window_drop = np.zeros(len(window_start))
    for w, touched in enumerate(window_pairs):
        masked = base.copy()
        masked[touched] = mass[offset : offset + touched.size]
        offset += touched.size
        window_drop[w] = score - float(masked.mean())
    return Occlusion(
        file=str(analysis.file),
        label=label,
        score=score,
        band_low_hz=_frozen(band_low),
        band_high_hz=_frozen(band_high),
        band_drop=_frozen(band_drop),
        window_start_s=_frozen(window_start),
        window_end_s=_frozen(window_end),
        window_drop=_frozen(window_drop),
    )


def occlusion_map(
    path: str | os.PathLike[str],
    model: LoadedModel,
    *,
    time_expansion: float | None = None,
    config: OcclusionConfig = OcclusionConfig(),
    infer_config: InferConfig = InferConfig(),
) -> Occlusion:
    """Analyse `path` and return the occlusion map of its answer (module docstring)."""
    audio = load_audio(Path(path), time_expansion=time_expansion)
    analysis, spectrogram = analyse_audio(path, audio, model, config=infer_config)
    return occlude(spectrogram, analysis, model, config)
