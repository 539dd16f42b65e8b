"""Protocol checks per visit and evidence hints against the Vleermuisprotocol values (bats.md 5.1).

Visits here are unsaved model instances at the Dom in Utrecht (52.0907 N, 5.1214 E); sun times by astral
3.2: sunset 12 June 2025 21:59:52.6, 20 August 2025 20:52:33.9, 1 April 2025 20:13:24.5 (+02:00).
"""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from classifier.reports import protocol
from classifier.reports.protocol import FAIL, NOT_APPLICABLE, OK, UNKNOWN, SeasonWindow, check_visit
from classifier.reports.sun import sun_times
from surveys.models import Site, Visit

UTRECHT = Site(
    pk=1, code="KR01", name="Dom", latitude=52.0907, longitude=5.1214, time_zone="Europe/Amsterdam"
)


def visit(**fields) -> Visit:
    values = {"pk": 10, "site": UTRECHT, "night": dt.date(2025, 6, 12), "start_time": dt.time(22, 0),
              "end_time": dt.time(2, 0), "purpose": "maternity_roost", "temperature_c": 14.0, "wind_beaufort": 2,
              "rain": "drizzle"}  # fmt: skip
    values.update(fields)
    return Visit(**values)


def status(name: str, previous_night: dt.date | None = None, species: str | None = None, **fields) -> str:
    return check_visit(visit(**fields), previous_night=previous_night, species=species).check(name).status


def test_sun_times_at_the_dom_in_utrecht_match_astral() -> None:
    sun = sun_times(52.0907, 5.1214, dt.date(2025, 6, 12), "Europe/Amsterdam")

    assert sun.sunset.isoformat(timespec="seconds") == "2025-06-12T21:59:52+02:00"
    assert sun.sunrise.isoformat(timespec="seconds") == "2025-06-13T05:19:06+02:00"


def test_polar_summer_has_no_sunset_and_the_start_check_is_unknown() -> None:
    tromso = Site(pk=2, code="T", name="Tromsø", latitude=69.65, longitude=18.96, time_zone="Europe/Oslo")

    result = check_visit(visit(site=tromso), previous_night=None)

    assert result.sun.sunset is None
    assert result.check("start").status == UNKNOWN


def test_a_visit_that_meets_every_value_of_its_row_passes() -> None:
    result = check_visit(visit(), previous_night=dt.date(2025, 5, 20))

    assert result.rule.id == "GD-kraam"
    assert [(c.name, c.status) for c in result.checks] == [
        ("season", OK), ("start", OK), ("duration", OK), ("temperature", OK), ("wind", OK), ("rain", OK), ("gap", OK),
    ]  # fmt: skip
    assert result.status == OK


@pytest.mark.parametrize(
    ("night", "purpose", "expected"),
    [
        (dt.date(2025, 5, 15), "maternity_roost", OK),  # first day of 15 May-15 Jul
        (dt.date(2025, 7, 15), "maternity_roost", OK),  # last day
        (dt.date(2025, 7, 16), "maternity_roost", FAIL),
        (dt.date(2025, 5, 14), "maternity_roost", FAIL),
        (dt.date(2025, 8, 14), "mating_roost", FAIL),  # mating: 15 Aug-1 Oct
        (dt.date(2025, 10, 1), "mating_roost", OK),
        (dt.date(2025, 12, 20), "winter_roost", OK),  # winter 1 Dec-1 Mar runs over new year
        (dt.date(2026, 2, 10), "winter_roost", OK),
        (dt.date(2025, 3, 2), "winter_roost", FAIL),
        (dt.date(2025, 4, 1), "flight_route", FAIL),  # flight route: 15 Apr-15 Oct
    ],
)
def test_season_window_of_the_purpose(night, purpose, expected) -> None:
    assert status("season", night=night, purpose=purpose) == expected


@pytest.mark.parametrize(
    ("purpose", "night", "start", "expected", "measured"),
    [
        ("maternity_roost", dt.date(2025, 6, 12), dt.time(22, 0), OK, "0 min after sunset (21:59)"),
        ("maternity_roost", dt.date(2025, 6, 12), dt.time(21, 30), FAIL, "30 min before sunset (21:59)"),
        (
            "maternity_roost",
            dt.date(2025, 6, 12),
            dt.time(3, 30),
            OK,
            "330 min after sunset (21:59)",
        ),  # morning
        ("mating_roost", dt.date(2025, 8, 20), dt.time(21, 30), FAIL, "37 min after sunset (20:52)"),
        (
            "mating_roost",
            dt.date(2025, 8, 20),
            dt.time(21, 53),
            OK,
            "60 min after sunset (20:52)",
        ),  # 60.4 min
    ],
)
def test_start_relative_to_sunset(purpose, night, start, expected, measured) -> None:
    result = check_visit(visit(purpose=purpose, night=night, start_time=start), previous_night=None).check(
        "start"
    )

    assert (result.status, result.measured) == (expected, measured)


def test_mornings_only_rule_fails_an_evening_visit_and_accepts_a_morning_one() -> None:
    # pond bat maternity roost: mornings only (bats.md 5.1, MV kraamverblijf)
    evening = check_visit(visit(), previous_night=None, species="Myotis dasycneme").check("start")
    morning = check_visit(visit(start_time=dt.time(3, 0), end_time=dt.time(5, 30)), previous_night=None,
                          species="Myotis dasycneme").check("start")  # fmt: skip

    assert (evening.status, morning.status) == (FAIL, OK)


def test_start_is_unknown_without_a_start_time() -> None:
    assert status("start", start_time=None) == UNKNOWN


@pytest.mark.parametrize(
    ("end", "expected"),
    [(dt.time(0, 0), OK), (dt.time(23, 59), FAIL), (None, UNKNOWN)],  # 2 h needed
)
def test_duration_of_the_visit(end, expected) -> None:
    assert status("duration", end_time=end) == expected


@pytest.mark.parametrize(("temperature", "expected"), [(10.0, OK), (9.9, FAIL), (None, UNKNOWN)])
def test_minimum_temperature(temperature, expected) -> None:
    assert status("temperature", temperature_c=temperature) == expected  # maternity roost: at least 10 °C


def test_species_rows_set_their_own_minimum_temperature() -> None:
    # noctule maternity roost needs 12 °C where the default (common pipistrelle) row needs 10
    assert status("temperature", temperature_c=11.0) == OK
    assert status("temperature", temperature_c=11.0, species="Nyctalus noctula") == FAIL


@pytest.mark.parametrize(
    ("purpose", "wind", "expected"),
    [
        ("maternity_roost", 4, OK),
        ("maternity_roost", 5, FAIL),
        ("flight_route", 4, FAIL),
        ("flight_route", None, UNKNOWN),
    ],
)
def test_maximum_wind(purpose, wind, expected) -> None:
    night = dt.date(2025, 6, 12)
    assert status("wind", purpose=purpose, night=night, wind_beaufort=wind) == expected


@pytest.mark.parametrize(
    ("rain", "species", "expected"),
    [("none", None, OK), ("drizzle", None, OK), ("rain", None, FAIL), ("drizzle", "Plecotus auritus", FAIL)],
)
def test_rain(rain, species, expected) -> None:
    # the default rows allow drizzle; the long-eared bat rows allow no rain at all
    assert status("rain", rain=rain, species=species) == expected


@pytest.mark.parametrize(
    ("purpose", "previous", "expected"),
    [
        ("maternity_roost", dt.date(2025, 5, 23), OK),  # 20 days: the minimum
        ("maternity_roost", dt.date(2025, 5, 24), FAIL),  # 19 days
        ("maternity_roost", None, NOT_APPLICABLE),  # the first visit
        ("flight_route", dt.date(2025, 4, 20), FAIL),  # 53 days; flight routes need 8 weeks
        ("flight_route", dt.date(2025, 4, 17), OK),  # 56 days
    ],
)
def test_gap_between_visits(purpose, previous, expected) -> None:
    assert status("gap", previous_night=previous, purpose=purpose) == expected


def test_purpose_other_is_not_checked() -> None:
    result = check_visit(visit(purpose="other"), previous_night=None)

    assert result.rule is None
    assert {c.status for c in result.checks} == {NOT_APPLICABLE}
    assert result.status == NOT_APPLICABLE


def test_winter_roost_checks_only_the_season() -> None:
    result = check_visit(visit(purpose="winter_roost", night=dt.date(2025, 12, 20)), previous_night=None)

    assert {c.name: c.status for c in result.checks} == {
        "season": OK, "start": NOT_APPLICABLE, "duration": NOT_APPLICABLE, "temperature": NOT_APPLICABLE,
        "wind": NOT_APPLICABLE, "rain": NOT_APPLICABLE, "gap": NOT_APPLICABLE,
    }  # fmt: skip


def test_overall_status_is_the_worst_check() -> None:
    assert protocol.worst([OK, NOT_APPLICABLE]) == OK
    assert protocol.worst([OK, UNKNOWN]) == UNKNOWN
    assert protocol.worst([UNKNOWN, FAIL, OK]) == FAIL
    assert protocol.worst([]) == NOT_APPLICABLE


def test_previous_night_is_the_last_earlier_visit_with_the_same_site_and_purpose() -> None:
    a = visit(pk=1, night=dt.date(2025, 6, 1))
    b = visit(pk=2, night=dt.date(2025, 6, 1))  # second detector, same night: the same round
    c = visit(pk=3, night=dt.date(2025, 6, 25))
    d = visit(pk=4, night=dt.date(2025, 6, 20), purpose="summer_roost")
    e = visit(pk=5, night=dt.date(2026, 6, 5))  # next year: no gap rule to last year's visits

    assert protocol.previous_nights([c, a, b, d, e]) == {
        1: None, 2: None, 3: dt.date(2025, 6, 1), 4: None, 5: None,
    }  # fmt: skip


# ------------------------------------------------------------------------------------------ hints


@pytest.mark.parametrize(
    ("species", "night", "social", "expected"),
    [
        ("Pipistrellus pipistrellus", dt.date(2025, 8, 20), 1, True),
        ("Pipistrellus nathusii/kuhlii", dt.date(2025, 9, 30), 2, True),
        ("Pipistrellus pipistrellus", dt.date(2025, 8, 14), 3, False),  # before mid-August
        ("Pipistrellus pipistrellus", dt.date(2025, 8, 20), 0, False),  # no social calls
        ("Myotis daubentonii", dt.date(2025, 8, 20), 4, False),
    ],
)
def test_pipistrellus_social_calls_in_late_summer_hint_at_a_mating_roost(
    species, night, social, expected
) -> None:
    hints = protocol.hints_for(species=species, night=night, social_calls=social, feeding_buzzes=0,
                               first_pass_min_after_sunset=None)  # fmt: skip

    assert any("possible mating roost" in h and "Pipistrellus" in h for h in hints) is expected


def test_early_first_pass_in_the_maternity_period_hints_at_a_roost_nearby() -> None:
    def hints(minutes: float | None, night: dt.date = dt.date(2025, 6, 12)) -> tuple[str, ...]:
        return protocol.hints_for(species="Nyctalus noctula", night=night, social_calls=0, feeding_buzzes=0,
                                  first_pass_min_after_sunset=minutes)  # fmt: skip

    assert len(hints(25.0)) == 1 and "roost may be close by" in hints(25.0)[0]
    assert hints(31.0) == () and hints(-5.0) == () and hints(None) == ()
    assert hints(10.0, night=dt.date(2025, 8, 20)) == ()


def test_three_feeding_buzzes_hint_at_foraging() -> None:
    def hints(buzzes: int) -> tuple[str, ...]:
        return protocol.hints_for(species="Myotis daubentonii", night=dt.date(2025, 8, 1), social_calls=0,
                                  feeding_buzzes=buzzes, first_pass_min_after_sunset=None)  # fmt: skip

    assert hints(2) == ()
    assert hints(3) == ("Feeding buzzes: the site is used for foraging (foerageergebied).",)


# ------------------------------------------------------------------------------------------ the data


def test_rules_file_holds_the_dutch_protocol_values_of_bats_md() -> None:
    rules = protocol.load_rules()

    kraam = rules.rule_for("maternity_roost")
    paar = rules.rule_for("mating_roost")
    route = rules.rule_for("flight_route")
    assert (kraam.season_text, kraam.min_temperature_c, kraam.max_wind_bft, kraam.min_gap_days) == (
        "15 May–15 Jul",
        10,
        4,
        20,
    )
    assert (paar.season_text, paar.start_min_after_sunset, paar.min_temperature_c) == ("15 Aug–1 Oct", 60, 6)
    assert (route.min_gap_days, route.max_wind_bft) == (56, 3)
    assert rules.rule_for("maternity_roost", "Myotis daubentonii").start_min_after_sunset == 15
    assert rules.rule_for("winter_roost", "Vespertilio murinus").season_text == "15 Oct–15 Mar"
    assert rules.rule_for("other") is None


def test_a_broken_rules_file_names_the_bad_entry() -> None:
    data = json.loads(protocol.RULES_PATH.read_text(encoding="utf-8"))
    broken = copy.deepcopy(data)
    broken["rules"][0]["season"] = [["02-30", "03-01"]]

    with pytest.raises(ValueError, match="GD-kraam"):
        protocol.parse_rules(broken)

    no_default = copy.deepcopy(data)
    no_default["rules"] = [r for r in data["rules"] if r["id"] != "GD-paar"]
    with pytest.raises(ValueError, match="mating_roost"):
        protocol.parse_rules(no_default)


def test_season_window_reads_as_day_and_month() -> None:
    assert str(SeasonWindow((12, 1), (3, 1))) == "1 Dec–1 Mar"
