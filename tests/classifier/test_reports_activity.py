"""The nightly activity summary against the hand-computed survey of reports_fixture (every column)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math

import pytest

from classifier.reports.activity import COLUMNS, HOUR_COLUMNS, activity_summary, summary_csv
from classifier.reports.filters import ReportFilters
from surveys.models import Recording, Visit
from tests.classifier.reports_fixture import DAU, NOC, PIP, PIP_SP, PYG, Survey, build_survey

# the reports' URLs until the lead includes classifier.urls_reports in batsite/urls.py
pytestmark = pytest.mark.django_db


@pytest.fixture
def survey(db) -> Survey:
    return build_survey()


EARLY = "A pass within 30 min after sunset in the maternity period: a roost may be close by; consider an emergence count."
MATING = (
    "Social calls of Pipistrellus in mid-August to September: possible mating roost (paarverblijf) nearby."
)
SITE = {"project": "Kromme Rijn 2025", "site_code": "KR01", "site_name": "Dom, Utrecht", "latitude": 52.0907,
        "longitude": 5.1214}  # fmt: skip
# astral 3.2 at 52.0907 N 5.1214 E (see reports_fixture): ISO times keep whole seconds
JUNE_12 = {"night": dt.date(2025, 6, 12), "sunset": "2025-06-12T21:59:52+02:00",
           "sunrise": "2025-06-13T05:19:06+02:00", "visits": 1, "recording_hours": 4.0}  # fmt: skip
VISIT_A_OK = {"protocol": "ok", "protocol_season": "ok", "protocol_start": "ok", "protocol_duration": "ok",
              "protocol_temperature": "ok", "protocol_wind": "ok", "protocol_rain": "ok", "protocol_gap": "n/a",
              "protocol_issues": ""}  # fmt: skip
VISIT_B = {"night": dt.date(2025, 6, 25), "sunset": "2025-06-25T22:03:51+02:00", "sunrise": "2025-06-26T05:20:54+02:00",
           "visits": 1, "recording_hours": 1.0, "protocol": "fail", "protocol_season": "ok", "protocol_start": "fail",
           "protocol_duration": "fail", "protocol_temperature": "fail", "protocol_wind": "fail", "protocol_rain": "fail",
           "protocol_gap": "fail",
           "protocol_issues": "start: 34 min before sunset (22:03) (start at sunset or later); duration: 1.00 h (at least "
                              "2 h); temperature: 9 °C (at least 10 °C); wind: 5 Bft (at most 4 Bft); rain: rain (at "
                              "most drizzle); gap: 13 days after 2025-06-12 (at least 20 days after the previous visit)"}  # fmt: skip


def hours(**passes: int) -> dict[str, int]:
    """All 24 hour bins, zero except those named: hours(h22=2)."""
    bins = dict.fromkeys(HOUR_COLUMNS, 0)
    bins.update({f"passes_{name[1:]}h": n for name, n in passes.items()})
    return bins


def row(**values) -> dict:
    return {**SITE, **values}


PIP_JUNE_12 = row(
    **JUNE_12, **VISIT_A_OK, species=PIP, species_group="Pipistrellus sp.", recordings=1, reviewed=0, passes=2,
    auto_passes=2, passes_per_hour=0.5, **hours(h22=2),
    # passes at 22:10:00.5 and 22:10:04; 22:10:00.5 - 21:59:52.6 = 10.13 min; 05:19:06.3 - 22:10:04 = 429.04 min
    first_pass="2025-06-12T22:10:00+02:00", last_pass="2025-06-12T22:10:04+02:00",
    first_pass_min_after_sunset=10.1, last_pass_min_before_sunrise=429.0, feeding_buzzes=1, social_calls=0,
    hints=EARLY,
)  # fmt: skip
DAU_JUNE_12 = row(
    **JUNE_12, species=DAU, species_group="Myotis sp.", recordings=1, reviewed=1, passes=1, auto_passes=0,
    passes_per_hour=0.25, **hours(h23=1),
    # added by the expert: one pass at the start of R4, 23:30:00 (90.12 min after sunset, 349.10 before sunrise)
    first_pass="2025-06-12T23:30:00+02:00", last_pass="2025-06-12T23:30:00+02:00",
    first_pass_min_after_sunset=90.1, last_pass_min_before_sunrise=349.1, feeding_buzzes=0, social_calls=0,
    # Daubenton's maternity row: start at least 15 min after sunset; visit A started 0 min after
    **{**VISIT_A_OK, "protocol": "fail", "protocol_start": "fail",
       "protocol_issues": "start: 0 min after sunset (21:59) (start at least 15 min after sunset)"},
    hints="",
)  # fmt: skip
NOC_JUNE_12 = row(
    **JUNE_12, **VISIT_A_OK, species=NOC, species_group="Nyctaloid", recordings=1, reviewed=0, passes=1,
    auto_passes=1, passes_per_hour=0.25, **hours(h22=1),
    # R1's pass 1 at 22:10:02 (R3's noctule was overruled by "no bat"); noctule row: at least 12 °C, visit 14 °C
    first_pass="2025-06-12T22:10:02+02:00", last_pass="2025-06-12T22:10:02+02:00",
    first_pass_min_after_sunset=10.2, last_pass_min_before_sunrise=429.1, feeding_buzzes=0, social_calls=0,
    hints=EARLY,
)  # fmt: skip
PYG_JUNE_12 = row(
    **JUNE_12, **VISIT_A_OK, species=PYG, species_group="Pipistrellus sp.", recordings=1, reviewed=1, passes=1,
    auto_passes=0, passes_per_hour=0.25, **hours(h01=1),
    # R2's pass at 01:30:01 on 13 June: 210.14 min after sunset, 229.09 before sunrise
    first_pass="2025-06-13T01:30:01+02:00", last_pass="2025-06-13T01:30:01+02:00",
    first_pass_min_after_sunset=210.1, last_pass_min_before_sunrise=229.1, feeding_buzzes=0, social_calls=1,
    hints="",
)  # fmt: skip
PIP_JUNE_25 = row(
    **VISIT_B, species=PIP, species_group="Pipistrellus sp.", recordings=1, reviewed=0, passes=1, auto_passes=1,
    passes_per_hour=1.0, **hours(h22=1),
    # 22:40:00.1 - 22:03:51.9 = 36.14 min; 05:20:54.9 - 22:40:00.1 = 400.91 min
    first_pass="2025-06-25T22:40:00+02:00", last_pass="2025-06-25T22:40:00+02:00",
    first_pass_min_after_sunset=36.1, last_pass_min_before_sunrise=400.9, feeding_buzzes=0, social_calls=0, hints="",
)  # fmt: skip
PIP_AUGUST_20 = row(
    night=dt.date(2025, 8, 20), species=PIP, species_group="Pipistrellus sp.", recordings=1, reviewed=0, passes=1,
    auto_passes=1, recording_hours=None, passes_per_hour=None, **hours(h23=1),  # visit C has no end time
    first_pass="2025-08-20T23:00:00+02:00", last_pass="2025-08-20T23:00:00+02:00",
    sunset="2025-08-20T20:52:33+02:00", sunrise="2025-08-21T06:33:39+02:00",
    # 23:00:00.1 - 20:52:33.9 = 127.44 min; 06:33:40.0 - 23:00:00.1 = 453.66 min
    first_pass_min_after_sunset=127.4, last_pass_min_before_sunrise=453.7, feeding_buzzes=0, social_calls=1,
    visits=1, protocol="fail", protocol_season="ok", protocol_start="fail", protocol_duration="unknown",
    protocol_temperature="unknown", protocol_wind="unknown", protocol_rain="ok", protocol_gap="n/a",
    # mating roost: start at least 60 min after sunset; 21:30 is 37.4 min after 20:52:33.9
    protocol_issues="start: 37 min after sunset (20:52) (start at least 60 min after sunset)", hints=MATING,
)  # fmt: skip


def _summary(survey, **filters) -> list[dict]:
    frame = activity_summary(Recording.objects.filter(visit__site=survey.site), Visit.objects.filter(site=survey.site),
                             filters=ReportFilters(**filters))  # fmt: skip
    assert list(frame.columns) == list(COLUMNS)
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in frame.to_dict("records")]  # fmt: skip


def test_every_column_of_every_site_night_species_row(survey) -> None:
    rows = _summary(survey)

    # per night: most passes first, then by name
    assert rows == [PIP_JUNE_12, DAU_JUNE_12, NOC_JUNE_12, PYG_JUNE_12, PIP_JUNE_25, PIP_AUGUST_20]


def test_automatic_labels_too_adds_the_species_only_the_model_found(survey) -> None:
    rows = _summary(survey, auto_labels=True)

    # "Pipistrellus sp." (R2, narrowed by the expert) appears with its model-only pass; the noctule row also
    # counts R3's pass that the expert overruled (auto_passes 2) while its final passes stay 1; noise never
    pip_sp = row(**JUNE_12, **VISIT_A_OK, species=PIP_SP, species_group="Pipistrellus sp.", recordings=0, reviewed=0,
                 passes=0, auto_passes=1, passes_per_hour=0.0, **hours(), first_pass="", last_pass="",
                 first_pass_min_after_sunset=None, last_pass_min_before_sunrise=None, feeding_buzzes=0,
                 social_calls=0, hints="")  # fmt: skip
    assert rows == [PIP_JUNE_12, DAU_JUNE_12, {**NOC_JUNE_12, "auto_passes": 2}, PYG_JUNE_12, pip_sp, PIP_JUNE_25,
                    PIP_AUGUST_20]  # fmt: skip


def test_a_visit_night_without_bat_passes_keeps_one_row_with_its_protocol_checks(survey) -> None:
    rows = _summary(survey, min_confidence=0.6)  # R6 (0.50), the only recording of 25 June, is left out

    quiet = row(**VISIT_B, species="", species_group="", recordings=0, reviewed=0, passes=0, auto_passes=0,
                passes_per_hour=0.0, **hours(), first_pass="", last_pass="", first_pass_min_after_sunset=None,
                last_pass_min_before_sunrise=None, feeding_buzzes=0, social_calls=0, hints="")  # fmt: skip
    assert rows == [PIP_JUNE_12, DAU_JUNE_12, NOC_JUNE_12, PYG_JUNE_12, quiet, PIP_AUGUST_20]


def test_date_range_keeps_the_gap_to_a_visit_before_the_range(survey) -> None:
    rows = _summary(survey, date_from=dt.date(2025, 6, 20), date_to=dt.date(2025, 6, 30))

    assert rows == [PIP_JUNE_25]  # its gap check still sees visit A of 12 June


def test_summary_csv_writes_the_header_and_blank_cells_for_unknown_values(survey) -> None:
    frame = activity_summary(
        Recording.objects.filter(visit__site=survey.site), Visit.objects.filter(site=survey.site)
    )

    rows = list(csv.DictReader(io.StringIO(summary_csv(frame))))

    assert list(rows[0]) == list(COLUMNS)
    assert [(r["night"], r["species"], r["passes"], r["passes_per_hour"]) for r in rows] == [
        ("2025-06-12", PIP, "2", "0.5"), ("2025-06-12", DAU, "1", "0.25"), ("2025-06-12", NOC, "1", "0.25"),
        ("2025-06-12", PYG, "1", "0.25"), ("2025-06-25", PIP, "1", "1.0"), ("2025-08-20", PIP, "1", ""),
    ]  # fmt: skip
    assert rows[0]["passes_22h"] == "2" and rows[0]["first_pass_min_after_sunset"] == "10.1"
    assert rows[-1]["recording_hours"] == "" and rows[-1]["hints"] == MATING


def test_blurred_sites_show_rounded_coordinates(survey) -> None:
    frame = activity_summary(Recording.objects.filter(project=survey.project),
                             Visit.objects.filter(site__project=survey.project),
                             blurred_site_ids={survey.site.pk})  # fmt: skip

    positions = {(r["site_code"], r["latitude"], r["longitude"]) for r in frame.to_dict("records")}
    assert positions == {("KR01", 52.1, 5.1), ("KR02", 52.071, 5.165)}


def test_an_empty_site_gives_an_empty_summary_with_every_column(survey) -> None:
    frame = activity_summary(Recording.objects.none(), Visit.objects.none())

    assert frame.empty and list(frame.columns) == list(COLUMNS)
    assert summary_csv(frame).splitlines() == [",".join(COLUMNS)]
