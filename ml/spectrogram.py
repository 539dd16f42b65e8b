"""Spectrogram of the bat band: the second step of the pipeline, after ml.audio.

`compute_spectrogram` turns mono samples (normally the 256 kHz, high-passed output of
`ml.audio.load_audio`) into a log-magnitude short-time Fourier transform cropped to the band where
European bats call (10-125 kHz by default). The call detector (ml.detect) and the classifier crops of
part 2 both read this one representation, so they see the same pixels.

The transform is torchaudio's (functional.spectrogram); the Hann window is built once per window length
and reused, so a night of files pays for it once.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torchaudio


@dataclass(frozen=True)
class SpectrogramConfig:
    """How samples become a spectrogram. Times in ms, frequencies in Hz."""

    # 1 ms at 256 kHz is 256 samples: 1 kHz bins, short enough to keep a 2 ms Myotis sweep in several
    # frames and long enough to resolve a 20 kHz noctule QCF call.
    window_ms: float = 1.0
    # 0.25 ms hop (75 % overlap): start and end of calls to a quarter of a millisecond.
    hop_ms: float = 0.25
    fmin_hz: float = 10_000.0
    fmax_hz: float = 125_000.0
    # Added to the magnitude before the logarithm so silence (digital zero) gives a finite floor.
    floor_amplitude: float = 1e-7

    def __post_init__(self) -> None:
        if self.window_ms <= 0 or self.hop_ms <= 0:
            raise ValueError("window_ms and hop_ms must be positive")
        if not 0 <= self.fmin_hz < self.fmax_hz:
            raise ValueError("need 0 <= fmin_hz < fmax_hz")

    def window_samples(self, sample_rate_hz: int) -> int:
        return max(2, int(round(self.window_ms * sample_rate_hz / 1000.0)))

    def hop_samples(self, sample_rate_hz: int) -> int:
        return max(1, int(round(self.hop_ms * sample_rate_hz / 1000.0)))


@dataclass(frozen=True)
class Spectrogram:
    """Log-magnitude spectrogram of one recording, cropped to the configured band."""

    values_db: np.ndarray  # (freq, time) float32, 20 log10 |STFT| (amplitude dB, full scale = 0 dB)
    frequencies_hz: np.ndarray  # (freq,) bin centre frequencies, ascending
    times_s: np.ndarray  # (time,) frame centre times from the start of the samples
    sample_rate_hz: int
    config: SpectrogramConfig

    @property
    def hop_s(self) -> float:
        return self.config.hop_samples(self.sample_rate_hz) / self.sample_rate_hz

    @property
    def bin_hz(self) -> float:
        return self.sample_rate_hz / self.config.window_samples(self.sample_rate_hz)

    @property
    def shape(self) -> tuple[int, int]:
        return self.values_db.shape  # type: ignore[return-value]


@functools.lru_cache(maxsize=16)
def _window(n_fft: int) -> torch.Tensor:
    # Periodic Hann, scaled so a full-scale sine reads about 0 dB whatever the window length.
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float32)
    return window / (window.sum() / 2.0)


def frequency_bins(config: SpectrogramConfig, sample_rate_hz: int) -> tuple[int, int]:
    """First and one-past-last STFT bin inside [fmin_hz, fmax_hz] at this rate."""
    n_fft = config.window_samples(sample_rate_hz)
    bin_hz = sample_rate_hz / n_fft
    n_bins = n_fft // 2 + 1
    lo = max(0, int(math.ceil(config.fmin_hz / bin_hz - 1e-9)))
    hi = min(n_bins, int(math.floor(config.fmax_hz / bin_hz + 1e-9)) + 1)
    return lo, max(lo, hi)


def compute_spectrogram(
    samples: np.ndarray, sample_rate_hz: int, config: SpectrogramConfig = SpectrogramConfig()
) -> Spectrogram:
    """Log-magnitude spectrogram (freq, time) of mono `samples` in the band of `config`."""
    samples = np.asarray(samples)
    if samples.ndim != 1:
        raise ValueError(f"expected mono samples of shape (n,), got {samples.shape}")
    n_fft = config.window_samples(sample_rate_hz)
    hop = config.hop_samples(sample_rate_hz)
    lo, hi = frequency_bins(config, sample_rate_hz)
    wave = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if wave.numel() <= n_fft // 2:
        # Reflect padding needs more samples than half a window; zero-pad very short clips instead.
        wave = torch.nn.functional.pad(wave, (0, n_fft // 2 + 1 - wave.numel()))
    with torch.inference_mode():
        # Complex STFT, centred frames (frame t is centred on sample t * hop, reflect-padded at the ends);
        # the magnitude and logarithm are taken of the band rows only.
        stft = torchaudio.functional.spectrogram(
            wave,
            pad=0,
            window=_window(n_fft),
            n_fft=n_fft,
            hop_length=hop,
            win_length=n_fft,
            power=None,
            normalized=False,
            center=True,
            pad_mode="reflect",
            onesided=True,
        )  # (freq, time) complex, a view of frames stored one after the other
    # Magnitude and logarithm of the band rows in the frames' own memory order, then one copy to (freq, time):
    # numpy's complex abs is several times faster than torch's, and a strided pass over a 5 s file costs more
    # than the transform.
    magnitude = np.abs(stft.numpy().T[:, lo:hi])  # (time, freq) float32
    magnitude += np.float32(config.floor_amplitude)
    values_db = np.log10(magnitude, out=magnitude)
    values_db *= np.float32(20.0)
    n_frames = values_db.shape[0]
    frequencies_hz = np.arange(lo, hi, dtype=np.float64) * (sample_rate_hz / n_fft)
    times_s = np.arange(n_frames, dtype=np.float64) * (hop / sample_rate_hz)
    return Spectrogram(
        # C order: frequency rows contiguous, so crops and plots slice without copying the whole array.
        values_db=np.ascontiguousarray(values_db.T, dtype=np.float32),
        frequencies_hz=frequencies_hz,
        times_s=times_s,
        sample_rate_hz=int(sample_rate_hz),
        config=config,
    )
