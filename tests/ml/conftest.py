"""Fixtures for the ml tests: tiny synthetic WAV files written on demand.

`wav_factory(name="test.wav", **options) -> Path` writes one WAV into the test's tmp_path:

    kind: "tone" (default) | "chirp" | "silence" | "noise" | "pulses"
        tone: a sine at frequency_hz; chirp: linear sweep frequency_hz -> end_frequency_hz;
        noise: white noise (seeded); pulses: 3 ms tone bursts at frequency_hz every pulse_interval_s
    duration_s: float = 0.1              header duration (true duration is duration_s / time_expansion)
    sample_rate_hz: int = 384_000        the rate written into the header
    frequency_hz: float = 40_000.0       in header time: a 4.5 kHz tone in a x10 file is a 45 kHz call
    end_frequency_hz: float | None = None   chirp end (default frequency_hz / 2)
    amplitude: float = 0.5
    pulse_interval_s: float = 0.05
    subtype: str = "PCM_16"              soundfile WAV subtype: PCM_U8, PCM_16, PCM_24, PCM_32, FLOAT, DOUBLE
    channels: int = 1                    extra channels carry the same signal at half the frequency (so a test
                                         can tell channels apart), unless `samples` is given
    extensible: bool = False             write WAVE_FORMAT_EXTENSIBLE (soundfile format "WAVEX")
    guano: Mapping[str, object] | None   GUANO fields appended as a `guan` chunk (GUANO|Version added first);
                                         written by a small independent writer, not by ml.metadata
    samples: np.ndarray | None           write these samples instead: (n,) or (n, channels), float in [-1, 1]
    seed: int = 0

Example: `wav_factory("te.wav", sample_rate_hz=38_400, frequency_hz=4_500, guano={"TE": 10})`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def _signal(
    kind: str,
    n: int,
    rate_hz: int,
    frequency_hz: float,
    end_frequency_hz: float | None,
    amplitude: float,
    pulse_interval_s: float,
    rng: np.random.Generator,
) -> np.ndarray:
    t = np.arange(n) / rate_hz
    if kind == "tone":
        return amplitude * np.sin(2 * np.pi * frequency_hz * t)
    if kind == "chirp":
        f1 = end_frequency_hz if end_frequency_hz is not None else frequency_hz / 2
        duration = max(n / rate_hz, 1e-9)
        phase = 2 * np.pi * (frequency_hz * t + (f1 - frequency_hz) * t**2 / (2 * duration))
        return amplitude * np.sin(phase)
    if kind == "silence":
        return np.zeros(n)
    if kind == "noise":
        return amplitude * rng.uniform(-1, 1, n)
    if kind == "pulses":
        tone = amplitude * np.sin(2 * np.pi * frequency_hz * t)
        gate = (t % pulse_interval_s) < 0.003
        return tone * gate
    raise ValueError(f"unknown kind {kind!r}")


def append_guano_chunk(path: Path, fields: Mapping[str, object]) -> None:
    """Append a `guan` chunk and fix the RIFF size: the minimal writer the GUANO spec describes."""
    lines = ["GUANO|Version: 1.0"]
    for key, value in fields.items():
        if key == "GUANO|Version":
            continue
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        lines.append(f"{key}: {text}")
    payload = "\n".join(lines).encode("utf-8")
    if len(payload) % 2:
        payload += b"\n"
    with open(path, "r+b") as f:
        f.seek(0, 2)
        f.write(b"guan" + struct.pack("<I", len(payload)) + payload)
        size = f.tell()
        f.seek(4)
        f.write(struct.pack("<I", size - 8))


WavFactory = Callable[..., Path]


@pytest.fixture
def wav_factory(tmp_path: Path) -> WavFactory:
    def make(
        name: str = "test.wav",
        *,
        kind: str = "tone",
        duration_s: float = 0.1,
        sample_rate_hz: int = 384_000,
        frequency_hz: float = 40_000.0,
        end_frequency_hz: float | None = None,
        amplitude: float = 0.5,
        pulse_interval_s: float = 0.05,
        subtype: str = "PCM_16",
        channels: int = 1,
        extensible: bool = False,
        guano: Mapping[str, object] | None = None,
        samples: np.ndarray | None = None,
        seed: int = 0,
    ) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if samples is None:
            rng = np.random.default_rng(seed)
            n = int(round(duration_s * sample_rate_hz))
            columns = [
                _signal(kind, n, sample_rate_hz, frequency_hz / (2**c), end_frequency_hz, amplitude,
                        pulse_interval_s, rng)
                for c in range(channels)
            ]  # fmt: skip
            data = np.stack(columns, axis=1) if channels > 1 else columns[0]
        else:
            data = samples
        sf.write(str(path), data, sample_rate_hz, subtype=subtype, format="WAVEX" if extensible else "WAV")
        if guano is not None:
            append_guano_chunk(path, guano)
        return path

    return make
