"""Every real recording in ../shared/data/recordings loads with its true rate and duration.

Time expansion comes from the file's GUANO where it has one, else from manifest.csv / labels.csv (the visit's
setting), as the web app does it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ml.audio import load_audio
from ml.metadata import read_metadata

RECORDINGS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "recordings"


def _real_files() -> list[tuple[str, float, int, float | None]]:
    """(path relative to recordings/, time expansion, header rate, header duration or None)."""
    rows: list[tuple[str, float, int, float | None]] = []
    manifest = RECORDINGS / "manifest.csv"
    labels = RECORDINGS / "labelled-europe" / "labels.csv"
    if not manifest.is_file() or not labels.is_file():
        return [("MISSING: ../shared/data/recordings", 1.0, 0, None)]
    for row in csv.DictReader(manifest.open()):
        rows.append(
            (row["path"].removeprefix("recordings/"), float(row["time_expansion"] or 1),
             int(row["header_sample_rate_hz"]), float(row["duration_s"]))
        )  # fmt: skip
    for row in csv.DictReader(labels.open()):
        rows.append((f"labelled-europe/{row['path']}", float(row["time_expansion"] or 1), 0, None))
    return rows


REAL_FILES = _real_files()


def test_the_real_data_holds_every_folder():
    folders = {path.split("/")[0] for path, *_ in REAL_FILES}

    assert folders == {"whombat", "guano", "formats", "time-expanded", "labelled-europe"}
    assert len(REAL_FILES) == 60


@pytest.mark.parametrize(("relative", "time_expansion", "header_rate_hz", "header_duration_s"), REAL_FILES,
                         ids=[r[0] for r in REAL_FILES])  # fmt: skip
def test_real_recording_loads_in_true_time(relative, time_expansion, header_rate_hz, header_duration_s):
    path = RECORDINGS / relative
    assert path.is_file(), f"{path} missing: is ../shared/data beside the repository?"
    meta = read_metadata(path)

    audio = load_audio(path, time_expansion=time_expansion)

    assert audio.time_expansion == time_expansion
    assert audio.true_sample_rate_hz == round(meta.header_sample_rate_hz * time_expansion)
    assert audio.duration_s == pytest.approx(meta.frames / (meta.header_sample_rate_hz * time_expansion))
    if header_rate_hz:
        assert audio.header_sample_rate_hz == header_rate_hz
        assert audio.duration_s == pytest.approx(header_duration_s / time_expansion, abs=0.001)
    assert audio.true_sample_rate_hz >= 100_000
    assert audio.sample_rate_hz == 256_000
    assert audio.samples.size == pytest.approx(audio.duration_s * 256_000, abs=2)
    assert np.isfinite(audio.samples).all() and np.abs(audio.samples).max() > 0


def test_tadarida_files_are_ten_times_time_expanded_to_384_khz():
    tadarida = [r for r in REAL_FILES if r[0].startswith("labelled-europe/tadarida/")]

    assert len(tadarida) == 25
    rates = {load_audio(RECORDINGS / r[0], time_expansion=r[1]).true_sample_rate_hz for r in tadarida[:2]}
    assert rates == {384_000}
