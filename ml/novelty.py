"""Novelty: is a call unlike every call the model was trained on?

Place in the pipeline: ml.model gives each call its hidden-layer activations beside the class probabilities
-> **ml.novelty** measures how far they lie from the training calls of every class -> ml.plausibility treats a
novel echolocation call like a call outside every bat class's range: its answer falls back to
`Chiroptera sp.`, its bat mass stays the model's.

Why: a softmax always sums to one, so a call of a species the model never saw (a Costa Rican Noctilio, a
bat of the tropics in an imported file, a real call far from the synthetic training data) is still shared
out over the known classes, often confidently. Its hidden activations, though, lie away from those of
every trained class. The measure is the Mahalanobis distance to the nearest class mean with one shared,
shrunk covariance (Lee et al. 2018, "A simple unified framework for detecting out-of-distribution samples"),
fitted on the training split after training; the threshold is a high quantile of the distances of the
validation split's bat calls (files the fit never saw), so about `1 - quantile` of calls like the training
data are flagged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["MIN_REFERENCE_FILES", "NOVELTY_QUANTILE", "NoveltyModel", "fit_novelty"]

NOVELTY_QUANTILE = 0.95  # share of validation bat calls below the threshold (chosen, docs/model.md)
# Calls of one recording resemble each other, so a quantile over the calls of a few recordings is a quantile
# of those recordings, not of new ones: with 3 validation files, 16-38 % of new files' calls came out novel
# instead of 5 %. Below this many validation recordings with bat calls there is no novelty check.
MIN_REFERENCE_FILES = 8
SHRINKAGE = 0.1  # towards a scaled identity: 128 dimensions, some nearly constant after ReLU


@dataclass(frozen=True)
class NoveltyModel:
    """Class means and shared precision of the hidden layer, and the distance above which a call is novel."""

    means: np.ndarray  # (classes seen in training, hidden units) float32
    precision: np.ndarray  # (hidden units, hidden units) float32, inverse of the shrunk shared covariance
    threshold: float  # squared Mahalanobis distance
    quantile: float

    def distances(self, hidden: np.ndarray) -> np.ndarray:
        """(n,) squared Mahalanobis distance of each row to the nearest class mean."""
        hidden = np.asarray(hidden, dtype=np.float32)
        if not len(hidden):
            return np.zeros(0, dtype=np.float32)
        # |x - m|^2_P = x'Px - 2 x'Pm + m'Pm, for all class means at once.
        projected = hidden @ self.precision
        own = np.einsum("nd,nd->n", projected, hidden)
        cross = projected @ self.means.T
        mean_terms = np.einsum("kd,de,ke->k", self.means, self.precision, self.means)
        return np.maximum(own[:, None] - 2 * cross + mean_terms[None, :], 0.0).min(axis=1)

    def novel(self, hidden: np.ndarray) -> np.ndarray:
        """(n,) True where a call lies farther from every class than the threshold."""
        return self.distances(hidden) > self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "means": self.means.astype(np.float32).tolist(),
            "precision": self.precision.astype(np.float32).tolist(),
            "threshold": float(self.threshold),
            "quantile": float(self.quantile),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> NoveltyModel:
        return cls(
            means=np.asarray(values["means"], dtype=np.float32),
            precision=np.asarray(values["precision"], dtype=np.float32),
            threshold=float(values["threshold"]),
            quantile=float(values["quantile"]),
        )


def fit_novelty(
    train_hidden: np.ndarray,
    train_classes: np.ndarray,
    reference_hidden: np.ndarray,
    *,
    quantile: float = NOVELTY_QUANTILE,
    shrinkage: float = SHRINKAGE,
    reference_files: int | None = None,
) -> NoveltyModel | None:
    """Fit on the training split's hidden activations and their class indices (-1 = unknown, left out); the
    threshold is the `quantile` of the distances of `reference_hidden` (the validation split's bat calls, from
    `reference_files` recordings when known). None when there is too little to fit: fewer than two rows per
    dimension, no reference rows, or fewer than MIN_REFERENCE_FILES reference recordings."""
    train_hidden = np.asarray(train_hidden, dtype=np.float64)
    train_classes = np.asarray(train_classes)
    known = train_classes >= 0
    hidden, classes = train_hidden[known], train_classes[known]
    if len(hidden) < 2 * hidden.shape[1] or not len(reference_hidden):
        return None
    if reference_files is not None and reference_files < MIN_REFERENCE_FILES:
        return None
    present = np.unique(classes)
    means = np.stack([hidden[classes == k].mean(axis=0) for k in present])
    centred = hidden - means[np.searchsorted(present, classes)]
    covariance = centred.T @ centred / len(centred)
    scale = np.trace(covariance) / len(covariance) or 1.0
    shrunk = (1 - shrinkage) * covariance + shrinkage * scale * np.eye(len(covariance))
    unfitted = NoveltyModel(
        means=means.astype(np.float32),
        precision=np.linalg.inv(shrunk).astype(np.float32),
        threshold=float("inf"),
        quantile=quantile,
    )
    threshold = float(np.quantile(unfitted.distances(reference_hidden), quantile))
    return NoveltyModel(unfitted.means, unfitted.precision, threshold, quantile)
