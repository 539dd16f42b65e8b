"""Passes per species under the final label (classifier.reports.results.species_results), without a database."""

from __future__ import annotations

import datetime as dt

from classifier.final_labels import FinalLabel
from classifier.reports.results import Call, attribute, species_results, survey_night

PIP = "Pipistrellus pipistrellus"
PYG = "Pipistrellus pygmaeus"
NOC = "Nyctalus noctula"
AMS = dt.timezone(dt.timedelta(hours=2))


def label(
    final: tuple[str, ...], *, added: tuple[str, ...] = (), reviewed: tuple[str, ...] = ()
) -> FinalLabel:
    return FinalLabel(
        species_present=final, call_types=("echolocation",), source="review" if reviewed else "prediction",
        review_status="corrected" if reviewed else "not_reviewed", reviewer="", reviewed_at=None,
        reviewed_species=reviewed, reviewed_call_types=(), removed_species=(), added_species=added,
    )  # fmt: skip


def echo(species: str, pass_index: int, start_s: float, call_type: str = "echolocation") -> Call:
    return Call(pass_index=pass_index, species=species, call_type=call_type, start_s=start_s)


def by_species(results) -> dict[str, tuple]:
    return {r.species: (r.passes, r.feeding_buzzes, r.social_calls, r.auto_passes) for r in results}


def test_a_pass_is_named_by_most_of_its_echolocation_calls_and_owns_its_buzzes_and_social_calls() -> None:
    calls = [echo(PIP, 0, 0.1), echo(NOC, 0, 0.2), echo(PIP, 0, 0.3),
             echo(NOC, 0, 0.4, "feeding_buzz"), echo(PYG, 0, 0.5, "social_call")]  # fmt: skip

    results = species_results(calls, auto=[PIP], label=label((PIP,)))

    assert by_species(results) == {PIP: (1, 1, 1, 1)}
    assert results[0].pass_starts_s == (0.1,)


def test_a_group_answer_counts_for_the_one_species_an_expert_narrowed_it_to() -> None:
    calls = [echo("Pipistrellus sp.", 0, 1.0), echo("Pipistrellus sp.", 0, 1.2)]

    narrowed = species_results(
        calls, auto=["Pipistrellus sp."], label=label((PYG,), added=(PYG,), reviewed=(PYG,))
    )
    two = species_results(calls, auto=["Pipistrellus sp."], label=label((PYG, PIP), added=(PYG, PIP),
                                                                       reviewed=(PYG, PIP)))  # fmt: skip

    assert by_species(narrowed) == {PYG: (1, 0, 0, 0), "Pipistrellus sp.": (0, 0, 0, 1)}
    # two species of the group: the pass cannot be split, so it is dropped and each added species counts once
    assert (by_species(two)[PYG][0], by_species(two)[PIP][0]) == (1, 1)


def test_a_species_pass_counts_for_its_group_when_the_label_names_the_group() -> None:
    calls = [echo(PIP, 0, 0.0), echo(PIP, 0, 0.1)]

    assert by_species(
        species_results(calls, auto=["Pipistrellus sp."], label=label(("Pipistrellus sp.",)))
    ) == {"Pipistrellus sp.": (1, 0, 0, 1)}


def test_a_pair_answer_counts_for_the_member_the_expert_named() -> None:
    calls = [echo("Pipistrellus nathusii/kuhlii", 0, 0.0), echo("Pipistrellus nathusii/kuhlii", 0, 0.2)]

    results = species_results(calls, auto=["Pipistrellus nathusii/kuhlii"],
                              label=label(("Pipistrellus nathusii",), reviewed=("Pipistrellus nathusii",)))  # fmt: skip

    assert by_species(results)["Pipistrellus nathusii"] == (1, 0, 0, 0)


def test_removed_species_lose_their_passes_and_added_ones_without_calls_count_once() -> None:
    calls = [echo(NOC, 0, 0.0), echo(NOC, 0, 0.3), echo(PIP, 1, 2.0), echo(PIP, 1, 2.1)]

    results = species_results(calls, auto=[NOC, PIP], label=label((PIP, "Myotis daubentonii"),
                                                                  added=("Myotis daubentonii",), reviewed=(PIP,)))  # fmt: skip

    assert by_species(results) == {PIP: (1, 0, 0, 1), "Myotis daubentonii": (1, 0, 0, 0), NOC: (0, 0, 0, 1)}
    assert [(r.species, r.auto, r.reviewed, r.final) for r in results] == [
        (PIP, True, True, True),
        ("Myotis daubentonii", False, False, True),
        (NOC, True, False, False),
    ]


def test_no_bat_gets_no_passes_even_when_added() -> None:
    results = species_results([], auto=[NOC], label=label(("noise",), added=("noise",), reviewed=("noise",)))

    assert by_species(results) == {"noise": (0, 0, 0, 0), NOC: (0, 0, 0, 0)}


def test_buzzes_and_social_calls_outside_a_pass_count_for_their_own_species_only() -> None:
    calls = [echo(PIP, -1, 0.0), echo(PIP, -1, 0.5, "feeding_buzz"), echo(NOC, -1, 0.9, "social_call")]

    assert by_species(species_results(calls, auto=[PIP], label=label((PIP,)))) == {PIP: (0, 1, 0, 0)}


def test_attribute_leaves_unrelated_species_out() -> None:
    assert attribute(NOC, [PIP]) is None
    assert attribute("Chiroptera sp.", [PIP]) == PIP
    assert attribute("Chiroptera sp.", [PIP, NOC]) is None


def test_survey_night_runs_noon_to_noon() -> None:
    fallback = dt.date(2000, 1, 1)

    assert survey_night(dt.datetime(2025, 6, 13, 11, 59, tzinfo=AMS), fallback) == dt.date(2025, 6, 12)
    assert survey_night(dt.datetime(2025, 6, 13, 12, 0, tzinfo=AMS), fallback) == dt.date(2025, 6, 13)
    assert survey_night(None, fallback) == fallback
