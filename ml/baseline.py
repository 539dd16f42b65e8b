"""Baseline: multinomial logistic regression on measured call parameters, reported beside the CNN.

Place in the pipeline: trained in ml.train on the same calls as the CNN, stored in the checkpoint,
scored in ml.evaluate. It reads only ml.features.call_context (duration, bandwidth, peak / low / high
frequency, intervals to neighbouring calls): the numbers a bat worker reads off a call by hand. If the CNN
cannot beat it, the crops add nothing.

Two independent softmax regressions (species, call type) on standardised features, fitted full-batch with
L-BFGS, L2-regularised and class-weighted like the CNN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["ParameterBaseline", "fit_baseline"]


@dataclass(frozen=True)
class ParameterBaseline:
    """A fitted baseline: feature standardisation and two weight matrices."""

    mean: np.ndarray  # (n_features,)
    std: np.ndarray  # (n_features,)
    species_weight: np.ndarray  # (n_features, n_species)
    species_bias: np.ndarray  # (n_species,)
    call_type_weight: np.ndarray  # (n_features, n_call_types)
    call_type_bias: np.ndarray  # (n_call_types,)

    def predict_proba(self, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Species (n, n_species) and call-type (n, n_call_types) probabilities for context rows."""
        x = (np.asarray(context, dtype=np.float64) - self.mean) / self.std
        return _softmax(x @ self.species_weight + self.species_bias), _softmax(
            x @ self.call_type_weight + self.call_type_bias
        )

    def to_dict(self) -> dict[str, Any]:
        # Tensors, so the checkpoint stays loadable with torch.load(weights_only=True).
        return {name: torch.from_numpy(np.asarray(getattr(self, name), dtype=np.float32)) for name in _FIELDS}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ParameterBaseline:
        return cls(**{name: np.asarray(values[name], dtype=np.float64) for name in _FIELDS})


_FIELDS = ("mean", "std", "species_weight", "species_bias", "call_type_weight", "call_type_bias")


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _fit_head(
    x: torch.Tensor, y: np.ndarray, n_classes: int, class_weight: np.ndarray | None, l2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (features, classes) and bias of a softmax regression; rows with y < 0 are ignored."""
    keep = torch.from_numpy(y >= 0)
    weight = torch.zeros((x.shape[1], n_classes), dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    if not bool(keep.any()):
        return weight.detach().numpy(), bias.detach().numpy()
    xs, ys = x[keep], torch.from_numpy(y[y >= 0]).long()
    w = torch.from_numpy(class_weight).double() if class_weight is not None else None
    optimiser = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(xs @ weight + bias, ys, weight=w) + l2 * (weight**2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return weight.detach().numpy(), bias.detach().numpy()


def fit_baseline(
    context: np.ndarray,
    species: np.ndarray,
    call_types: np.ndarray,
    *,
    n_species: int,
    n_call_types: int,
    species_weight: np.ndarray | None = None,
    call_type_weight: np.ndarray | None = None,
    l2: float = 1e-3,
) -> ParameterBaseline:
    """Fit both heads on context rows (n, n_features); labels are class indices, -1 = not known."""
    x = np.asarray(context, dtype=np.float64)
    mean = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    std = x.std(axis=0) if len(x) else np.ones(x.shape[1])
    std = np.where(std > 1e-6, std, 1.0)
    xt = torch.from_numpy((x - mean) / std)
    with torch.enable_grad():
        sw, sb = _fit_head(xt, np.asarray(species), n_species, species_weight, l2)
        cw, cb = _fit_head(xt, np.asarray(call_types), n_call_types, call_type_weight, l2)
    return ParameterBaseline(
        mean=mean, std=std, species_weight=sw, species_bias=sb, call_type_weight=cw, call_type_bias=cb
    )
