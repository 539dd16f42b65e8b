"""Confidence: temperature scaling of the model's logits, and the fall-back from species to group.

Place in the pipeline: ml.train fits one temperature per head on the validation split (after early
stopping) and stores it in the checkpoint; ml.model.classify_calls divides logits by it; ml.infer and
ml.evaluate turn calibrated probabilities into an answer with `fallback_label`.

Temperature scaling (Guo et al. 2017) keeps the ranking of classes, so accuracy and macro-F1 do not change;
only how sure the model says it is. `fallback_label` follows ARCHITECTURE.md (Labels): the best class when
its probability reaches the threshold, else that class's group when the summed probability of the group's
classes reaches it, else `Chiroptera sp.` (a bat, group unknown) -- or `noise` when the probability mass
on bats is too small to call it a bat at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize_scalar

from ml.labels import BAT, NOISE, group_of

__all__ = [
    "DEFAULT_CONFIDENCE_THRESHOLD",
    "FallbackAnswer",
    "fallback_label",
    "fit_temperature",
    "fit_temperature_to",
]

# Default of the confidence setting (the web app has its own setting; this is what ml uses when asked
# without one). 0.7 on calibrated probabilities: roughly "right 7 times out of 10 or better".
DEFAULT_CONFIDENCE_THRESHOLD = 0.7
# A validation split the model gets entirely right (small or easy data) would push T towards 0, i.e.
# certainty; below 0.25 the fitted value says more about the split than about the model.
TEMPERATURE_BOUNDS = (0.25, 20.0)


def fit_temperature(logits: np.ndarray | torch.Tensor, labels: np.ndarray, *, max_iter: int = 100) -> float:
    """The temperature T > 0 minimising the negative log-likelihood of softmax(logits / T).

    Rows with label < 0 (unknown) are ignored; with no usable rows T = 1 (no change).
    """
    logits_t = torch.as_tensor(logits, dtype=torch.float64).detach()
    labels_np = np.asarray(labels)
    keep = labels_np >= 0
    if not keep.any():
        return 1.0
    x = logits_t[torch.from_numpy(keep)]
    y = torch.from_numpy(labels_np[keep]).long()
    # Optimise log T so T stays positive without constraints.
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    with torch.enable_grad():
        optimiser.step(closure)
    return float(np.clip(log_t.exp().item(), *TEMPERATURE_BOUNDS))


def fit_temperature_to(probabilities_at: Callable[[float], np.ndarray], labels: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood of `probabilities_at(T)`.

    For outputs that are more than softmax(logits / T): species probabilities smoothed over passes depend
    on T through every call of the pass. A bounded 1-D search over log T, so any such function works.
    """
    labels = np.asarray(labels)
    keep = labels >= 0
    if not keep.any():
        return 1.0

    def nll(log_t: float) -> float:
        p = probabilities_at(float(np.exp(log_t)))[keep]
        return float(-np.mean(np.log(np.clip(p[np.arange(len(p)), labels[keep]], 1e-12, None))))

    low, high = np.log(TEMPERATURE_BOUNDS[0]), np.log(TEMPERATURE_BOUNDS[1])
    result = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-3})
    return float(np.exp(result.x))


@dataclass(frozen=True)
class FallbackAnswer:
    """What to report for one set of class probabilities."""

    label: str  # a class of the label set, a group id, `Chiroptera sp.` or `noise`
    confidence: float  # the probability behind that answer (summed over the classes it covers)
    level: str  # "species" (a class, incl. noise), "group" or "order" (Chiroptera sp.)


def fallback_label(
    probabilities: Sequence[float] | np.ndarray,
    label_set: Sequence[str],
    threshold: float,
    *,
    group_probabilities: Sequence[float] | np.ndarray | None = None,
    bat_mass: float | None = None,
) -> FallbackAnswer:
    """Best class if sure enough, else its group, else `Chiroptera sp.` (ARCHITECTURE.md, Labels).

    `probabilities` are calibrated class probabilities in the order of `label_set`. The group's confidence
    is the summed probability of every class in that group (pipistrelle mass stays pipistrelle mass even
    when split between P. pipistrellus and P. pygmaeus); `Chiroptera sp.` sums every class but noise.
    When even that sum is below the threshold the answer is the more likely of "bat" and "noise".
    Where ml.plausibility took implausible classes off, `probabilities` are what is left for a species
    answer, `group_probabilities` what is left for a group answer (checked against the group's range), and
    `bat_mass` the model's own bat mass: still a bat, only no species or group can claim what was taken off.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    if p.shape != (len(label_set),):
        raise ValueError(f"expected {len(label_set)} probabilities, got shape {p.shape}")
    best = int(np.argmax(p))
    best_label = label_set[best]
    if p[best] >= threshold:
        return FallbackAnswer(best_label, float(p[best]), "species")
    groups = [group_of(label) for label in label_set]
    q = p if group_probabilities is None else np.asarray(group_probabilities, dtype=np.float64)
    group_best = int(np.argmax(q))  # the best class as far as its group goes (the same one without q)
    best_group = groups[group_best]
    if label_set[group_best] != NOISE and best_group != BAT:
        group_p = float(sum(q[i] for i, g in enumerate(groups) if g == best_group))
        if group_p >= threshold:
            return FallbackAnswer(best_group, group_p, "group")
    if bat_mass is None:
        bat_mass = float(sum(p[i] for i, label in enumerate(label_set) if label != NOISE))
    bat_p = float(bat_mass)
    noise_p = 1.0 - bat_p if NOISE in label_set else 0.0
    if bat_p >= threshold or bat_p >= noise_p:
        return FallbackAnswer(BAT, bat_p, "order")
    return FallbackAnswer(NOISE, noise_p, "species")
