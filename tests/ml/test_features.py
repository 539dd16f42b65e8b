"""Crops and context vectors: what the classifier sees of each call (ml.features)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ml.features import (
    CONTEXT_FEATURES,
    CropConfig,
    _pooled_windows,
    call_context,
    call_crops,
    call_time_shares,
)
from ml.spectrogram import compute_spectrogram

RATE_HZ = 256_000


@dataclass(frozen=True)
class Call:
    start_s: float
    end_s: float
    low_hz: float
    high_hz: float
    peak_hz: float


def _tone_bursts(
    bursts: list[tuple[float, float, float]], duration_s: float = 0.5, amplitude: float = 0.3
) -> np.ndarray:
    """(start_s, length_s, frequency_hz) tone bursts in faint white noise."""
    rng = np.random.default_rng(0)
    samples = rng.normal(0, 1e-4, int(duration_s * RATE_HZ))
    for start_s, length_s, frequency_hz in bursts:
        i0, n = int(start_s * RATE_HZ), int(length_s * RATE_HZ)
        t = np.arange(n) / RATE_HZ
        samples[i0 : i0 + n] += amplitude * np.hanning(n) * np.sin(2 * np.pi * frequency_hz * t)
    return samples.astype(np.float32)


def _row_of(frequency_hz: float, config: CropConfig = CropConfig()) -> int:
    # Crop rows span the spectrogram band (10-125 kHz) evenly, low frequencies first.
    return int((frequency_hz - 10_000) / (115_000 / config.n_freq_bins))


def test_crops_have_the_configured_shape_and_range() -> None:
    spectrogram = compute_spectrogram(_tone_bursts([(0.1, 0.005, 45_000)]), RATE_HZ)
    config = CropConfig()
    crops = call_crops(spectrogram, [Call(0.1, 0.105, 40_000, 50_000, 45_000)] * 3, config)
    assert crops.shape == (3, 1, config.n_freq_bins, config.n_frames)
    assert crops.dtype == np.float32
    assert crops.min() >= config.clip_low and crops.max() <= config.clip_high


def test_a_call_lights_the_rows_of_its_frequency() -> None:
    samples = _tone_bursts([(0.1, 0.005, 45_000), (0.3, 0.005, 100_000)])
    spectrogram = compute_spectrogram(samples, RATE_HZ)
    crops = call_crops(
        spectrogram, [Call(0.1, 0.105, 44e3, 46e3, 45e3), Call(0.3, 0.305, 99e3, 101e3, 100e3)]
    )
    low_call_rows = crops[0, 0].max(axis=1)
    high_call_rows = crops[1, 0].max(axis=1)
    assert abs(int(np.argmax(low_call_rows)) - _row_of(45_000)) <= 1
    assert abs(int(np.argmax(high_call_rows)) - _row_of(100_000)) <= 1
    # Centred in time: the brightest frame is in the middle of the crop.
    assert abs(int(np.argmax(crops[0, 0].max(axis=0))) - CropConfig().n_frames // 2) <= 2


def test_crops_do_not_depend_on_loudness() -> None:
    call = [Call(0.1, 0.105, 44e3, 46e3, 45e3)]
    quiet = call_crops(
        compute_spectrogram(_tone_bursts([(0.1, 0.005, 45_000)], amplitude=0.05), RATE_HZ), call
    )
    # Noise scaled with the call: the same recording made with 16 dB more gain.
    loud = call_crops(
        compute_spectrogram(_tone_bursts([(0.1, 0.005, 45_000)], amplitude=0.05) * 6.3, RATE_HZ), call
    )
    assert np.abs(quiet - loud).max() < 0.02


def test_calls_at_the_edges_of_a_file_give_finite_crops() -> None:
    samples = _tone_bursts([(0.0, 0.004, 45_000), (0.495, 0.004, 45_000)])
    spectrogram = compute_spectrogram(samples, RATE_HZ)
    crops = call_crops(
        spectrogram, [Call(0.0, 0.004, 44e3, 46e3, 45e3), Call(0.495, 0.499, 44e3, 46e3, 45e3)]
    )
    assert np.isfinite(crops).all()
    assert crops.max() > 1.0  # the calls are still there


def test_no_calls_give_empty_arrays() -> None:
    spectrogram = compute_spectrogram(_tone_bursts([]), RATE_HZ)
    assert call_crops(spectrogram, []).shape == (0, 1, 48, 32)
    assert call_context([]).shape == (0, len(CONTEXT_FEATURES))


def _reference_crops(spectrogram, centres_s: np.ndarray, config: CropConfig) -> np.ndarray:
    """Crops by the definition: each call's window of frames (-inf outside the file), adaptive max pooling."""
    values = torch.from_numpy(spectrogram.values_db)
    n_time = values.shape[1]
    per_cell = round(config.window_ms / 1000.0 / config.n_frames / spectrogram.hop_s)
    width = per_cell * config.n_frames
    first = np.round(centres_s / spectrogram.hop_s).astype(np.int64) - width // 2
    index = first[:, None] + np.arange(width)[None, :]
    windows = values[:, torch.from_numpy(np.clip(index, 0, n_time - 1))].permute(1, 0, 2).unsqueeze(1)
    outside = torch.from_numpy((index < 0) | (index >= n_time))
    windows = windows.masked_fill(outside[:, None, None, :], float("-inf"))
    pooled = F.adaptive_max_pool2d(windows, (config.n_freq_bins, config.n_frames))
    return pooled.masked_fill(torch.isinf(pooled), float("nan")).numpy()


@pytest.mark.parametrize("n_calls", [3, 400])
def test_crops_of_few_and_of_many_calls_are_cut_exactly_as_defined(n_calls: int) -> None:
    # A few calls gather their own windows; many calls share one pooled spectrogram. Both must be the crops
    # the model was trained on, pixel for pixel, also for calls at and beyond the ends of the file.
    samples = _tone_bursts([(0.05 * k, 0.004, 30_000 + 8_000 * (k % 10)) for k in range(10)])
    spectrogram = compute_spectrogram(samples, RATE_HZ)
    config = CropConfig()
    centres = np.concatenate([np.linspace(0.0, 0.5, n_calls - 2), [-0.01, 0.6]])
    with torch.inference_mode():
        got = _pooled_windows(spectrogram, centres, config).numpy()
    np.testing.assert_array_equal(got, _reference_crops(spectrogram, centres, config))


def _column(name: str) -> int:
    return CONTEXT_FEATURES.index(name)


def test_context_holds_intervals_to_neighbouring_calls() -> None:
    calls = [Call(0.1 * i, 0.1 * i + 0.005, 40e3, 60e3, 45e3) for i in range(5)]
    context = call_context(calls)
    previous = context[:, _column("log2_interval_previous_ms")] * 8
    following = context[:, _column("log2_interval_next_ms")] * 8
    assert np.allclose(2 ** previous[1:], 100.0, rtol=1e-3)
    assert np.allclose(2 ** following[:-1], 100.0, rtol=1e-3)
    # The first call has no previous neighbour: it reads as far away, not as 0 ms.
    assert 2 ** previous[0] >= 1000.0


def test_context_order_follows_the_events_not_time() -> None:
    calls = [Call(0.1 * i, 0.1 * i + 0.005, 40e3, 60e3, 30e3 + 10e3 * i) for i in range(4)]
    shuffled = [calls[2], calls[0], calls[3], calls[1]]
    assert np.allclose(call_context(shuffled), call_context(calls)[[2, 0, 3, 1]])


def test_similar_neighbours_skip_a_second_bat_of_another_frequency() -> None:
    # A pipistrelle every 100 ms with a noctule call halfway between: all-call intervals halve (50 ms),
    # the interval to the next pipistrelle-like call stays 100 ms (no false feeding buzz).
    pip = [Call(0.1 * i, 0.1 * i + 0.005, 44e3, 60e3, 46e3) for i in range(5)]
    noctule = [Call(0.1 * i + 0.05, 0.1 * i + 0.07, 18e3, 25e3, 19e3) for i in range(4)]
    context = call_context(pip + noctule)
    all_next = 2 ** (context[1, _column("log2_interval_next_ms")] * 8)
    similar_next = 2 ** (context[1, _column("log2_interval_next_similar_ms")] * 8)
    assert abs(all_next - 50.0) < 0.5
    assert abs(similar_next - 100.0) < 0.5


def test_context_measures_duration_bandwidth_and_peak() -> None:
    short_myotis = Call(0.0, 0.003, 30e3, 90e3, 45e3)
    long_noctule = Call(0.5, 0.520, 18e3, 24e3, 19e3)
    context = call_context([short_myotis, long_noctule])
    duration = context[:, _column("log2_duration_ms")]
    bandwidth = context[:, _column("log2_bandwidth_khz")]
    peak = context[:, _column("peak_khz")]
    assert duration[1] > duration[0]
    assert bandwidth[0] > bandwidth[1]
    assert peak[0] > peak[1]


def test_time_shares_are_gaps_to_the_next_call_capped_and_in_input_order() -> None:
    starts = np.array([1.0, 0.0, 0.1, 1.006, 1.012])  # unsorted: two search calls, a gap, a buzz

    shares = call_time_shares(starts, cap_s=0.2)

    # 0.0 -> 0.1: 0.1 s; 0.1 -> 1.0: capped at 0.2 s; buzz calls 6 ms; the last call takes the gap before it.
    assert shares.tolist() == pytest.approx([0.006, 0.1, 0.2, 0.006, 0.006])
    assert call_time_shares(np.array([0.5])).tolist() == [0.2]
    assert call_time_shares(np.array([0.3, 0.3])).tolist() == pytest.approx([0.001, 0.001])  # never zero
