"""The recordings CSV against the hand-computed survey of reports_fixture (every column of every row)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from classifier.models import SensitiveSpecies
from classifier.reports.filters import ReportFilters
from classifier.reports.recordings_csv import COLUMNS, number, recordings_csv
from classifier.reports.results import recording_results
from classifier.reports.sensitive import blurred_site_ids
from surveys.models import Recording, Role
from tests.classifier.reports_fixture import DAU, NOC, PIP, PIP_SP, PYG, Survey, build_survey
from tests.factories import member

# the reports' URLs until the lead includes classifier.urls_reports in batsite/urls.py
pytestmark = pytest.mark.django_db


@pytest.fixture
def survey(db) -> Survey:
    return build_survey()


KR01 = ["Kromme Rijn 2025", "KR01", "Dom, Utrecht", "52.0907", "5.1214"]
KR01_BLURRED = ["Kromme Rijn 2025", "KR01", "Dom, Utrecht", "52.1", "5.1"]  # rounded to 0.1 degree
NOT_REVIEWED = ["not_reviewed", "", "", "", ""]  # review_status, reviewed species / call type, reviewer, at


def _file(night: str, at: str, name: str) -> list[str]:
    return [night, at, name, "5", "384000", "1"]  # survey night, recorded_at, file, duration, rate, TE


# One list per row in COLUMNS order, after the five site columns. The decisions were made at 10:00, 10:05 and
# 10:10 UTC on 20 June 2025, i.e. 12:00, 12:05, 12:10 in Amsterdam (summer time, +02:00).
R1 = _file("2025-06-12", "2025-06-12T22:10:00+02:00", "KR01_20250612_221000.wav")
R1_ROWS = [
    # P. pipistrellus: passes 0 (0.5 s) and 2 (4.0 s); the buzz at 0.7 s sits in pass 0
    [*R1, PIP, "Pipistrellus sp.", "echolocation;feeding_buzz", "0.93", "bats-v3", "2", "1", "0", *NOT_REVIEWED,
     PIP, "echolocation;feeding_buzz", "1" * 64],
    [*R1, NOC, "Nyctaloid", "echolocation;feeding_buzz", "0.93", "bats-v3", "1", "0", "0", *NOT_REVIEWED,
     NOC, "echolocation;feeding_buzz", "1" * 64],
]  # fmt: skip
R5 = _file("2025-06-12", "2025-06-12T22:45:00+02:00", "KR01_20250612_224500.wav")
R5_ROWS = [[*R5, "", "", "", "", "", "", "", "", *NOT_REVIEWED, "", "", "5" * 64]]  # not analysed: one row
R3 = _file("2025-06-12", "2025-06-12T23:00:00+02:00", "KR01_20250612_230000.wav")
R3_ROWS = [
    # the expert's "no bat" is the final label; the noctule's pass is dropped
    [*R3, "", "", "echolocation", "0.8", "bats-v3", "0", "0", "0", "no_bat", "noise", "none", "anna",
     "2025-06-20T12:05:00+02:00", "noise", "none", "3" * 64],
    [*R3, NOC, "Nyctaloid", "echolocation", "0.8", "bats-v3", "0", "0", "0", "no_bat", "", "none", "anna",
     "2025-06-20T12:05:00+02:00", "", "none", "3" * 64],
]  # fmt: skip
R4 = _file("2025-06-12", "2025-06-12T23:30:00+02:00", "KR01_20250612_233000.wav")
R4_ROWS = [
    # added by the expert, no detected calls: one pass
    [*R4, "", "", "none", "0.97", "bats-v3", "1", "0", "0", "corrected", DAU, "echolocation", "anna",
     "2025-06-20T12:10:00+02:00", DAU, "echolocation", "4" * 64],
    [*R4, "noise", "noise", "none", "0.97", "bats-v3", "0", "0", "0", "corrected", "", "echolocation", "anna",
     "2025-06-20T12:10:00+02:00", "", "echolocation", "4" * 64],
]  # fmt: skip
R2 = _file("2025-06-12", "2025-06-13T01:30:00+02:00", "KR01_20250613_013000.wav")  # 01:30 belongs to 12 June
R2_ROWS = [
    # "Pipistrellus sp." narrowed to P. pygmaeus keeps its pass and the social call inside it
    [*R2, "", "", "echolocation;social_call", "0.55", "bats-v3", "1", "0", "1", "corrected", PYG,
     "echolocation;social_call", "anna", "2025-06-20T12:00:00+02:00", PYG, "echolocation;social_call", "2" * 64],
    [*R2, PIP_SP, "Pipistrellus sp.", "echolocation;social_call", "0.55", "bats-v3", "0", "0", "0", "corrected", "",
     "echolocation;social_call", "anna", "2025-06-20T12:00:00+02:00", "", "echolocation;social_call", "2" * 64],
]  # fmt: skip
R6 = _file("2025-06-25", "2025-06-25T22:40:00+02:00", "KR01_20250625_224000.wav")
R6_ROWS = [[*R6, PIP, "Pipistrellus sp.", "echolocation", "0.5", "bats-v3", "1", "0", "0", *NOT_REVIEWED, PIP,
            "echolocation", "6" * 64]]  # fmt: skip
R7 = _file("2025-08-20", "2025-08-20T23:00:00+02:00", "KR01_20250820_230000.wav")
R7_ROWS = [[*R7, PIP, "Pipistrellus sp.", "echolocation;social_call", "0.9", "bats-v3", "1", "0", "1",
            *NOT_REVIEWED, PIP, "echolocation;social_call", "7" * 64]]  # fmt: skip
KR01_ROWS = [*R1_ROWS, *R5_ROWS, *R3_ROWS, *R4_ROWS, *R2_ROWS, *R6_ROWS, *R7_ROWS]


def _read(blocks) -> list[list[str]]:
    text = "".join(blocks)
    return list(csv.reader(io.StringIO(text)))


def _site_rows(site, **kwargs) -> list[list[str]]:
    return _read(recordings_csv(Recording.objects.filter(visit__site=site), **kwargs))


def test_header_names_every_column_of_the_issue(survey) -> None:
    rows = _site_rows(survey.site)

    assert rows[0] == list(COLUMNS)
    assert rows[0] == [
        "project", "site_code", "site_name", "latitude", "longitude", "survey_night", "recorded_at", "file_name",
        "duration_s", "sample_rate_hz", "time_expansion", "auto_species", "auto_group", "auto_call_types",
        "confidence", "model_version", "passes", "feeding_buzzes", "social_calls", "review_status",
        "reviewed_species", "reviewed_call_type", "reviewer", "reviewed_at", "final_species", "final_call_type",
        "sha256",
    ]  # fmt: skip


def test_every_row_and_column_of_a_site_matches_the_hand_computed_survey(survey) -> None:
    rows = _site_rows(survey.site)

    assert rows[1:] == [[*KR01, *row] for row in KR01_ROWS]


def test_site_rows_are_blurred_for_a_fieldworker_when_a_sensitive_species_was_found_there(survey) -> None:
    SensitiveSpecies.objects.create(project=survey.project, species=DAU)  # R4 at KR01, added by the expert
    fieldworker = member(survey.project, Role.FIELDWORKER)
    blurred = blurred_site_ids(survey.project, fieldworker)

    rows = _site_rows(survey.site, blurred_site_ids=blurred)

    assert blurred == {survey.site.pk}
    assert rows[1:] == [[*KR01_BLURRED, *row] for row in KR01_ROWS]


def test_min_confidence_drops_uncertain_automatic_labels_but_keeps_expert_decisions(survey) -> None:
    rows = _site_rows(survey.site, filters=ReportFilters(min_confidence=0.6))

    # R5 (no label) and R6 (0.50) go; R2 (0.55) stays because an expert decided it
    assert rows[1:] == [[*KR01, *row] for row in [*R1_ROWS, *R3_ROWS, *R4_ROWS, *R2_ROWS, *R7_ROWS]]


def test_date_range_selects_survey_nights_from_noon_to_noon(survey) -> None:
    night = dt.date(2025, 6, 12)

    rows = _site_rows(survey.site, filters=ReportFilters(date_from=night, date_to=night))

    # R2 at 01:30 on 13 June still belongs to the night of 12 June; R6 and R7 are other nights
    assert [row[7] for row in rows[1:]] == [
        "KR01_20250612_221000.wav", "KR01_20250612_221000.wav", "KR01_20250612_224500.wav",
        "KR01_20250612_230000.wav", "KR01_20250612_230000.wav", "KR01_20250612_233000.wav",
        "KR01_20250612_233000.wav", "KR01_20250613_013000.wav", "KR01_20250613_013000.wav",
    ]  # fmt: skip


def test_project_export_lists_every_site_in_site_code_order(survey) -> None:
    rows = _read(recordings_csv(Recording.objects.filter(project=survey.project)))

    assert rows[1:-1] == [[*KR01, *row] for row in KR01_ROWS]
    assert rows[-1] == [
        "Kromme Rijn 2025", "KR02", "Amelisweerd", "52.071", "5.165", "2025-06-12", "2025-06-12T22:30:00+02:00",
        "KR02_20250612_223000.wav", "5", "384000", "1", PIP, "Pipistrellus sp.", "echolocation", "0.88", "bats-v3",
        "1", "0", "0", *NOT_REVIEWED, PIP, "echolocation", "8" * 64,
    ]  # fmt: skip


def test_counting_from_prediction_totals_agrees_with_counting_calls(survey) -> None:
    recordings = Recording.objects.filter(project=survey.project)

    def counts(pass_times: bool) -> list[tuple]:
        return [(r.recording.original_name, s.species, s.passes, s.feeding_buzzes, s.social_calls, s.auto_passes)
                for r in recording_results(recordings, pass_times=pass_times) for s in r.species]  # fmt: skip

    assert counts(pass_times=False) == counts(pass_times=True)


def test_small_chunks_give_the_same_rows_as_one_chunk(survey) -> None:
    assert _site_rows(survey.site, chunk_size=2) == _site_rows(survey.site)


def test_non_ascii_site_names_survive_as_utf8(survey) -> None:
    survey.site.name = "Kasteel Hoekelum, zolder (ï)"
    survey.site.save()

    text = "".join(recordings_csv(Recording.objects.filter(visit__site=survey.site)))

    assert "Kasteel Hoekelum, zolder (ï)" in text.encode("utf-8").decode("utf-8")
    assert '"Kasteel Hoekelum, zolder (ï)"' in text  # quoted: it holds a comma


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (3, "3"),
        (5.0, "5"),
        (0.93, "0.93"),
        (52.0907, "52.0907"),
        (1e-7, "0"),
        (-0.0, "0"),
        (100000.5, "100000.5"),
    ],
)
def test_numbers_are_plain_decimals(value, text) -> None:
    assert number(value) == text
