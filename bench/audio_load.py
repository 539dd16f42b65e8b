"""Time ml.audio.load_audio (decode + resample to the analysis rate + high-pass) on 5 s synthetic files.

    OMP_NUM_THREADS=1 .venv/bin/python bench/audio_load.py
"""

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from ml.audio import load_audio


def main() -> None:
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "five_seconds.wav"
        for rate_hz in (384_000, 312_500, 500_000):
            sf.write(path, (0.1 * rng.standard_normal(5 * rate_hz)).astype(np.float32), rate_hz, subtype="PCM_16")
            load_audio(path)  # warm caches (filters are memoised per rate)
            times = []
            for _ in range(15):
                started = time.perf_counter()
                load_audio(path)
                times.append(time.perf_counter() - started)
            print(f"{rate_hz} Hz, 5 s PCM_16: median {statistics.median(times) * 1000:.1f} ms, "
                  f"min {min(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
