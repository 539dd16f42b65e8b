"""`analyse` succeeds on every real recording in ../shared/data/recordings, with the time expansion a visit
would give it (manifest.csv, labelled-europe/labels.csv), and returns a consistent answer.

The model is the tiny synthetic one of test_infer (three classes), so the answers are not scored here;
what is checked is that real files of every kind (time-expanded, 24-bit extensible, 32-bit float, 0.035 s
single calls, 15 s files, a file without bats, 144-960 kHz) go through the whole pipeline.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import soundfile as sf

from ml.infer import analyse
from ml.labels import BAT, GROUPS, NOISE
from tests.ml.test_infer import tiny_model_file

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RECORDINGS = SHARED_DATA / "recordings"


def _real_files() -> list[tuple[Path, float, float | None]]:
    """(path, time expansion, duration_s or None) of every real recording."""
    files: list[tuple[Path, float, float | None]] = []
    with open(RECORDINGS / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            files.append(
                (SHARED_DATA / row["path"], float(row["time_expansion"] or 1), float(row["duration_s"]))
            )
    europe = RECORDINGS / "labelled-europe"
    with open(europe / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            files.append((europe / row["path"], float(row["time_expansion"] or 1), None))
    return files


REAL_FILES = _real_files()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from ml.model import load_model

    return load_model(tiny_model_file(tmp_path_factory.getbasetemp() / "ml-tiny-model"))


def test_every_real_recording_is_listed():
    assert len(REAL_FILES) >= 50
    assert all(path.is_file() for path, _, _ in REAL_FILES)


@pytest.mark.slow
@pytest.mark.parametrize(
    "path, time_expansion, duration_s", REAL_FILES, ids=[p.name[:40] for p, _, _ in REAL_FILES]
)
def test_analyse_succeeds_on_real_recording(tiny_model, path, time_expansion, duration_s):
    analysis = analyse(path, tiny_model, time_expansion=time_expansion)
    assert analysis.time_expansion == time_expansion
    info = sf.info(str(path))
    assert analysis.duration_s == pytest.approx(info.frames / (info.samplerate * time_expansion), rel=1e-6)
    assert analysis.sample_rate_hz == round(info.samplerate * time_expansion)
    if duration_s is not None:  # manifest.csv gives the header (played-back) duration
        assert analysis.duration_s * time_expansion == pytest.approx(duration_s, abs=2e-3)
    answers = set(tiny_model.label_set) | set(GROUPS) | {BAT, NOISE}
    assert analysis.species in answers
    assert analysis.species_present[0] == analysis.species
    assert set(analysis.species_present) <= answers
    assert analysis.call_type == analysis.call_types[0]
    assert (analysis.species == NOISE) == (analysis.call_type == "none")
    assert 0.0 <= analysis.confidence <= 1.0
    assert sum(p for _, p in analysis.top) == pytest.approx(1.0, abs=1e-3)
    for call in analysis.calls:
        assert 0.0 <= call.start_s <= call.end_s <= analysis.duration_s + 1e-3
        assert call.low_hz <= call.high_hz
    for p in analysis.passes:
        assert p.n_calls >= 2
