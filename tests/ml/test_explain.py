"""ml.explain: occlusion maps say where the answer comes from; `python -m ml explain` draws one."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ml.audio import load_audio
from ml.explain import Occlusion, OcclusionConfig, occlude, occlusion_map
from ml.features import call_context, call_crops
from ml.infer import analyse_audio, label_mass
from ml.model import predict_arrays
from tests.ml.test_infer import PIP, REPO, tiny_model_file, write_synthetic_file


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from ml.model import load_model

    return load_model(tiny_model_file(tmp_path_factory.getbasetemp() / "ml-tiny-model"))


@pytest.fixture(scope="module")
def pipistrelle(tmp_path_factory) -> Path:
    return write_synthetic_file(
        tmp_path_factory.mktemp("explain") / "pip.wav", (PIP,), seed=7, duration_s=5.0
    )


@pytest.fixture(scope="module")
def explained(tiny_model, pipistrelle):
    audio = load_audio(pipistrelle)
    analysis, spectrogram = analyse_audio(pipistrelle, audio, tiny_model)
    return analysis, spectrogram, occlude(spectrogram, analysis, tiny_model)


def test_occlusion_arrays_have_matching_axes_and_cannot_be_changed(explained):
    analysis, spectrogram, occlusion = explained
    assert isinstance(occlusion, Occlusion)
    assert occlusion.label == analysis.species == PIP
    assert occlusion.band_low_hz.shape == occlusion.band_high_hz.shape == occlusion.band_drop.shape
    assert occlusion.window_start_s.shape == occlusion.window_end_s.shape == occlusion.window_drop.shape
    assert np.all(occlusion.band_high_hz > occlusion.band_low_hz)
    assert occlusion.band_low_hz[0] == spectrogram.config.fmin_hz
    assert occlusion.band_high_hz[-1] == spectrogram.config.fmax_hz
    assert occlusion.window_start_s[0] == 0.0
    assert occlusion.window_end_s[-1] == pytest.approx(analysis.duration_s)
    with pytest.raises(ValueError):
        occlusion.band_drop[0] = 1.0


def test_hiding_the_calls_band_drops_the_score_more_than_hiding_empty_bands(explained):
    analysis, _, occlusion = explained
    bat_calls = [c for c in analysis.calls if c.species != "noise"]
    low = min(c.low_hz for c in bat_calls)
    high = max(c.high_hz for c in bat_calls)
    on_calls = (occlusion.band_high_hz > low) & (occlusion.band_low_hz < high)
    empty = occlusion.band_low_hz >= high + 10_000
    assert empty.any() and on_calls.any()
    assert occlusion.band_drop[on_calls].max() > 0.1
    assert occlusion.band_drop[on_calls].max() > occlusion.band_drop[empty].max() + 0.05


def test_hiding_time_windows_with_calls_drops_the_score_more_than_hiding_silence(explained):
    analysis, _, occlusion = explained
    bat_calls = [c for c in analysis.calls if c.species != "noise"]
    holds_call = np.array([
        any(s < c.end_s and c.start_s < e for c in bat_calls)
        for s, e in zip(occlusion.window_start_s, occlusion.window_end_s)
    ])  # fmt: skip
    far = np.array([
        all(c.end_s < s - 0.05 or c.start_s > e + 0.05 for c in bat_calls)
        for s, e in zip(occlusion.window_start_s, occlusion.window_end_s)
    ])  # fmt: skip
    assert holds_call.any() and far.any()
    assert occlusion.window_drop[holds_call].max() > 0
    assert occlusion.window_drop[holds_call].max() > np.abs(occlusion.window_drop[far]).max()


def test_band_drops_equal_masking_the_whole_spectrogram(explained, tiny_model):
    """The mosaic shortcut gives the same numbers as hiding a band or a time window in the full spectrogram
    and cutting the crops again (every pair computed: no skipping, no sampling of calls)."""
    analysis, spectrogram, _ = explained
    occlusion = occlude(
        spectrogram, analysis, tiny_model, OcclusionConfig(skip_below_db=-np.inf, max_band_calls=10**6)
    )
    support = [c for c in analysis.calls if c.species != "noise"]
    values = np.ascontiguousarray(spectrogram.values_db, dtype=np.float32)
    fill = np.median(values[:, ::8], axis=1).astype(np.float32)

    def score(spec) -> float:
        probs, _ = predict_arrays(
            tiny_model, call_crops(spec, support, tiny_model.crop), call_context(support)
        )
        return float(label_mass(probs, occlusion.label, tiny_model.label_set).mean())

    base = score(spectrogram)
    assert occlusion.score == pytest.approx(base, abs=1e-5)
    for k in (0, int(np.argmax(occlusion.band_drop)), len(occlusion.band_drop) - 1):
        rows = (spectrogram.frequencies_hz >= occlusion.band_low_hz[k]) & (
            spectrogram.frequencies_hz < occlusion.band_high_hz[k]
        )
        masked = values.copy()
        masked[rows] = fill[rows, None]
        expected = base - score(replace(spectrogram, values_db=masked))
        assert occlusion.band_drop[k] == pytest.approx(expected, abs=1e-4)
    w = int(np.argmax(occlusion.window_drop))
    frames = (spectrogram.times_s >= occlusion.window_start_s[w] - 1e-9) & (
        spectrogram.times_s < occlusion.window_end_s[w] - 1e-9
    )
    masked = values.copy()
    masked[:, frames] = fill[:, None]
    expected = base - score(replace(spectrogram, values_db=masked))
    assert occlusion.window_drop[w] > 0
    assert occlusion.window_drop[w] == pytest.approx(expected, abs=1e-4)


def test_occlusion_map_of_a_file_without_calls_is_all_zero(tiny_model, tmp_path):
    import soundfile as sf

    path = tmp_path / "quiet.wav"
    sf.write(path, (np.random.default_rng(0).normal(size=384_000) * 1e-4).astype(np.float32), 384_000)
    occlusion = occlusion_map(path, tiny_model)
    assert occlusion.label == "noise"
    assert not occlusion.band_drop.any() and not occlusion.window_drop.any()


def test_explain_command_writes_a_png(tiny_model, pipistrelle, tmp_path):
    out = tmp_path / "occlusion.png"
    result = subprocess.run(
        [sys.executable, "-m", "ml", "explain", str(pipistrelle), "--model", tiny_model.path, "--out", str(out)],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["species"] == PIP
    low, high = summary["most_important_band_hz"]
    assert 30_000 <= low < high <= 80_000  # the common pipistrelle's band, not an empty one
