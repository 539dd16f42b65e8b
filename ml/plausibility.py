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

A *novel* echolocation call (ml.novelty: unlike every class the model was trained on) is outside every bat
class, whatever its frequency: a trained expert would not name a call unlike any they know either.

Only echolocation calls are checked: feeding buzzes and social calls are lower and vary more. Classes
without parameters in bats.md (and `noise`) are never taken off by range. The model's own probabilities
(`top`, per-call probabilities) are left as they are for the expert to see.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.calibration import FallbackAnswer, fallback_label
from ml.labels import BAT, NOISE, group_of
from ml.synth_species import SPECIES_PARAMETERS

__all__ = [
    "ECHOLOCATION", "MARGIN", "CallChecks", "check_calls", "echolocation_calls", "group_peak_range_hz",
    "outside_range", "peak_range_hz", "plausible_mean", "plausible_probabilities",
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


def echolocation_calls(call_type_probs: np.ndarray, call_types: Sequence[str]) -> np.ndarray:
    """(n,) True where the call's best bat call type is echolocation (ml.infer gives a bat call its best type
    other than `none`, even when the head hesitates towards `none`)."""
    probs = np.asarray(call_type_probs)
    bat_types = [k for k, t in enumerate(call_types) if t != "none"]
    if not bat_types or not len(probs):
        return np.zeros(len(probs), dtype=bool)
    best = np.array(bat_types)[np.argmax(probs[:, bat_types], axis=1)]
    return np.array([call_types[k] == ECHOLOCATION for k in best], dtype=bool)


@dataclass(frozen=True)
class CallChecks:
    """The plausibility of a file's calls, and the answers that follow from it (what ml.infer reports and
    ml.evaluate scores): the model's probabilities for the classes a call (or most calls of a pass or
    recording) cannot be are taken off, the bat mass stays the model's."""

    species_probs: np.ndarray  # (n, classes) the model's calibrated probabilities
    label_set: tuple[str, ...]
    outside: np.ndarray  # (n, classes) outside the class's own range
    outside_group: np.ndarray  # (n, classes) outside the range of the class's whole group
    echolocation: np.ndarray  # (n,)
    bat_mass: np.ndarray  # (n,) the model's probability that the call is a bat
    novel: np.ndarray  # (n,) echolocation calls unlike the training data (ml.novelty): outside every class

    def pooled(self, rows, *, for_group: bool = False) -> np.ndarray:
        """Mean probabilities of the calls `rows`, less the classes most of their echolocation calls cannot
        be (`for_group`: whose group they cannot be). One row: that call's own check."""
        outside = self.outside_group if for_group else self.outside
        return plausible_mean(self.species_probs[rows], outside[rows], self.echolocation[rows])

    def answer(self, rows, threshold: float) -> FallbackAnswer:
        """ml.calibration's fallback for the calls `rows` together (a list of indices, or one call as [i])."""
        return fallback_label(
            self.pooled(rows),
            self.label_set,
            threshold,
            group_probabilities=self.pooled(rows, for_group=True),
            bat_mass=float(self.bat_mass[rows].mean()),
        )

    def call_answers(self, threshold: float) -> list[FallbackAnswer]:
        """The answer of each call on its own (the same as `answer([i])`, computed for all at once)."""
        species = plausible_probabilities(self.species_probs, self.outside)
        group = plausible_probabilities(self.species_probs, self.outside_group)
        return [
            fallback_label(species[i], self.label_set, threshold, group_probabilities=group[i],
                           bat_mass=float(self.bat_mass[i]))
            for i in range(len(species))
        ]  # fmt: skip


def check_calls(
    species_probs: np.ndarray,
    call_type_probs: np.ndarray,
    peak_hz: np.ndarray,
    label_set: Sequence[str],
    call_types: Sequence[str],
    novel: np.ndarray | None = None,
) -> CallChecks:
    """Which of a file's calls are echolocation calls outside which class's (and group's) range; `novel`
    (n,) marks the calls ml.novelty found unlike the training data (None: none are)."""
    probs = np.asarray(species_probs)
    label_set = tuple(label_set)
    echolocation = echolocation_calls(call_type_probs, call_types)
    bat_columns = [k for k, label in enumerate(label_set) if label != NOISE]
    novel = echolocation & (np.zeros(len(probs), bool) if novel is None else np.asarray(novel, dtype=bool))
    outside = outside_range(peak_hz, echolocation, label_set)
    outside_group = outside_range(peak_hz, echolocation, label_set, level="group")
    for matrix in (outside, outside_group):
        matrix[np.ix_(novel, bat_columns)] = True
    return CallChecks(
        species_probs=probs,
        label_set=label_set,
        outside=outside,
        outside_group=outside_group,
        echolocation=echolocation,
        bat_mass=probs[:, bat_columns].sum(axis=1) if len(probs) else np.zeros(0),
        novel=novel,
    )
