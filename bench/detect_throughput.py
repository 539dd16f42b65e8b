"""Throughput of the call detector on one thread (issue 3 speed target): run by hand, not as a test.

    .venv/bin/python bench/detect_throughput.py [--repeats 20] [--seconds 5] [--rate 384000]

Writes a synthetic 5 s, 384 kHz, 16-bit WAV (pipistrelle-like calls every 90 ms on background noise) to a
temporary folder, then times, as the median of the repeats:
  pipeline = decode + resample to 256 kHz + high-pass (ml.audio.load_audio) + spectrogram + detection
  floor    = decode (soundfile) + spectrogram of the decoded samples at their own rate
and each stage alone, so the cost of resampling and detection shows beside the unavoidable part.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ml.audio import load_audio  # noqa: E402
from ml.detect import detect_calls  # noqa: E402
from ml.spectrogram import compute_spectrogram  # noqa: E402


def synthetic_recording(path: Path, seconds: float, rate_hz: int, seed: int = 0) -> int:
    """Hockey-stick FM-QCF calls (60 -> 45 kHz, 6 ms) every 90 ms in white noise; returns the call count."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate_hz)
    samples = rng.normal(0.0, 0.003, n)
    call_n = int(0.006 * rate_hz)
    t = np.arange(call_n) / rate_hz
    frequency = 45_000 + 15_000 * np.exp(-t / 0.0012)
    call = np.sin(2 * np.pi * np.cumsum(frequency) / rate_hz) * np.hanning(call_n)
    starts = np.arange(0.05, seconds - 0.01, 0.09)
    for start in starts:
        i = int(start * rate_hz)
        samples[i : i + call_n] += rng.uniform(0.05, 0.4) * call[: n - i]
    sf.write(path, np.clip(samples, -1, 1).astype(np.float32), rate_hz, subtype="PCM_16")
    return len(starts)


def median_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and CPU (process) time in ms. On a shared machine the CPU time is the fairer
    number: it does not count the time other processes held the core."""
    fn()  # warm caches (resampling filter, window) as a worker would have after its first file
    wall, cpu = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return 1000.0 * statistics.median(wall), 1000.0 * statistics.median(cpu)


def show(ms: tuple[float, float]) -> str:
    return f"{ms[0]:6.1f} ms wall / {ms[1]:6.1f} ms CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=int, default=384_000, help="sample rate of the synthetic file (Hz)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "synthetic.wav"
        n_calls = synthetic_recording(path, args.seconds, args.rate)
        audio = load_audio(path)
        spectrogram = compute_spectrogram(audio.samples, audio.sample_rate_hz)
        raw, raw_rate = sf.read(path, dtype="float32")
        found = len(detect_calls(audio, spectrogram=spectrogram))

        decode = median_ms(lambda: sf.read(path, dtype="float32"), args.repeats)
        load = median_ms(lambda: load_audio(path), args.repeats)
        spec = median_ms(lambda: compute_spectrogram(audio.samples, audio.sample_rate_hz), args.repeats)
        spec_raw = median_ms(lambda: compute_spectrogram(raw, raw_rate), args.repeats)
        detect = median_ms(lambda: detect_calls(audio, spectrogram=spectrogram), args.repeats)

        def pipeline() -> None:
            loaded = load_audio(path)
            detect_calls(loaded, spectrogram=compute_spectrogram(loaded.samples, loaded.sample_rate_hz))

        def floor() -> None:
            samples, rate = sf.read(path, dtype="float32")
            compute_spectrogram(samples, rate)

        total = median_ms(pipeline, args.repeats)
        floor_ms = median_ms(floor, args.repeats)

    print(f"{args.seconds:g} s at {args.rate} Hz, one thread (torch threads {torch.get_num_threads()}), "
          f"median of {args.repeats}; {found} calls detected of {n_calls} synthesised; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  pipeline (decode + resample + high-pass + spectrogram + detect): {show(total)} "
          f"({args.seconds * 1000 / total[1]:.0f}x real time on CPU time)")
    print(f"  floor    (decode + spectrogram at the file's rate):             {show(floor_ms)}")
    print(f"  decode (soundfile)                              {show(decode)}")
    print(f"  load_audio (decode + resample + high-pass)      {show(load)}")
    print(f"  spectrogram at 256 kHz                          {show(spec)}")
    print(f"  spectrogram at {raw_rate} Hz                      {show(spec_raw)}")
    print(f"  detection on a ready spectrogram                {show(detect)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
