"""Call-parameter plausibility: a species cannot be the answer for an echolocation call outside its range.

Place in the pipeline: ml.model gives calibrated class probabilities per call -> **ml.plausibility** takes off
the mass of classes whose search-phase echolocation calls never peak at the call's frequency -> the fallback
of ml.calibration answers from what is left (ml.infer, ml.evaluate).

Why: a CNN trained on European bats maps any input onto its classes, so a Costa Rican Saccopteryx call at
45 kHz could come out as a confident noctule (18-25 kHz). An expert checks the call's peak frequency against
the species' known range before accepting a name; this does the same, with the ranges of
../shared/domain/bats.md section 4 (the generator's call variants and the literature ranges in
ml.synth_species) widened by `MARGIN` for individual, habitat and Doppler variation. The mass taken off still
counts as "a bat" (the caller keeps the bat mass of the original probabilities), so the answer falls back to
the group or to `Chiroptera sp.`; it never moves to another species and never turns a bat into noise. A call
loses the classes it is outside of; a pass or a recording loses those that most of its echolocation calls
are outside of. The group answer checks against the group's range (every member's together).

Only echolocation calls are checked: feeding buzzes and social calls are lower and vary more. Classes
without parameters in bats.md (and `noise`) are never taken off. The model's own probabilities (`top`,
per-call probabilities) are left as they are for the expert to see.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from ml.labels import BAT, NOISE, group_of
from ml.synth_species import SPECIES_PARAMETERS

__all__ = [
    "ECHOLOCATION", "MARGIN", "group_peak_range_hz", "outside_range", "peak_range_hz", "plausible_mean",
    "plausible_probabilities",
]  # fmt: skip

MARGIN = 0.15  # relative widening of each species' peak-frequency range on both sides (chosen, not fitted)
ECHOLOCATION = "echolocation"


@functools.lru_cache(maxsize=64)
def peak_range_hz(label: str) -> tuple[float, float] | None:
    """The widened peak-frequency range of a class's search-phase echolocation calls, or None when bats.md
    gives the class no parameters."""
    parameters = SPECIES_PARAMETERS.get(label)
    if parameters is None:
        return None
    ranges = [variant.peak_khz for variant in parameters.variants] + [parameters.literature.peak_khz]
    low_khz, high_khz = min(r[0] for r in ranges), max(r[1] for r in ranges)
    return 1000 * low_khz * (1 - MARGIN), 1000 * high_khz * (1 + MARGIN)


@functools.lru_cache(maxsize=64)
def group_peak_range_hz(label: str) -> tuple[float, float] | None:
    """The union of the ranges of every class of `label`'s group (its own range when it has no group): the
    range that decides whether the class's probability still counts for a group answer. A 30 kHz call is
    no noctule, but the mass the model put on "noctule" is still evidence for a nyctaloid."""
    group = group_of(label)
    members = [c for c in SPECIES_PARAMETERS if group != BAT and group_of(c) == group] or [label]
    ranges = [peak_range_hz(c) for c in members]
    if any(r is None for r in ranges):
        return None
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


@functools.lru_cache(maxsize=16)
def _ranges(label_set: tuple[str, ...], level: str) -> tuple[np.ndarray, np.ndarray]:
    lows = np.full(len(label_set), -np.inf)
    highs = np.full(len(label_set), np.inf)
    of = peak_range_hz if level == "species" else group_peak_range_hz
    for k, label in enumerate(label_set):
        found = None if label == NOISE else of(label)
        if found is not None:
            lows[k], highs[k] = found
    return lows, highs


def outside_range(
    peak_hz: np.ndarray, echolocation: np.ndarray, label_set: Sequence[str], level: str = "species"
) -> np.ndarray:
    """(n, classes) True where call i is an echolocation call whose peak frequency (true Hz) lies outside
    class k's range (`level="group"`: outside the range of k's whole group). Other calls, `noise` and
    classes without parameters are never outside."""
    if level not in ("species", "group"):
        raise ValueError(f"level must be 'species' or 'group', not {level!r}")
    lows, highs = _ranges(tuple(label_set), level)
    peaks = np.asarray(peak_hz, dtype=np.float64).reshape(-1, 1)
    outside = (peaks < lows[None, :]) | (peaks > highs[None, :])
    return outside & np.asarray(echolocation, dtype=bool).reshape(-1, 1)


def plausible_probabilities(species_probs: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Per call: each class's probability zeroed where the call is outside its range."""
    probs = np.asarray(species_probs)
    return np.where(outside, 0.0, probs).astype(probs.dtype, copy=False) if probs.size else probs.copy()


def plausible_mean(species_probs: np.ndarray, outside: np.ndarray, echolocation: np.ndarray) -> np.ndarray:
    """For a pass or a recording: the mean probabilities of its calls, with the classes zeroed that more
    than half of its echolocation calls lie outside of. A majority rather than every call: a pass also
    picks up stray detections (an insect under a long horseshoe call, a clipped call) that say nothing of
    its species."""
    probs = np.asarray(species_probs)
    mean = probs.mean(axis=0)
    echolocation = np.asarray(echolocation, dtype=bool)
    if not echolocation.any():
        return mean
    return np.where(outside[echolocation].mean(axis=0) > 0.5, 0.0, mean).astype(probs.dtype, copy=False)
