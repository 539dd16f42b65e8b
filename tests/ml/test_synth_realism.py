"""The generator's calls against bats.md and against real European calls (labelled-europe).

The method and the tolerances live in bench/synth_realism.py (which also writes docs/synth-realism.md):
peak frequency, duration and interval of echolocation calls are measured the same way on real and synthetic
audio; a synthetic median agrees when it lies in the bats.md range, or in the real interquartile range (where
there are at least MIN_REAL_CALLS real values), widened by the natural spread bats.md 4.2 gives: +-2 kHz for
peak frequency (between individuals), +-15 % for duration, +-25 % for interval.
"""

from __future__ import annotations

import pytest

from bench.synth_realism import (
    METRICS,
    MIN_REAL_CALLS,
    Comparison,
    Measurements,
    compare,
    measure_real,
    measure_synthetic,
    widen,
)
from ml.labels import DEFAULT_LABEL_SET, NOISE

BAT_CLASSES = [label for label in DEFAULT_LABEL_SET if label != NOISE]
FILES_PER_CLASS = 8  # ~40-100 calls per class: medians stable across seeds (checked for seeds 0-5)


@pytest.fixture(scope="module")
def real(shared_data) -> dict[str, Measurements]:
    return measure_real(shared_data / "recordings" / "labelled-europe")


@pytest.fixture(scope="module")
def synthetic() -> dict[str, Measurements]:
    return measure_synthetic(BAT_CLASSES, FILES_PER_CLASS, seed=0)


@pytest.fixture(scope="module")
def comparisons(real, synthetic) -> dict[tuple[str, str], Comparison]:
    return {
        (label, metric): compare(label, metric, synthetic[label], real.get(label))
        for label in BAT_CLASSES
        for metric in METRICS
    }


def test_real_data_gives_enough_calls_to_compare_most_of_its_species(comparisons):
    # labelled-europe has call boxes for seven classes; all but Barbastella have >= MIN_REAL_CALLS calls.
    compared = {
        label for (label, metric), c in comparisons.items() if metric == "peak_khz" and c.real_ok is not None
    }
    assert compared == {
        "Pipistrellus pipistrellus",
        "Pipistrellus pygmaeus",
        "Pipistrellus nathusii/kuhlii",
        "Eptesicus serotinus",
        "Myotis nattereri",
        "Plecotus auritus/austriacus",
    }
    intervals = {
        label
        for (label, metric), c in comparisons.items()
        if metric == "interval_ms" and c.real_ok is not None
    }
    assert intervals >= {"Pipistrellus pipistrellus", "Myotis nattereri", "Plecotus auritus/austriacus"}


@pytest.mark.parametrize("label", BAT_CLASSES)
def test_synthetic_medians_agree_with_the_bats_md_ranges(comparisons, label):
    for metric in METRICS:
        c = comparisons[(label, metric)]
        assert c.synthetic_n >= 10, (label, metric, c.synthetic_n)
        low, high = widen(*c.literature, metric)
        assert low <= c.synthetic_median <= high, (
            f"{label} {metric}: synthetic median {c.synthetic_median:.1f} outside bats.md {c.literature} "
            f"widened to ({low:.1f}, {high:.1f})"
        )


@pytest.mark.parametrize("label", BAT_CLASSES)
def test_synthetic_medians_agree_with_real_calls_where_there_are_enough(comparisons, label):
    for metric in METRICS:
        c = comparisons[(label, metric)]
        if c.real_n < MIN_REAL_CALLS:
            assert c.real_ok is None
            continue
        assert c.real_iqr is not None
        low, high = widen(*c.real_iqr, metric)
        assert c.real_ok, (
            f"{label} {metric}: synthetic median {c.synthetic_median:.1f} outside the real interquartile "
            "range "
            f"{c.real_iqr[0]:.1f}-{c.real_iqr[1]:.1f} (n={c.real_n}) widened to ({low:.1f}, {high:.1f})"
        )
