"""ml.novelty: calls far from every trained class in the hidden layer are flagged; calls like them are not."""

from __future__ import annotations

import numpy as np
import pytest

from ml.novelty import MIN_REFERENCE_FILES, NoveltyModel, fit_novelty

DIMENSIONS = 16


def _clusters(
    rng: np.random.Generator, n_per_class: int, centres: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    classes = np.repeat(np.arange(len(centres)), n_per_class)
    return centres[classes] + rng.normal(0.0, 1.0, (len(classes), DIMENSIONS)), classes


def _fitted(quantile: float = 0.95) -> tuple[NoveltyModel, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 6.0, (3, DIMENSIONS))
    train, classes = _clusters(rng, 400, centres)
    reference, _ = _clusters(rng, 400, centres)
    model = fit_novelty(train, classes, reference, quantile=quantile)
    assert model is not None
    return model, centres, rng.normal(0.0, 1.0, (2000, DIMENSIONS))


def test_new_calls_like_the_training_classes_are_flagged_about_as_often_as_the_quantile_says():
    model, centres, noise = _fitted(quantile=0.95)
    fresh = centres[np.arange(3000) % 3] + noise[np.arange(3000) % 2000]

    assert model.novel(fresh).mean() == pytest.approx(0.05, abs=0.03)


def test_calls_far_from_every_class_are_novel_and_a_class_mean_is_not():
    model, centres, noise = _fitted()
    far = centres.mean(axis=0) + 25.0 + noise[:100]

    assert model.novel(far).all()
    assert not model.novel(centres).any()


def test_a_higher_quantile_flags_fewer_calls():
    strict, centres, noise = _fitted(quantile=0.99)
    loose, _, _ = _fitted(quantile=0.8)
    fresh = centres[np.arange(2000) % 3] + noise

    assert strict.threshold > loose.threshold
    assert strict.novel(fresh).mean() < loose.novel(fresh).mean()


def test_distances_match_the_plain_mahalanobis_formula():
    model, centres, noise = _fitted()
    rows = centres[0] + 2.0 * noise[:5]

    expected = [
        min(float((row - mean) @ model.precision @ (row - mean)) for mean in model.means) for row in rows
    ]

    assert model.distances(rows).tolist() == pytest.approx(expected, rel=1e-3)


def test_round_trip_through_plain_types_keeps_every_answer():
    model, centres, noise = _fitted()
    again = NoveltyModel.from_dict(model.to_dict())
    rows = centres[1] + 3.0 * noise[:200]

    assert again.threshold == model.threshold and again.quantile == model.quantile
    assert (again.novel(rows) == model.novel(rows)).all()


def test_unknown_rows_are_left_out_and_too_little_data_fits_nothing():
    rng = np.random.default_rng(1)
    hidden = rng.normal(0.0, 1.0, (20, DIMENSIONS))

    assert (
        fit_novelty(hidden, np.zeros(20, dtype=np.int64), hidden) is None
    )  # fewer than 2 rows per dimension
    assert fit_novelty(hidden, -np.ones(20, dtype=np.int64), hidden) is None
    many = rng.normal(0.0, 1.0, (200, DIMENSIONS))
    assert fit_novelty(many, np.zeros(200, dtype=np.int64), many[:0]) is None  # no reference rows
    # Reference calls from too few recordings: their quantile is not that of new recordings.
    few = fit_novelty(many, np.zeros(200, dtype=np.int64), many, reference_files=MIN_REFERENCE_FILES - 1)
    enough = fit_novelty(many, np.zeros(200, dtype=np.int64), many, reference_files=MIN_REFERENCE_FILES)
    assert few is None and enough is not None
    assert model_of_no_rows_is_empty()


def model_of_no_rows_is_empty() -> bool:
    model, _, _ = _fitted()
    return model.distances(np.zeros((0, DIMENSIONS))).shape == (0,)
