"""ml.spectrogram: axes in Hz and seconds, the bat band, levels in dB."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ml.spectrogram import Spectrogram, SpectrogramConfig, compute_spectrogram

RATE_HZ = 256_000


def tone(
    frequency_hz: float, duration_s: float, rate_hz: int = RATE_HZ, amplitude: float = 0.5
) -> np.ndarray:
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


def test_axes_are_in_hz_and_seconds_and_cover_the_european_bat_band() -> None:
    spec = compute_spectrogram(tone(40_000, 0.5), RATE_HZ)
    config = SpectrogramConfig()

    assert spec.values_db.shape == (len(spec.frequencies_hz), len(spec.times_s))
    assert spec.values_db.dtype == np.float32
    assert config.fmin_hz <= spec.frequencies_hz[0] < config.fmin_hz + spec.bin_hz
    assert config.fmax_hz - spec.bin_hz < spec.frequencies_hz[-1] <= config.fmax_hz
    assert np.allclose(np.diff(spec.frequencies_hz), RATE_HZ / config.window_samples(RATE_HZ))
    assert np.allclose(np.diff(spec.times_s), config.hop_ms / 1000)
    assert spec.times_s[0] == 0.0
    assert spec.times_s[-1] == pytest.approx(0.5, abs=config.hop_ms / 1000)


def test_tone_is_loudest_at_its_own_frequency() -> None:
    spec = compute_spectrogram(tone(45_000, 0.2), RATE_HZ)
    loudest_hz = spec.frequencies_hz[np.argmax(spec.values_db.mean(axis=1))]
    assert loudest_hz == pytest.approx(45_000, abs=spec.bin_hz)


def test_tone_burst_shows_at_its_time() -> None:
    samples = np.zeros(int(0.2 * RATE_HZ), dtype=np.float32)
    burst = tone(60_000, 0.005)
    start = int(0.120 * RATE_HZ)
    samples[start : start + len(burst)] = burst
    spec = compute_spectrogram(samples, RATE_HZ)
    row = np.argmin(np.abs(spec.frequencies_hz - 60_000))
    loud_times = spec.times_s[spec.values_db[row] > spec.values_db[row].max() - 6]
    assert loud_times.min() == pytest.approx(0.120, abs=0.001)
    assert loud_times.max() == pytest.approx(0.125, abs=0.001)


def test_level_is_in_decibels_of_amplitude() -> None:
    loud = compute_spectrogram(tone(40_000, 0.1, amplitude=0.5), RATE_HZ).values_db.max()
    quiet = compute_spectrogram(tone(40_000, 0.1, amplitude=0.05), RATE_HZ).values_db.max()
    assert loud - quiet == pytest.approx(20.0, abs=0.1)
    assert loud == pytest.approx(20 * np.log10(0.5), abs=1.5)  # a sine reads its amplitude in dB full scale


def test_silence_gives_a_finite_floor() -> None:
    spec = compute_spectrogram(np.zeros(RATE_HZ // 10, dtype=np.float32), RATE_HZ)
    assert np.isfinite(spec.values_db).all()
    assert spec.values_db.max() < -100


def test_band_above_nyquist_is_not_invented_at_lower_rates() -> None:
    rate_hz = 200_000
    spec = compute_spectrogram(tone(40_000, 0.05, rate_hz), rate_hz)
    assert spec.frequencies_hz[-1] <= rate_hz / 2
    assert spec.sample_rate_hz == rate_hz


def test_other_windows_change_resolution_not_units() -> None:
    config = SpectrogramConfig(window_ms=2.0, hop_ms=0.5, fmin_hz=20_000, fmax_hz=100_000)
    spec = compute_spectrogram(tone(50_000, 0.1), RATE_HZ, config)
    assert spec.bin_hz == pytest.approx(500.0)
    assert spec.hop_s == pytest.approx(0.0005)
    assert spec.frequencies_hz[0] >= 20_000 and spec.frequencies_hz[-1] <= 100_000
    assert spec.frequencies_hz[np.argmax(spec.values_db.mean(axis=1))] == pytest.approx(50_000, abs=500)


def test_clip_shorter_than_one_window_still_gives_a_spectrogram() -> None:
    spec = compute_spectrogram(tone(40_000, 0.0002), RATE_HZ)
    assert spec.values_db.shape[1] >= 1
    assert np.isfinite(spec.values_db).all()


def test_stereo_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="mono"):
        compute_spectrogram(np.zeros((2, 1000), dtype=np.float32), RATE_HZ)


@pytest.mark.parametrize(
    "changes", [{"window_ms": 0}, {"hop_ms": -1}, {"fmin_hz": 50_000, "fmax_hz": 20_000}]
)
def test_config_refuses_impossible_values(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SpectrogramConfig(**changes)


def test_config_and_result_are_frozen() -> None:
    spec = compute_spectrogram(tone(40_000, 0.01), RATE_HZ)
    assert isinstance(spec, Spectrogram)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.values_db = np.zeros(1)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        SpectrogramConfig().window_ms = 2  # type: ignore[misc]
