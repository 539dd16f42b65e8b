"""The synthetic night of the night benchmarks (bench/night_throughput.py, bench/night_2000.py).

A Dutch summer night at a canal: files named as a detector names them, with time stamps spread over the night
from 21:30 on 12 June 2025; main classes drawn from NIGHT_MIX (common pipistrelle first, 15 % noise only);
HARD_SHARE of the files at ml.synth's hard difficulty. Everything follows from the seed and the file count, so
a folder left by an earlier run is reused when its manifest describes the same night.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE_HZ = 384_000
NIGHT_START_S = 21 * 3600 + 30 * 60  # 21:30 site time on the visit's night (12 June 2025)
NIGHT_LENGTH_S = 8 * 3600
NOISE = "noise"
NIGHT_MIX: dict[str, float] = {  # share of files per main class: a canal in June, common pipistrelle first
    "Pipistrellus pipistrellus": 0.45,
    "Pipistrellus pygmaeus": 0.07,
    "Pipistrellus nathusii/kuhlii": 0.05,
    "Nyctalus noctula": 0.08,
    "Eptesicus serotinus": 0.05,
    "Myotis daubentonii": 0.10,
    "Myotis mystacinus/brandtii": 0.03,
    "Plecotus auritus/austriacus": 0.02,
    NOISE: 0.15,
}
HARD_SHARE = 0.3


@dataclass(frozen=True)
class NightFile:
    path: Path  # its name is the detector-style name it is uploaded under
    species: str  # main class of the file (`noise`: no bat)
    sha256: str = ""  # of the file's content, where make_night was asked to hash

    @property
    def name(self) -> str:
        return self.path.name


def file_name(index: int, count: int) -> str:
    """A detector-style name with the time stamp spread over the night (unique per index)."""
    seconds = NIGHT_START_S + int(index * NIGHT_LENGTH_S / max(count, 1))
    day = 12 + seconds // 86_400
    seconds %= 86_400
    return f"KR01_202506{day:02d}_{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}.wav"


def draw_labels(count: int, seed: int) -> list[str]:
    """The main class of each of `count` files, drawn from NIGHT_MIX."""
    import numpy as np

    rng = np.random.default_rng([seed, count])
    names = list(NIGHT_MIX)
    weights = np.array([NIGHT_MIX[n] for n in names])
    return [names[k] for k in rng.choice(len(names), size=count, p=weights / weights.sum())]


def _synthesise_one(job: tuple[int, str, int, str, float]) -> None:
    """Worker of the process pool: one file of the night (deterministic from seed and index)."""
    index, label, seed, path, duration_s = job
    import numpy as np
    import soundfile as sf

    from ml.labels import DEFAULT_LABEL_SET
    from ml.synth import EASY, HARD, SynthConfig, random_recording_spec, synthesise_recording

    rng = np.random.default_rng([seed, index])
    difficulty = HARD if rng.random() < HARD_SHARE else EASY
    config = SynthConfig(
        sample_rates_hz=(SAMPLE_RATE_HZ,), sample_rate_weights=(1.0,), duration_s=(duration_s, duration_s)
    )
    spec = random_recording_spec(label, rng, difficulty, config, DEFAULT_LABEL_SET)
    samples, rate_hz, _events = synthesise_recording(spec, rng)
    sf.write(path, samples, rate_hz, subtype="PCM_16")


def make_night(
    folder: Path,
    count: int,
    seed: int,
    *,
    duration_s: float,
    manifest: Path,
    describe: dict | None = None,
    hashed: bool = False,
    chunksize: int = 8,
) -> list[NightFile]:
    """`count` files of `duration_s` in `folder` (two processes), reused when `manifest` says a previous run
    left the same night there: the same seed, count, names, classes and `describe` items.

    hashed=False: the manifest is that description; reused when every file is there (other files in the
    folder are left alone). hashed=True: the folder holds this night only (it is emptied before synthesis and
    reused only when it holds exactly these files), and the manifest keeps each file's sha256 beside the
    description ({"night": ..., "sha256": [...]}), which the returned files carry.
    """
    folder.mkdir(parents=True, exist_ok=True)
    labels = draw_labels(count, seed)
    paths = [folder / file_name(i, count) for i in range(count)]
    wanted = {"seed": seed, "count": count, **(describe or {}),
              "files": [[p.name, label] for p, label in zip(paths, labels, strict=True)]}  # fmt: skip
    stored = json.loads(manifest.read_text()) if manifest.is_file() else None
    if hashed:
        reuse = (
            isinstance(stored, dict)
            and stored.get("night") == wanted
            and all(p.is_file() for p in paths)
            and len(list(folder.iterdir())) == count
        )
    else:
        reuse = stored == wanted and all(p.is_file() for p in paths)
    if reuse:
        hashes = stored["sha256"] if hashed else [""] * count
        print(f"night: reusing {count} files in {folder}")
    else:
        if hashed:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        started = time.monotonic()
        jobs = [(i, label, seed, str(paths[i]), duration_s) for i, label in enumerate(labels)]
        with ProcessPoolExecutor(max_workers=2) as pool:
            list(pool.map(_synthesise_one, jobs, chunksize=chunksize))
        if hashed:
            from batsite.client import sha256_of  # what the API client sends the server for each file

            hashes = [sha256_of(p) for p in paths]
            manifest.write_text(json.dumps({"night": wanted, "sha256": hashes}))
        else:
            hashes = [""] * count
            manifest.write_text(json.dumps(wanted))
        print(f"night: {count} files synthesised in {time.monotonic() - started:.0f} s into {folder}")
    return [NightFile(p, label, h) for p, label, h in zip(paths, labels, hashes, strict=True)]
