"""The CNN and its self-describing checkpoint (ml.model)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.audio import Audio
from ml.baseline import fit_baseline
from ml.detect import DetectConfig
from ml.features import CONTEXT_FEATURES, CropConfig
from ml.labels import CALL_TYPES, DEFAULT_LABEL_SET
from ml.model import CallClassifier, ModelConfig, classify_calls, load_model, predict_calls, save_checkpoint
from ml.novelty import fit_novelty
from ml.spectrogram import SpectrogramConfig

RATE_HZ = 256_000


@pytest.fixture(autouse=True)
def _one_torch_thread() -> object:
    # Two OpenMP threads on a busy two-core machine spin against each other and run many times slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@dataclass(frozen=True)
class Call:
    start_s: float
    end_s: float
    low_hz: float
    high_hz: float
    peak_hz: float


def _module(seed: int = 0) -> CallClassifier:
    torch.manual_seed(seed)
    module = CallClassifier(ModelConfig(n_species=len(DEFAULT_LABEL_SET), n_call_types=len(CALL_TYPES)))
    # Move BatchNorm statistics off their defaults so a checkpoint that lost them would show.
    module.train()
    with torch.no_grad():
        module(torch.randn(64, 1, 48, 32) * 2 + 0.5, torch.randn(64, len(CONTEXT_FEATURES)))
    return module.eval()


def _save(path: Path, module: CallClassifier, **overrides: object) -> Path:
    rng = np.random.default_rng(0)
    context = rng.normal(size=(60, len(CONTEXT_FEATURES)))
    baseline = fit_baseline(
        context,
        rng.integers(0, 16, 60),
        rng.integers(0, 4, 60),
        n_species=len(DEFAULT_LABEL_SET),
        n_call_types=len(CALL_TYPES),
    )
    arguments: dict[str, object] = dict(
        module=module,
        label_set=DEFAULT_LABEL_SET,
        call_types=CALL_TYPES,
        temperature_species=1.7,
        temperature_call_type=1.2,
        spectrogram=SpectrogramConfig(),
        crop=CropConfig(),
        detect=DetectConfig(),
        metrics={"test": {"call": {"macro_f1_species": 0.5}}},
        manifest={
            "files": [{"path": "a.wav", "sha256": "ab" * 32, "licence": "CC0-1.0"}],
            "sha256": "cd" * 32,
        },
        baseline=baseline,
        version="test-1",
    )
    arguments.update(overrides)
    save_checkpoint(path, **arguments)  # type: ignore[arg-type]
    return path


def _audio(bursts: list[tuple[float, float]], duration_s: float = 0.5) -> Audio:
    rng = np.random.default_rng(1)
    samples = rng.normal(0, 1e-4, int(duration_s * RATE_HZ))
    for start_s, frequency_hz in bursts:
        n = int(0.005 * RATE_HZ)
        i0 = int(start_s * RATE_HZ)
        samples[i0 : i0 + n] += (
            0.3 * np.hanning(n) * np.sin(2 * np.pi * frequency_hz * np.arange(n) / RATE_HZ)
        )
    return Audio(
        samples=samples.astype(np.float32), sample_rate_hz=RATE_HZ, true_sample_rate_hz=RATE_HZ,
        header_sample_rate_hz=RATE_HZ, time_expansion=1.0, duration_s=duration_s, channels=1, subtype="FLOAT",
    )  # fmt: skip


def test_the_network_gives_logits_for_both_heads() -> None:
    module = _module()
    species, call_type = module(torch.zeros(5, 1, 48, 32), torch.zeros(5, len(CONTEXT_FEATURES)))
    assert species.shape == (5, len(DEFAULT_LABEL_SET))
    assert call_type.shape == (5, len(CALL_TYPES))


def test_checkpoint_rebuilds_the_model_from_the_file_alone(tmp_path: Path) -> None:
    module = _module()
    path = _save(tmp_path / "model.pt", module)
    del module  # nothing but the file is left

    model = load_model(path)

    crops, context = torch.randn(7, 1, 48, 32), torch.randn(7, len(CONTEXT_FEATURES))
    with torch.inference_mode():
        expected = _module()(crops, context)
        got = model.module(crops, context)
    assert torch.allclose(expected[0], got[0], atol=1e-6) and torch.allclose(expected[1], got[1], atol=1e-6)
    assert model.label_set == DEFAULT_LABEL_SET and model.call_types == CALL_TYPES
    assert (model.temperature_species, model.temperature_call_type) == (1.7, 1.2)
    assert (
        model.spectrogram == SpectrogramConfig()
        and model.crop == CropConfig()
        and model.detect == DetectConfig()
    )
    assert model.metrics["test"]["call"]["macro_f1_species"] == 0.5
    assert model.manifest["files"][0]["licence"] == "CC0-1.0"
    assert model.version == "test-1"
    assert len(model.sha256) == 64
    assert model.baseline is not None
    assert model.baseline.predict_proba(context.numpy())[0].shape == (7, len(DEFAULT_LABEL_SET))


def test_checkpoint_loads_with_weights_only(tmp_path: Path) -> None:
    # Plain types and tensors only: safe to load without unpickling arbitrary objects.
    path = _save(tmp_path / "model.pt", _module())
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["label_set"] == list(DEFAULT_LABEL_SET)
    assert "state_dict" in checkpoint and "manifest" in checkpoint


def test_non_default_configs_travel_with_the_checkpoint(tmp_path: Path) -> None:
    crop = CropConfig(n_freq_bins=40, n_frames=24, window_ms=24.0)
    module = CallClassifier(
        ModelConfig(n_species=3, n_call_types=4, n_freq_bins=40, n_frames=24, channels=(4, 8, 8))
    )
    detect = dataclasses.replace(DetectConfig(), threshold_db=DetectConfig().threshold_db + 3)
    path = _save(
        tmp_path / "m.pt",
        module.eval(),
        crop=crop,
        detect=detect,
        label_set=("a", "b", "noise"),
        baseline=None,
    )
    model = load_model(path)
    assert model.crop == crop and model.detect == detect
    assert model.module.config.channels == (4, 8, 8)
    assert model.baseline is None


def test_load_model_is_cached_until_the_file_changes(tmp_path: Path) -> None:
    path = _save(tmp_path / "model.pt", _module())
    first = load_model(path)
    assert load_model(path) is first
    _save(path, _module(seed=1), version="test-2")
    second = load_model(path)
    assert second is not first and second.version == "test-2"


def test_classify_calls_gives_calibrated_probabilities_per_call(tmp_path: Path) -> None:
    model = load_model(_save(tmp_path / "model.pt", _module()))
    calls = [Call(0.1, 0.105, 40e3, 50e3, 45e3), Call(0.3, 0.305, 95e3, 105e3, 100e3)]
    species, call_type, _ = classify_calls(model, _audio([(0.1, 45_000), (0.3, 100_000)]), calls)
    assert species.shape == (2, len(DEFAULT_LABEL_SET)) and call_type.shape == (2, len(CALL_TYPES))
    assert np.allclose(species.sum(axis=1), 1.0, atol=1e-5) and np.allclose(
        call_type.sum(axis=1), 1.0, atol=1e-5
    )
    # Different calls, different answers: the crops and context reach the network.
    assert not np.allclose(species[0], species[1])


def test_temperature_changes_confidence_not_the_ranking(tmp_path: Path) -> None:
    module = _module()
    cool = load_model(_save(tmp_path / "cool.pt", module, temperature_species=1.0))
    warm = load_model(_save(tmp_path / "warm.pt", module, temperature_species=3.0))
    audio = _audio([(0.1, 45_000)])
    calls = [Call(0.1, 0.105, 40e3, 50e3, 45e3)]
    p_cool, _, _ = classify_calls(cool, audio, calls)
    p_warm, _, _ = classify_calls(warm, audio, calls)
    assert np.argsort(p_cool[0]).tolist() == np.argsort(p_warm[0]).tolist()
    assert p_warm.max() < p_cool.max()


def test_classify_calls_without_calls_gives_empty_arrays(tmp_path: Path) -> None:
    model = load_model(_save(tmp_path / "model.pt", _module()))
    species, call_type, _ = classify_calls(model, _audio([]), [])
    assert species.shape == (0, len(DEFAULT_LABEL_SET)) and call_type.shape == (0, len(CALL_TYPES))


def test_a_checkpoint_of_an_unknown_format_is_refused(tmp_path: Path) -> None:
    path = _save(tmp_path / "model.pt", _module())
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["format"] = 999
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match="format"):
        load_model(path)


def test_the_novelty_fit_travels_with_the_checkpoint_and_older_files_have_none(tmp_path: Path) -> None:
    module = _module()
    crops, context = torch.randn(300, 1, 48, 32), torch.randn(300, len(CONTEXT_FEATURES))
    with torch.inference_mode():
        hidden = module.embed(crops, context).numpy()
    novelty = fit_novelty(hidden, np.arange(300) % 3, hidden[:100])
    assert novelty is not None
    with_fit = load_model(_save(tmp_path / "with.pt", module, novelty=novelty))
    without = load_model(_save(tmp_path / "without.pt", module))

    got = predict_calls(with_fit, crops.numpy(), context.numpy())
    plain = predict_calls(without, crops.numpy(), context.numpy())

    assert with_fit.novelty is not None and with_fit.novelty.threshold == pytest.approx(novelty.threshold)
    assert (got.novel == novelty.novel(hidden)).all() and got.novel.any()
    assert without.novelty is None and not plain.novel.any()
    assert np.allclose(got.species, plain.species) and np.allclose(got.call_type, plain.call_type)
