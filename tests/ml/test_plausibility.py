"""ml.plausibility: a class whose echolocation calls never peak at a call's frequency loses that call."""

from __future__ import annotations

import numpy as np
import pytest

from ml.calibration import fallback_label
from ml.labels import BAT, NOISE
from ml.plausibility import MARGIN, outside_range, peak_range_hz, plausible_mean, plausible_probabilities
from ml.synth_species import SPECIES_PARAMETERS

PIP, NOC, RFE = "Pipistrellus pipistrellus", "Nyctalus noctula", "Rhinolophus ferrumequinum"
LABELS = (PIP, NOC, RFE, NOISE)


@pytest.mark.parametrize("label", sorted(SPECIES_PARAMETERS))
def test_every_range_holds_the_literature_range_of_bats_md_with_the_margin(label):
    low_hz, high_hz = peak_range_hz(label)
    literature_low, literature_high = SPECIES_PARAMETERS[label].literature.peak_khz

    assert low_hz <= 1000 * literature_low * (1 - MARGIN) + 1e-6
    assert high_hz >= 1000 * literature_high * (1 + MARGIN) - 1e-6


def test_classes_without_parameters_are_never_ruled_out():
    assert peak_range_hz("Myotis sp.") is None and peak_range_hz(NOISE) is None
    probs = np.array([[0.2, 0.2, 0.2, 0.4]])
    labels = ("Myotis sp.", "Chiroptera sp. unknown", NOC, NOISE)

    out = plausible_probabilities(probs, outside_range(np.array([80_000.0]), np.array([True]), labels))

    assert out[0, 0] == 0.2 and out[0, 1] == 0.2 and out[0, 2] == 0.0 and out[0, 3] == 0.4


def test_only_echolocation_calls_outside_a_range_lose_that_class():
    probs = np.array([[0.1, 0.8, 0.05, 0.05]] * 3)
    peaks = np.array([21_000.0, 46_000.0, 46_000.0])
    echolocation = np.array([True, True, False])

    out = plausible_probabilities(probs, outside_range(peaks, echolocation, LABELS))

    assert out[0].tolist() == pytest.approx([0.0, 0.8, 0.0, 0.05])  # 21 kHz: a noctule, not a pipistrelle
    assert out[1].tolist() == pytest.approx([0.1, 0.0, 0.0, 0.05])  # 46 kHz: no noctule, no greater horseshoe
    assert out[2].tolist() == pytest.approx(probs[2].tolist())  # a social call: unchecked


def test_the_mass_taken_off_still_counts_as_a_bat_in_the_fallback():
    probs = np.array([0.02, 0.9, 0.03, 0.05])
    outside = outside_range(np.array([46_000.0]), np.array([True]), LABELS)
    plausible = plausible_probabilities(probs[None], outside)[0]

    answer = fallback_label(plausible, LABELS, 0.7, bat_mass=float(probs[:3].sum()))
    without_bat_mass = fallback_label(plausible, LABELS, 0.7)

    assert answer.label == BAT and answer.confidence == pytest.approx(0.95)
    assert without_bat_mass.label == NOISE  # why the caller passes the model's own bat mass


def test_a_pass_loses_a_class_only_when_most_of_its_echolocation_calls_are_outside_it():
    probs = np.tile([0.1, 0.8, 0.05, 0.05], (5, 1))  # "noctule" throughout
    echolocation = np.array([True, True, True, True, False])

    two_of_four = np.array([21_000.0, 21_000.0, 46_000.0, 46_000.0, 46_000.0])
    three_of_four = np.array([21_000.0, 46_000.0, 46_000.0, 46_000.0, 46_000.0])
    kept = plausible_mean(probs, outside_range(two_of_four, echolocation, LABELS), echolocation)
    dropped = plausible_mean(probs, outside_range(three_of_four, echolocation, LABELS), echolocation)

    assert kept[1] == pytest.approx(0.8)
    assert dropped[1] == 0.0 and dropped[3] == pytest.approx(0.05)
