"""Scores on arrays: per-class precision / recall / F1, macro-F1, accuracy, group accuracy, calibration error.

Place in the pipeline: used by ml.train (validation score for early stopping, test metrics stored in the
checkpoint) and ml.evaluate (reports). Pure numpy; no files, no model.

Conventions (docs/model.md):
- Rows whose truth is unknown to a head (index < 0: a group or `Chiroptera sp.` as truth, an out-of-range
  species) are left out of that head's scores.
- macro-F1 averages over the classes present in the truth; a prediction of an absent class still costs the
  recall of the true class.
- Group accuracy compares answers after fallback at group level: a species answer is right when its group is
  the true group, a group answer likewise; `Chiroptera sp.` is never right for a bat of a known group.
  Classes without a group (Barbastella) are their own group here, so `Chiroptera sp.` is not a free win.
- ECE: 15 equal-width confidence bins, |accuracy - mean confidence| weighted by bin size, on the top class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.labels import BAT, group_of

__all__ = [
    "ClassScore",
    "HeadScores",
    "expected_calibration_error",
    "group_accuracy",
    "group_key",
    "score_head",
]


@dataclass(frozen=True)
class ClassScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int  # rows with this true class


@dataclass(frozen=True)
class HeadScores:
    """Scores of one head (species or call type) on one set of rows."""

    labels: tuple[str, ...]
    per_class: tuple[ClassScore, ...]
    macro_f1: float
    accuracy: float
    confusion: np.ndarray  # (true, predicted) counts over `labels`
    n: int  # rows scored

    def as_dict(self) -> dict[str, object]:
        return {
            "macro_f1": self.macro_f1,
            "accuracy": self.accuracy,
            "n": self.n,
            "per_class": {
                c.label: {"precision": c.precision, "recall": c.recall, "f1": c.f1, "support": c.support}
                for c in self.per_class
                if c.support > 0 or self.confusion[:, self.labels.index(c.label)].sum() > 0
            },
            "labels": list(self.labels),
            "confusion": self.confusion.tolist(),
        }


def score_head(true_index: np.ndarray, predicted_index: np.ndarray, labels: Sequence[str]) -> HeadScores:
    """Per-class and summary scores; rows with true_index < 0 are ignored."""
    true_index = np.asarray(true_index, dtype=np.int64)
    predicted_index = np.asarray(predicted_index, dtype=np.int64)
    keep = true_index >= 0
    t, p = true_index[keep], predicted_index[keep]
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (t, p), 1)
    per_class = []
    f1s = []
    for i, label in enumerate(labels):
        tp = confusion[i, i]
        support = int(confusion[i].sum())
        predicted = int(confusion[:, i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(ClassScore(label, float(precision), float(recall), float(f1), support))
        if support:
            f1s.append(f1)
    n = int(keep.sum())
    return HeadScores(
        labels=tuple(labels),
        per_class=tuple(per_class),
        macro_f1=float(np.mean(f1s)) if f1s else 0.0,
        accuracy=float((t == p).mean()) if n else 0.0,
        confusion=confusion,
        n=n,
    )


def expected_calibration_error(probabilities: np.ndarray, true_index: np.ndarray, n_bins: int = 15) -> float:
    """ECE of the top class; rows with true_index < 0 are ignored. 0 = perfectly calibrated."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    true_index = np.asarray(true_index, dtype=np.int64)
    keep = true_index >= 0
    if not keep.any():
        return 0.0
    p, t = probabilities[keep], true_index[keep]
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == t).astype(np.float64)
    # Bin i holds confidences in (i/n, (i+1)/n]; confidence 0 goes to the first bin.
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def group_key(label: str) -> str:
    """The group a label is scored against: its group, or the label itself where it has none."""
    group = group_of(label)
    return label if group == BAT and label != BAT else group


def group_accuracy(answers: Sequence[str], truths: Sequence[str | None]) -> float:
    """Share of rows whose answer (class, group or `Chiroptera sp.`) is right at group level.

    Rows whose truth is None or `Chiroptera sp.` (nothing to check at group level) are ignored.
    """
    pairs = [(a, t) for a, t in zip(answers, truths) if t is not None and t != BAT]
    if not pairs:
        return 0.0
    return float(np.mean([a != BAT and group_key(a) == group_key(t) for a, t in pairs]))
