"""Call detection: the third step of the pipeline, after ml.audio and ml.spectrogram.

Finds bat-call events (start, end, low, high and peak frequency, SNR) in true time and groups them into
passes. The classifier (part 2) looks at a crop around each event and decides species, call type or
`noise`; the detector's job is to find the calls without flooding the classifier with clicks, rain and
steady noise.

How (each step answers a kind of field noise):
1. Spectrogram of the bat band (ml.spectrogram), rows below `min_frequency_hz` dropped: wind, handling
   and most bush-cricket song sit below 15 kHz.
2. Per-frequency noise floor (a low percentile of each row over the whole file) subtracted: steady insect
   song, detector self-noise and hum become 0 dB, whatever their level, while calls, which fill only a
   small part of the time, stand out.
3. Per-frame median over frequency (`broadband_percentile`) subtracted where positive: a click or rain
   drop lifts every frequency at once, a call only a few bins, so broadband transients flatten and calls
   remain.
4. Light smoothing (3 kHz x 0.75 ms), then hysteresis on the time-frequency plane: regions above
   `extent_threshold_db` that reach `threshold_db` somewhere. Regions closer than `join_time_ms` and
   `join_frequency_hz` are one sound (a steep sweep breaks into pieces at the threshold).
5. Short broadband regions that are left (clicks that do not cover the whole band) are dropped, as are
   regions longer than any bat call (insect trills, engine noise).
6. A region far weaker (`echo_below_db`) than a louder one just before or during it is that call's echo or
   faint harmonic, and is dropped; regions that share most of their time span (harmonics of one call) are
   one call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ml.audio import Audio
from ml.spectrogram import Spectrogram, SpectrogramConfig, compute_spectrogram

__all__ = [
    "CallEvent",
    "DetectConfig",
    "detect_calls",
    "detect_calls_in_samples",
    "group_passes",
]


# The resampler's anti-aliasing filter rolls off in the last few per cent below the Nyquist frequency.
_NYQUIST_MARGIN = 0.96


@dataclass(frozen=True)
class DetectConfig:
    """Thresholds of the call detector. Levels in dB above the per-frequency noise floor."""

    min_frequency_hz: float = 15_000.0  # lowest echolocation peaks in NW Europe (noctule) are ~18 kHz
    max_frequency_hz: float = 125_000.0
    noise_percentile: float = 20.0  # a low percentile: robust to calls filling up to ~80 % of a bin's time
    threshold_db: float = 14.0  # a call must reach this somewhere; background noise alone stays below 10
    extent_threshold_db: float = 7.0  # a call's region extends over pixels above this
    extent_below_peak_db: float = 25.0  # start/end/low/high are where the call is within this of its peak
    smooth_frequency_hz: float = 3_000.0
    smooth_time_ms: float = 0.75
    # Per frame, this percentile over frequency is taken as broadband (click) level and subtracted; a
    # click lifts every bin, a call only the bins it sweeps through in that frame. 0 switches it off.
    broadband_percentile: float = 50.0
    join_time_ms: float = 1.0  # pieces of one sweep closer than this (and join_frequency_hz) are one call
    join_frequency_hz: float = 5_000.0
    harmonic_overlap: float = 0.5  # regions overlapping by this fraction of the shorter are one call
    echo_below_db: float = 20.0  # a region this much weaker than a louder call ...
    echo_before_ms: float = 1.0  # ... starting up to this before it ...
    echo_after_ms: float = 7.0  # ... or ending up to this after it, is its echo or faint harmonic
    min_duration_ms: float = 0.5
    max_duration_ms: float = 150.0  # longer than any bat call (horseshoe bats reach ~75 ms)
    click_max_duration_ms: float = 2.0  # shorter than this and ...
    click_min_band_fraction: float = 0.6  # ... covering this much of the band at one instant ...
    click_min_sweep_ms: float = 0.5  # ... with its low frequencies peaking less than this after its high ones
    pass_max_gap_s: float = 1.0  # ARCHITECTURE.md: a pass is >= 2 calls with gaps under 1 s
    pass_min_calls: int = 2


@dataclass(frozen=True)
class CallEvent:
    """One detected call, in true time and frequency."""

    start_s: float
    end_s: float
    low_hz: float
    high_hz: float
    peak_hz: float  # frequency of maximum energy
    snr_db: float  # peak level above the per-frequency noise floor
    pass_index: int  # -1 when the call belongs to no pass

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class _Region:
    """A connected time-frequency region, in frame and bin indices of the cropped spectrogram."""

    t0: int
    t1: int  # inclusive
    f0: int
    f1: int  # inclusive
    peak_db: float  # whitened level
    peak_bin: float  # where the raw spectrum is loudest, interpolated between bins


def detect_calls(
    audio: Audio, config: DetectConfig = DetectConfig(), spectrogram: Spectrogram | None = None
) -> tuple[CallEvent, ...]:
    """Calls in a loaded recording, ordered by start time; times and frequencies are true ones.

    Pass `spectrogram` when one was already computed for these samples, to save computing it again.
    Frequencies above the recording's own Nyquist frequency (a 144 kHz file holds nothing above 72 kHz) are
    left out: resampling leaves only faint images of the calls there, loud against digital silence.
    """
    nyquist_hz = _NYQUIST_MARGIN * audio.true_sample_rate_hz / 2.0
    if nyquist_hz < config.max_frequency_hz:
        config = dataclasses.replace(config, max_frequency_hz=nyquist_hz)
    return detect_calls_in_samples(audio.samples, audio.sample_rate_hz, config, spectrogram)


def detect_calls_in_samples(
    samples: np.ndarray,
    sample_rate_hz: int,
    config: DetectConfig = DetectConfig(),
    spectrogram: Spectrogram | None = None,
) -> tuple[CallEvent, ...]:
    """The detector on bare samples (already in true time, e.g. `Audio.samples`).

    The thresholds are tuned on the default `SpectrogramConfig` (1 ms window, 0.25 ms hop); a spectrogram
    passed in should use those settings (its band may differ: rows outside the detector's band are ignored).
    """
    if spectrogram is None:
        spectrogram = compute_spectrogram(samples, sample_rate_hz, SpectrogramConfig())
    rows = (spectrogram.frequencies_hz >= config.min_frequency_hz) & (
        spectrogram.frequencies_hz <= config.max_frequency_hz
    )
    if rows.sum() < 2 or spectrogram.values_db.shape[1] < 2:
        return ()
    raw_db = spectrogram.values_db[rows]  # (freq, time)
    frequencies_hz = spectrogram.frequencies_hz[rows]
    bin_hz = float(frequencies_hz[1] - frequencies_hz[0])
    hop_s = float(spectrogram.times_s[1] - spectrogram.times_s[0])
    level_db = _whiten(raw_db, config, bin_hz, hop_s)
    regions = _regions(level_db, raw_db, config, bin_hz, hop_s)
    regions = _drop_clicks_and_long(regions, level_db, config, hop_s)
    regions = _drop_echoes(regions, config, hop_s)
    calls = _merge_harmonics(regions, config)
    times_s = spectrogram.times_s
    starts = [float(times_s[r.t0]) for r in calls]
    passes = group_passes(starts, config.pass_max_gap_s, config.pass_min_calls)
    return tuple(
        CallEvent(
            start_s=float(times_s[r.t0]),
            end_s=float(times_s[r.t1]),
            low_hz=float(frequencies_hz[r.f0]),
            high_hz=float(frequencies_hz[r.f1]),
            peak_hz=float(
                np.clip(frequencies_hz[0] + r.peak_bin * bin_hz, frequencies_hz[r.f0], frequencies_hz[r.f1])
            ),
            snr_db=round(float(r.peak_db), 2),
            pass_index=p,
        )
        for r, p in zip(calls, passes)
    )


def group_passes(starts_s: Sequence[float], max_gap_s: float = 1.0, min_calls: int = 2) -> list[int]:
    """Pass index per call (in the order given), -1 for a call in no pass.

    A pass is a run of at least `min_calls` calls whose successive start times are less than `max_gap_s`
    apart (ARCHITECTURE.md, "Labels"). Passes are numbered 0, 1, ... in time order. Call this per species
    when species are known; the detector itself calls it on all calls of a file.
    """
    starts = np.asarray(starts_s, dtype=np.float64)
    result = [-1] * len(starts)
    if len(starts) == 0:
        return result
    order = np.argsort(starts, kind="stable")
    runs: list[list[int]] = [[int(order[0])]]
    for previous, current in zip(order[:-1], order[1:]):
        if starts[current] - starts[previous] < max_gap_s:
            runs[-1].append(int(current))
        else:
            runs.append([int(current)])
    index = 0
    for run in runs:
        if len(run) >= min_calls:
            for i in run:
                result[i] = index
            index += 1
    return result


# ------------------------------------------------------------------------------------------------ steps


def _whiten(raw_db: np.ndarray, config: DetectConfig, bin_hz: float, hop_s: float) -> np.ndarray:
    """Level above the per-frequency noise floor, broadband transients flattened, lightly smoothed."""
    # Every 4th frame is plenty for a percentile and four times cheaper on long files.
    sample = raw_db[:, ::4] if raw_db.shape[1] >= 400 else raw_db
    floor_db = np.percentile(sample, config.noise_percentile, axis=1, keepdims=True)
    level_db = raw_db - floor_db.astype(np.float32)  # (freq, time)
    if config.broadband_percentile > 0:
        level_db -= np.maximum(_frame_percentile(level_db, config.broadband_percentile), 0.0)[None, :]
    size = (
        max(1, int(round(config.smooth_frequency_hz / bin_hz))),
        max(1, int(round(config.smooth_time_ms / 1000.0 / hop_s))),
    )
    return _box_mean(level_db, size)


def _frame_percentile(level_db: np.ndarray, percentile: float, block_frames: int = 256) -> np.ndarray:
    """The `percentile` (nearest rank) over frequency of each frame of a (freq, time) array.

    np.partition on (time, freq) copies of blocks of frames: each block is transposed and partitioned while
    it is in the cache, a fraction of np.percentile's time on the whole array."""
    last = level_db.shape[0] - 1
    k = min(last, int(round(percentile / 100.0 * last)))
    out = np.empty(level_db.shape[1], dtype=level_db.dtype)
    for t in range(0, level_db.shape[1], block_frames):
        block = np.ascontiguousarray(level_db[:, t : t + block_frames].T)  # (frames, freq)
        out[t : t + block_frames] = np.partition(block, k, axis=1)[:, k]
    return out


def _box_mean(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Mean over a (freq, time) box centred on each pixel, edges repeated.

    Shifted slices added in place, one division at the end: a third of the time of padding a copy per axis
    (or of ndimage.uniform_filter) for the 3 x 3 boxes used here, on a 5 s file's 2 million pixels."""
    kf, kt = size
    total = values.astype(np.float32, copy=True)
    _add_shifted(total, values, kf, axis=0)
    if kt > 1:
        _add_shifted(total, total.copy(), kt, axis=1)
    total *= np.float32(1.0 / (max(kf, 1) * max(kt, 1)))
    return total


def _add_shifted(total: np.ndarray, values: np.ndarray, k: int, axis: int) -> None:
    """Add `values` shifted by each offset of a k-wide centred window along `axis` (not 0), edges repeated."""
    before = (k - 1) // 2
    n = values.shape[axis]
    for shift in range(-before, k - before):
        if shift == 0:
            continue
        s = abs(shift)
        if s >= n:  # the window is wider than the array: every term is an edge value
            edge = values.take([n - 1 if shift > 0 else 0], axis=axis)
            total += edge
            continue
        head = [slice(None), slice(None)]
        tail = [slice(None), slice(None)]
        if shift > 0:  # total[i] += values[min(i + s, n - 1)]
            head[axis], tail[axis] = slice(0, n - s), slice(s, n)
            total[tuple(head)] += values[tuple(tail)]
            head[axis], tail[axis] = slice(n - s, n), slice(n - 1, n)
        else:  # total[i] += values[max(i - s, 0)]
            head[axis], tail[axis] = slice(s, n), slice(0, n - s)
            total[tuple(head)] += values[tuple(tail)]
            head[axis], tail[axis] = slice(0, s), slice(0, 1)
        total[tuple(head)] += values[tuple(tail)]


def _regions(
    level_db: np.ndarray, raw_db: np.ndarray, config: DetectConfig, bin_hz: float, hop_s: float
) -> list[_Region]:
    """Hysteresis regions: connected pixels above the extent threshold holding one above the threshold,
    with pieces closer than the join distances taken together."""
    above = level_db > config.extent_threshold_db
    # Label only the frames that hold something (a few per cent of a typical file), each run of them followed
    # by one empty frame so that runs stay apart; pieces never cross an empty frame, so this is exact.
    active = above.any(axis=0)
    keep = active.copy()
    keep[1:] |= active[:-1]
    frames = np.flatnonzero(keep)  # compact column -> frame
    if len(frames) == 0:
        return []
    labels, n = ndimage.label(above[:, frames], structure=np.ones((3, 3), bool))  # 0 = background
    if n == 0:
        return []
    seeded = np.unique(labels[level_db[:, frames] >= config.threshold_db])
    seeded = seeded[seeded > 0]
    if len(seeded) == 0:
        return []
    slices = ndimage.find_objects(labels)
    # Bounding boxes of all pieces in frames, stops exclusive: (n, 4) = f_start, f_stop, t_start, t_stop.
    compact = np.array([(b[0].start, b[0].stop, b[1].start, b[1].stop) for b in slices], dtype=np.int64)
    boxes = compact.copy()
    boxes[:, 2] = frames[compact[:, 2]]
    boxes[:, 3] = frames[compact[:, 3] - 1] + 1
    join_bins = int(round(config.join_frequency_hz / bin_hz))
    join_frames = int(round(config.join_time_ms / 1000.0 / hop_s))
    groups = _join_pieces(boxes, seeded - 1, join_bins, join_frames)

    group_of_label = np.zeros(n + 1, dtype=np.int64)  # 0: background or a piece of no group
    for g, members in enumerate(groups, start=1):
        group_of_label[members + 1] = g
    regions = []
    for g, members in enumerate(groups, start=1):
        f_start, f_stop = boxes[members, 0].min(), boxes[members, 1].max()
        t_start, t_stop = boxes[members, 2].min(), boxes[members, 3].max()
        c_start, c_stop = compact[members, 2].min(), compact[members, 3].max()
        box = (slice(f_start, f_stop), slice(t_start, t_stop))
        # Pixels of this group, in the frames of its box (frames between its pieces hold none of it).
        inside = np.zeros((f_stop - f_start, t_stop - t_start), dtype=bool)
        in_group = group_of_label[labels[f_start:f_stop, c_start:c_stop]] == g
        inside[:, frames[c_start:c_stop] - t_start] = in_group
        level = np.where(inside, level_db[box], -np.inf)
        peak_db = float(level.max())
        # Extents where the call is within extent_below_peak_db of its peak: a loud call's reverberation
        # tail does not stretch it into the next call.
        strong = level >= max(config.extent_threshold_db, peak_db - config.extent_below_peak_db)
        cols = np.flatnonzero(strong.any(axis=0))
        rows = np.flatnonzero(strong.any(axis=1))
        raw = np.where(strong, raw_db[box], -np.inf)
        row, col = np.unravel_index(np.argmax(raw), raw.shape)
        peak_row = int(f_start + row)
        peak_bin = peak_row + _parabolic_offset(raw_db[:, int(t_start + col)], peak_row)
        regions.append(
            _Region(
                t0=int(t_start + cols[0]),
                t1=int(t_start + cols[-1]),
                f0=int(f_start + rows[0]),
                f1=int(f_start + rows[-1]),
                peak_db=peak_db,
                peak_bin=peak_bin,
            )
        )
    return regions


def _join_pieces(boxes: np.ndarray, seeds: np.ndarray, join_bins: int, join_frames: int) -> list[np.ndarray]:
    """Groups of piece indices: each seed with the pieces whose boxes lie within the join distances of it
    (one sweep broken at the threshold); seeds that touch this way, or through a shared piece, are one."""
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        parent.setdefault(i, i)
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for seed in seeds:
        f_start, f_stop, t_start, t_stop = boxes[seed]
        near = np.flatnonzero(
            (boxes[:, 2] <= t_stop + join_frames)
            & (boxes[:, 3] >= t_start - join_frames)
            & (boxes[:, 0] <= f_stop + join_bins)
            & (boxes[:, 1] >= f_start - join_bins)
        )
        seed_root = root(int(seed))
        for piece in near:
            piece_root = root(int(piece))
            if piece_root != seed_root:
                parent[piece_root] = seed_root
    members: dict[int, list[int]] = {}
    for i in list(parent):
        members.setdefault(root(i), []).append(i)
    return [np.asarray(sorted(m), dtype=np.int64) for m in members.values()]


def _parabolic_offset(column_db: np.ndarray, i: int) -> float:
    """Sub-bin position of a spectral peak from a parabola through it and its neighbours (in dB)."""
    if i <= 0 or i >= len(column_db) - 1:
        return 0.0
    left, centre, right = (float(v) for v in column_db[i - 1 : i + 2])
    curvature = left - 2.0 * centre + right
    if curvature >= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


def _drop_clicks_and_long(
    regions: list[_Region], level_db: np.ndarray, config: DetectConfig, hop_s: float
) -> list[_Region]:
    n_bins = level_db.shape[0]
    min_frames = config.min_duration_ms / 1000.0 / hop_s - 1e-6
    max_frames = config.max_duration_ms / 1000.0 / hop_s
    click_frames = config.click_max_duration_ms / 1000.0 / hop_s
    kept = []
    for r in regions:
        frames = r.t1 - r.t0
        if frames < min_frames or frames > max_frames:
            continue
        if frames <= click_frames and _is_click(r, level_db, config, n_bins, hop_s):
            continue
        kept.append(r)
    return kept


def _is_click(r: _Region, level_db: np.ndarray, config: DetectConfig, n_bins: int, hop_s: float) -> bool:
    """Broadband at one instant and without a frequency sweep: a click, a rain drop, a twig.

    A short steep FM call (Natterer's bat sweeps 100 kHz in 2 ms) is as broadband in a 1 ms window, but
    its high frequencies peak earlier than its low ones; a click peaks in the same frame everywhere."""
    block = level_db[r.f0 : r.f1 + 1, r.t0 : r.t1 + 1]  # (freq, time)
    floor = max(config.extent_threshold_db, r.peak_db - config.extent_below_peak_db)
    strong = block >= floor
    if strong.sum(axis=0).max() < config.click_min_band_fraction * n_bins:
        return False
    rows = np.flatnonzero(strong.any(axis=1))
    peak_frame = np.argmax(block[rows], axis=1)  # frame where each frequency is loudest
    quarter = max(1, len(rows) // 4)
    drift_frames = float(np.median(peak_frame[:quarter]) - np.median(peak_frame[-quarter:]))
    # A downward sweep puts the low quarter of its band at least half a millisecond after the top quarter.
    return drift_frames * hop_s < config.click_min_sweep_ms / 1000.0


def _drop_echoes(regions: list[_Region], config: DetectConfig, hop_s: float) -> list[_Region]:
    if config.echo_below_db <= 0 or not regions:
        return regions
    before = config.echo_before_ms / 1000.0 / hop_s
    after = config.echo_after_ms / 1000.0 / hop_s
    kept: list[_Region] = []
    for r in sorted(regions, key=lambda r: -r.peak_db):
        dominated = False
        for loud in kept:  # louder first, so stop at the first one that is not loud enough
            if loud.peak_db - r.peak_db < config.echo_below_db:
                break
            if r.t1 >= loud.t0 - before and r.t0 <= loud.t1 + after:
                dominated = True
                break
        if not dominated:
            kept.append(r)
    return sorted(kept, key=lambda r: r.t0)


def _merge_harmonics(regions: list[_Region], config: DetectConfig) -> list[_Region]:
    """Regions sharing most of their time span are one call (harmonics, a sweep split by a notch)."""
    regions = sorted(regions, key=lambda r: r.t0)
    parent = list(range(len(regions)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(regions):
        for j in range(i + 1, len(regions)):
            b = regions[j]
            if b.t0 > a.t1:
                break
            overlap = min(a.t1, b.t1) - max(a.t0, b.t0) + 1
            shorter = min(a.t1 - a.t0, b.t1 - b.t0) + 1
            if overlap >= config.harmonic_overlap * shorter:
                parent[root(j)] = root(i)
    groups: dict[int, list[_Region]] = {}
    for i, r in enumerate(regions):
        groups.setdefault(root(i), []).append(r)
    merged = []
    for members in groups.values():
        loudest = max(members, key=lambda r: r.peak_db)
        merged.append(
            _Region(
                t0=min(r.t0 for r in members),
                t1=max(r.t1 for r in members),
                f0=min(r.f0 for r in members),
                f1=max(r.f1 for r in members),
                peak_db=loudest.peak_db,
                peak_bin=loudest.peak_bin,
            )
        )
    return sorted(merged, key=lambda r: r.t0)
