"""Temperature scaling and the species -> group -> Chiroptera sp. fallback (ml.calibration)."""

from __future__ import annotations

import numpy as np
import pytest

from ml.calibration import fallback_label, fit_temperature
from ml.labels import BAT, DEFAULT_LABEL_SET, NOISE
from ml.metrics import expected_calibration_error

LABELS = DEFAULT_LABEL_SET


def _overconfident_logits(n: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a model right ~70 % of the time that acts as if it were always sure (logits x 4)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    honest = rng.normal(0.0, 1.0, (n, k))
    honest[np.arange(n), labels] += 1.8
    return honest * 4.0, labels


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_temperature_fitted_on_validation_lowers_ece_on_held_out_data() -> None:
    val_logits, val_labels = _overconfident_logits(2000, 6, seed=1)
    test_logits, test_labels = _overconfident_logits(2000, 6, seed=2)

    temperature = fit_temperature(val_logits, val_labels)

    before = expected_calibration_error(_softmax(test_logits), test_labels)
    after = expected_calibration_error(_softmax(test_logits / temperature), test_labels)
    assert temperature > 1.5  # an overconfident model is cooled down
    assert after < before / 2
    assert after < 0.05


def test_temperature_scaling_keeps_every_prediction() -> None:
    logits, labels = _overconfident_logits(500, 5, seed=3)
    temperature = fit_temperature(logits, labels)
    assert (np.argmax(logits / temperature, axis=1) == np.argmax(logits, axis=1)).all()


def test_fit_temperature_ignores_unknown_rows_and_defaults_to_one() -> None:
    logits, labels = _overconfident_logits(300, 4, seed=4)
    with_unknown = np.concatenate([labels, -np.ones(50, dtype=labels.dtype)])
    padded = np.concatenate([logits, np.random.default_rng(0).normal(0, 30, (50, 4))])
    assert fit_temperature(padded, with_unknown) == pytest.approx(fit_temperature(logits, labels), rel=1e-3)
    assert fit_temperature(logits, -np.ones(len(labels), dtype=int)) == 1.0


def _p(pairs: dict[str, float]) -> np.ndarray:
    p = np.full(len(LABELS), 0.0)
    for label, value in pairs.items():
        p[LABELS.index(label)] = value
    free = p == 0
    p[free] = (1.0 - p.sum()) / free.sum()
    return p


def test_a_confident_answer_stays_at_species_level() -> None:
    answer = fallback_label(_p({"Pipistrellus pygmaeus": 0.9}), LABELS, 0.7)
    assert (answer.label, answer.level) == ("Pipistrellus pygmaeus", "species")
    assert answer.confidence == pytest.approx(0.9)


def test_below_the_threshold_the_answer_falls_back_to_the_group() -> None:
    # Unsure between two pipistrelles, but sure it is a pipistrelle.
    p = _p({"Pipistrellus pipistrellus": 0.45, "Pipistrellus pygmaeus": 0.35})
    answer = fallback_label(p, LABELS, 0.7)
    assert answer.label == "Pipistrellus sp."
    assert answer.level == "group"
    assert answer.confidence >= 0.7
    # The same probabilities with a lower threshold name the species.
    assert fallback_label(p, LABELS, 0.4).label == "Pipistrellus pipistrellus"


def test_when_the_group_is_unsure_too_the_answer_is_chiroptera_sp() -> None:
    p = _p(
        {"Nyctalus noctula": 0.35, "Pipistrellus pipistrellus": 0.3, "Myotis daubentonii": 0.3, NOISE: 0.01}
    )
    answer = fallback_label(p, LABELS, 0.7)
    assert (answer.label, answer.level) == (BAT, "order")
    assert answer.confidence > 0.9


def test_a_class_without_a_group_falls_back_to_chiroptera_sp() -> None:
    answer = fallback_label(_p({"Barbastella barbastellus": 0.6, NOISE: 0.05}), LABELS, 0.7)
    assert answer.label == BAT


def test_unsure_noise_stays_noise_when_no_bat_is_likely() -> None:
    answer = fallback_label(_p({NOISE: 0.6}), LABELS, 0.7)
    assert answer.label == NOISE


def test_fallback_label_rejects_probabilities_of_another_label_set() -> None:
    with pytest.raises(ValueError):
        fallback_label(np.ones(3) / 3, LABELS, 0.7)
