"""What the classifier sees: a small spectrogram crop and a context vector per detected call.

Place in the pipeline: ml.audio -> ml.spectrogram -> ml.detect -> **ml.features** -> ml.model.

- `call_crops` cuts a fixed time window centred on each call out of the file's spectrogram, over the whole
  bat band, and max-pools it to a small grid (default 48 frequency rows x 32 frames of 1 ms). Max pooling,
  not averaging, so a 0.5 ms buzz call or a faint sweep keeps its peak energy. Each crop is normalised on
  its own (dB above the crop's median, i.e. above its background), so loudness and recorder gain do not
  matter but the call's shape, absolute frequency and neighbours inside the window do.
- `call_context` measures what a crop shows badly: duration, bandwidth, peak / low / high frequency and
  the intervals to the neighbouring calls (all calls, and calls of similar peak frequency, which keeps
  two interleaved bats from looking like a feeding buzz). Log-scaled with fixed constants, so no fitted
  statistics need to travel with a model.

Both take any sequence of objects with start_s, end_s, low_hz, high_hz and peak_hz (ml.detect.CallEvent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ml.spectrogram import Spectrogram

__all__ = [
    "CONTEXT_FEATURES",
    "CallLike",
    "CropConfig",
    "call_context",
    "call_crops",
    "call_time_shares",
    "pass_neighbours",
    "smooth_species_by_file",
    "smooth_species_over_passes",
]


class CallLike(Protocol):
    """The fields of ml.detect.CallEvent that features need (times in s, frequencies in Hz, true)."""

    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def low_hz(self) -> float: ...
    @property
    def high_hz(self) -> float: ...
    @property
    def peak_hz(self) -> float: ...


@dataclass(frozen=True)
class CropConfig:
    """How a call becomes a crop. The band is the spectrogram's (SpectrogramConfig.fmin_hz..fmax_hz)."""

    # 48 rows over 10-125 kHz: 2.4 kHz each, finer than the 6-10 kHz that separate the pipistrelles.
    n_freq_bins: int = 48
    # 32 frames over 32 ms: a whole search call of most species, and several calls of a feeding buzz
    # (5-10 ms apart), which is what tells a buzz from search calls.
    n_frames: int = 32
    window_ms: float = 32.0
    # Crop values are dB above the crop median divided by this, clipped to [clip_low, clip_high].
    scale_db: float = 20.0
    clip_low: float = -1.0
    clip_high: float = 4.0

    def __post_init__(self) -> None:
        if self.n_freq_bins < 4 or self.n_frames < 4 or self.window_ms <= 0:
            raise ValueError("a crop needs at least 4 x 4 cells and a positive window_ms")


# Names of the columns of call_context, in order (stored in checkpoints so a model knows what it read).
CONTEXT_FEATURES: tuple[str, ...] = (
    "log2_duration_ms",
    "log2_bandwidth_khz",
    "peak_khz",
    "low_khz",
    "high_khz",
    "log2_interval_previous_ms",
    "log2_interval_next_ms",
    "log2_interval_previous_similar_ms",
    "log2_interval_next_similar_ms",
    # The same measurements as medians over the call's pass: calls of similar peak frequency within
    # _PASS_WINDOW_S. One call varies a lot (jitter, distance, Doppler); the bat's calls around it less.
    "pass_log2_duration_ms",
    "pass_log2_bandwidth_khz",
    "pass_peak_khz",
    "pass_low_khz",
    "pass_high_khz",
    "pass_log2_interval_ms",
    "pass_log2_calls",
)
# Intervals are clipped to this range; a call with no neighbour gets the maximum ("far away").
_MIN_INTERVAL_MS = 1.0
_MAX_INTERVAL_MS = 2000.0
# Neighbours count as "similar" for intervals when their peak frequencies differ by less than this
# fraction: wide enough for the ~10 kHz drop inside a pipistrelle buzz, narrow enough to part a noctule
# from a pipistrelle.
_SIMILAR_PEAK_FRACTION = 0.3
# For pass medians: calls within this time (the pass gap of ARCHITECTURE.md) and this peak difference;
# narrower than above, so a soprano pipistrelle (55 kHz) does not average with a common one (46 kHz).
_PASS_WINDOW_S = 1.0
_PASS_PEAK_FRACTION = 0.12
# Rows of the pairwise (calls x calls) comparison done at once: bounds memory on files with thousands
# of detections.
_BLOCK_ROWS = 256


def _pooled_windows(spectrogram: Spectrogram, centres_s: np.ndarray, config: CropConfig) -> torch.Tensor:
    """Max-pooled windows around each centre, NaN where the window runs past the file.

    Each crop cell is the maximum over a band of frequency rows (the bins of adaptive max pooling) and over
    `frames_per_cell` source frames. Maxima can be taken in any order, so for files with many calls the
    whole spectrogram is pooled over rows once, then a running maximum over frames, and each crop gathers
    its cells from that plane; for a few calls, gathering their raw windows first is cheaper. Both give the
    same numbers (tests/ml/test_features.py).
    """
    values = torch.from_numpy(np.ascontiguousarray(spectrogram.values_db, dtype=np.float32))  # (freq, time)
    n_time = values.shape[1]
    hop_s = spectrogram.hop_s
    # A whole number of source frames per crop frame, so pooling cells all have the same width.
    frames_per_cell = max(1, int(round(config.window_ms / 1000.0 / config.n_frames / hop_s)))
    width = frames_per_cell * config.n_frames
    first = np.round(centres_s / hop_s).astype(np.int64) - width // 2  # (n,)
    # Measured: pooling the plane costs about as much as gathering windows that cover a sixth of the file.
    if 6 * len(centres_s) * width > n_time:
        pooled = _crops_from_pooled_plane(values, first, frames_per_cell, width, config.n_freq_bins)
    else:
        index = first[:, None] + np.arange(width)[None, :]  # (n, width)
        outside = torch.from_numpy((index < 0) | (index >= n_time))
        index_t = torch.from_numpy(np.clip(index, 0, max(n_time - 1, 0)))
        windows = values[:, index_t].permute(1, 0, 2)  # (n, freq, width)
        windows = windows.masked_fill(outside[:, None, :], float("-inf"))
        rows = _max_over_row_bins(windows, config.n_freq_bins)  # (n, rows, width)
        pooled = rows.reshape(len(first), config.n_freq_bins, config.n_frames, frames_per_cell).amax(dim=3)
        pooled = pooled.unsqueeze(1)  # (n, 1, rows, frames)
    return pooled.masked_fill(torch.isinf(pooled), float("nan"))


def _max_over_row_bins(values: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Maximum over the frequency-row bins of adaptive max pooling ((..., freq, time) -> (..., n_bins, time)).

    Bin i spans rows floor(i * freq / n_bins) to ceil((i + 1) * freq / n_bins), as in
    torch.nn.functional.adaptive_max_pool2d, which is several times slower on a whole spectrogram."""
    n_rows = values.shape[-2]
    starts = [(i * n_rows) // n_bins for i in range(n_bins)]
    stops = [-((-(i + 1) * n_rows) // n_bins) for i in range(n_bins)]
    widest = max(stop - start for start, stop in zip(starts, stops))
    out = values[..., starts, :].clone()
    for offset in range(1, widest):
        # A narrower bin repeats its last row, which leaves its maximum unchanged.
        rows = [min(start + offset, stop - 1) for start, stop in zip(starts, stops)]
        torch.maximum(out, values[..., rows, :], out=out)
    return out


def _crops_from_pooled_plane(
    values: torch.Tensor, first: np.ndarray, frames_per_cell: int, width: int, n_bins: int
) -> torch.Tensor:
    """(n, 1, rows, frames) crops cut from the whole (freq, time) spectrogram pooled once; frames outside the
    file are -inf, as in the windowed path."""
    rows = _max_over_row_bins(values, n_bins)  # (rows, time)
    edge = torch.full((rows.shape[0], width), float("-inf"), dtype=rows.dtype)
    padded = torch.cat([edge, rows, edge], dim=1)  # frame t at column t + width
    span = padded.shape[1] - frames_per_cell + 1
    cells = padded[:, :span].clone()  # cells[:, c] = max of padded[:, c : c + frames_per_cell]
    for shift in range(1, frames_per_cell):
        torch.maximum(cells, padded[:, shift : shift + span], out=cells)
    n_frames = width // frames_per_cell
    starts = first[:, None] + width + frames_per_cell * np.arange(n_frames)[None, :]  # (n, frames)
    starts = np.clip(starts, 0, span - 1)  # only a centre far outside the file reaches past the padding
    return cells[:, torch.from_numpy(starts)].permute(1, 0, 2).unsqueeze(1)  # (n, 1, rows, frames)


def call_crops(
    spectrogram: Spectrogram, events: Sequence[CallLike], config: CropConfig = CropConfig()
) -> np.ndarray:
    """Crops around each call: (n_calls, 1, n_freq_bins, n_frames) float32, low frequency in row 0."""
    n = len(events)
    if n == 0 or spectrogram.values_db.shape[1] == 0:
        return np.zeros((n, 1, config.n_freq_bins, config.n_frames), dtype=np.float32)
    centres_s = np.array([(e.start_s + e.end_s) / 2.0 for e in events], dtype=np.float64)
    with torch.inference_mode():
        pooled = _pooled_windows(spectrogram, centres_s, config)  # (n, 1, rows, frames)
        flat = pooled.reshape(n, -1)
        # Median over the cells inside the file: the crop's background level. Calls cover a minority of
        # cells, even for a 60 ms horseshoe call, whose constant-frequency line fills one row band only.
        median = torch.nanmedian(flat, dim=1).values  # (n,)
        median = torch.nan_to_num(median, nan=0.0)
        crops = (pooled - median[:, None, None, None]) / config.scale_db
        crops = torch.nan_to_num(crops, nan=0.0).clamp_(config.clip_low, config.clip_high)
    return crops.numpy().astype(np.float32, copy=False)


def _log2_interval(interval_s: np.ndarray) -> np.ndarray:
    interval_ms = np.where(np.isfinite(interval_s), interval_s * 1000.0, _MAX_INTERVAL_MS)
    return np.log2(np.clip(interval_ms, _MIN_INTERVAL_MS, _MAX_INTERVAL_MS))


def _neighbour_intervals(
    starts_s: np.ndarray, peaks_hz: np.ndarray, fraction: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Start-to-start interval to the previous and next call (inf where none); input sorted by start.

    With `fraction`, only neighbours whose peak differs by less than that fraction of this call's count.
    """
    n = len(starts_s)
    previous = np.full(n, np.inf)
    following = np.full(n, np.inf)
    if fraction is None:
        gaps = np.diff(starts_s)
        previous[1:] = gaps
        following[:-1] = gaps
        return previous, following
    index = np.arange(n)
    for lo in range(0, n, _BLOCK_ROWS):
        rows = index[lo : lo + _BLOCK_ROWS]
        similar = np.abs(peaks_hz[None, :] - peaks_hz[rows, None]) <= fraction * np.maximum(
            peaks_hz[rows, None], 1.0
        )
        before = similar & (index[None, :] < rows[:, None])
        after = similar & (index[None, :] > rows[:, None])
        # Sorted by start: the nearest earlier similar call is the last True before the row, etc.
        last_before = np.where(before.any(axis=1), n - 1 - np.argmax(before[:, ::-1], axis=1), -1)
        first_after = np.where(after.any(axis=1), np.argmax(after, axis=1), -1)
        previous[rows] = np.where(
            last_before >= 0, starts_s[rows] - starts_s[np.maximum(last_before, 0)], np.inf
        )
        following[rows] = np.where(
            first_after >= 0, starts_s[np.maximum(first_after, 0)] - starts_s[rows], np.inf
        )
    return previous, following


TIME_SHARE_CAP_S = 0.2  # a gap longer than a slow search-phase interval is no longer "this call's time"


def call_time_shares(starts_s: np.ndarray, cap_s: float = TIME_SHARE_CAP_S) -> np.ndarray:
    """How much of a recording's time each call stands for: the gap to the next call (for the last one the
    gap before it), between 1 ms and `cap_s`. Input in any order; output in the same order.

    Why: a feeding buzz packs dozens of calls into half a second. Counted call by call it outvotes the
    search-phase pass around it, although searching is what the bat did most of the time and what a labeller
    lists first (labels.csv: the main call type first; a file with a buzz is an echolocation file). Weighted
    by time, the pass is the main call type and the buzz is still present.
    """
    starts_s = np.asarray(starts_s, dtype=np.float64)
    n = len(starts_s)
    if n < 2:
        return np.full(n, cap_s)
    order = np.argsort(starts_s, kind="stable")
    gaps = np.diff(starts_s[order])
    shares = np.empty(n)
    shares[order] = np.clip(np.append(gaps, gaps[-1]), 1e-3, cap_s)
    return shares


def pass_neighbours(starts_s: np.ndarray, peaks_hz: np.ndarray, rows: slice) -> np.ndarray:
    """(rows, n) bool: which calls count as the same pass as each call of `rows` (itself included).

    Calls within _PASS_WINDOW_S of each other whose peak frequencies differ by less than
    _PASS_PEAK_FRACTION: in practice the calls of one bat, even with a second species calling at once.
    """
    near = np.abs(starts_s[None, :] - starts_s[rows, None]) <= _PASS_WINDOW_S
    similar = np.abs(peaks_hz[None, :] - peaks_hz[rows, None]) <= _PASS_PEAK_FRACTION * np.maximum(
        peaks_hz[rows, None], 1.0
    )
    return near & similar


def _pass_medians(
    starts_s: np.ndarray, peaks_hz: np.ndarray, columns: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Median of each column over the call's pass neighbours (itself included), and their count."""
    n = len(starts_s)
    medians = np.empty_like(columns)
    counts = np.empty(n)
    for lo in range(0, n, _BLOCK_ROWS):
        rows = slice(lo, min(lo + _BLOCK_ROWS, n))
        member = pass_neighbours(starts_s, peaks_hz, rows)  # (rows, n); the diagonal is always True
        count = member.sum(axis=1)  # (rows,)
        counts[rows] = count
        # Non-members become NaN, which np.sort puts last; the median is then read off at the middle of
        # each row's members (much faster than np.nanmedian on a 3-D array).
        values = np.sort(np.where(member[:, :, None], columns[None, :, :], np.nan), axis=1)  # (rows, n, k)
        low = ((count - 1) // 2)[:, None, None]
        high = (count // 2)[:, None, None]
        k = columns.shape[1]
        medians[rows] = 0.5 * (
            np.take_along_axis(values, np.broadcast_to(low, (len(count), 1, k)), axis=1)[:, 0]
            + np.take_along_axis(values, np.broadcast_to(high, (len(count), 1, k)), axis=1)[:, 0]
        )
    return medians, counts


def call_context(events: Sequence[CallLike]) -> np.ndarray:
    """Measured call parameters: (n_calls, len(CONTEXT_FEATURES)) float32, in the order of `events`."""
    n = len(events)
    if n == 0:
        return np.zeros((0, len(CONTEXT_FEATURES)), dtype=np.float32)
    starts = np.array([e.start_s for e in events], dtype=np.float64)
    ends = np.array([e.end_s for e in events], dtype=np.float64)
    lows = np.array([e.low_hz for e in events], dtype=np.float64)
    highs = np.array([e.high_hz for e in events], dtype=np.float64)
    peaks = np.array([e.peak_hz for e in events], dtype=np.float64)
    order = np.argsort(starts, kind="stable")
    intervals = []
    for fraction in (None, _SIMILAR_PEAK_FRACTION):
        prev_sorted, next_sorted = _neighbour_intervals(starts[order], peaks[order], fraction)
        previous = np.empty(n)
        following = np.empty(n)
        previous[order] = prev_sorted
        following[order] = next_sorted
        intervals += [_log2_interval(previous), _log2_interval(following)]
    duration_ms = np.clip((ends - starts) * 1000.0, 0.1, 200.0)
    bandwidth_khz = np.clip((highs - lows) / 1000.0, 0.0, 200.0)
    # Fixed scales put every column near [-1, 2]: no statistics to fit, store or get wrong.
    single = np.stack(
        [
            np.log2(duration_ms) / 4.0,
            np.log2(bandwidth_khz + 1.0) / 4.0,
            peaks / 50_000.0,
            lows / 50_000.0,
            highs / 50_000.0,
            *(c / 8.0 for c in intervals),
        ],
        axis=1,
    )
    # Pass medians of the single-call columns 0-4 and of the nearer similar interval.
    nearest_similar = np.minimum(intervals[2], intervals[3])[:, None] / 8.0
    medians, counts = _pass_medians(starts, peaks, np.concatenate([single[:, :5], nearest_similar], axis=1))
    context = np.concatenate([single, medians, (np.log2(counts) / 4.0)[:, None]], axis=1)
    return context.astype(np.float32)


def smooth_species_over_passes(
    species_probs: np.ndarray, starts_s: np.ndarray, peaks_hz: np.ndarray, noise_index: int | None
) -> np.ndarray:
    """Species probabilities that share evidence between the calls of one pass.

    Whether a sound is a bat stays a per-call decision: p(noise) of each call is kept. Which bat it is
    becomes a pass decision: p(species | bat) is the normalised geometric mean over the call's pass
    neighbours (pass_neighbours) that are themselves more likely bats than noise. One call of a pass is
    easily mistaken for a neighbouring species; ten calls of the same bat rarely are.
    """
    n = len(species_probs)
    if n == 0:
        return species_probs
    p = np.asarray(species_probs, dtype=np.float64)
    bat_columns = np.array([k != noise_index for k in range(p.shape[1])])
    p_noise = p[:, noise_index] if noise_index is not None else np.zeros(n)
    log_bat = np.log(np.clip(p[:, bat_columns], 1e-12, None))
    log_bat -= np.log(np.exp(log_bat).sum(axis=1, keepdims=True))  # log p(species | bat)
    is_bat = p_noise < 0.5
    starts_s = np.asarray(starts_s, dtype=np.float64)
    peaks_hz = np.asarray(peaks_hz, dtype=np.float64)
    smoothed = np.empty_like(log_bat)
    for lo in range(0, n, _BLOCK_ROWS):
        rows = slice(lo, min(lo + _BLOCK_ROWS, n))
        member = pass_neighbours(starts_s, peaks_hz, rows) & is_bat[None, :]
        member[np.arange(member.shape[0]), np.arange(lo, lo + member.shape[0])] = True  # always itself
        smoothed[rows] = (member @ log_bat) / member.sum(axis=1, keepdims=True)
    conditional = np.exp(smoothed - smoothed.max(axis=1, keepdims=True))
    conditional /= conditional.sum(axis=1, keepdims=True)
    out = np.empty_like(p)
    out[:, bat_columns] = conditional * (1.0 - p_noise)[:, None]
    if noise_index is not None:
        out[:, noise_index] = p_noise
    return out.astype(np.float32)


def smooth_species_by_file(
    species_probs: np.ndarray,
    file_index: np.ndarray,
    starts_s: np.ndarray,
    peaks_hz: np.ndarray,
    noise_index: int | None,
) -> np.ndarray:
    """smooth_species_over_passes for rows of many files at once (passes never cross files)."""
    out = np.empty_like(species_probs, dtype=np.float32)
    for f in np.unique(file_index):
        rows = np.flatnonzero(file_index == f)
        out[rows] = smooth_species_over_passes(
            species_probs[rows], starts_s[rows], peaks_hz[rows], noise_index
        )
    return out
