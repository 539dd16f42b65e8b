"""End to end in Chromium: a fieldworker opens a site's report and downloads both CSVs.

The survey is the hand-computed one of tests/classifier/reports_fixture.py (its rows are checked column by
column in tests/classifier/test_reports_*.py); here the browser's downloads must carry the same header and
rows, with the report's filters applied.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from classifier.reports.activity import COLUMNS as SUMMARY_COLUMNS
from classifier.reports.recordings_csv import COLUMNS as RECORDINGS_COLUMNS
from surveys.models import Role
from tests.classifier.reports_fixture import DAU, NOC, PIP, PYG, build_survey
from tests.factories import member

# The reports' URLs until the lead includes classifier.urls_reports in batsite/urls.py.


@pytest.fixture
def media(settings, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


def _download(page: Page, which: str) -> tuple[str, list[list[str]]]:
    with page.expect_download() as info:
        page.locator(f"a[data-download={which}]").click()
    download = info.value
    text = Path(download.path()).read_text(encoding="utf-8")
    return download.suggested_filename, list(csv.reader(io.StringIO(text)))


def test_fieldworker_downloads_both_csvs_from_the_site_report(page: Page, log_in, live_server, media) -> None:
    survey = build_survey()
    log_in(page, member(survey.project, Role.FIELDWORKER))

    page.goto(reverse("site_report", args=[survey.site.pk]))
    expect(page.get_by_role("heading", name="Nightly summary")).to_be_visible()
    expect(page.locator(f'tr[data-species="{DAU}"]')).to_have_count(1)

    name, rows = _download(page, "recordings-csv")
    assert name == "kr01-recordings.csv"
    assert rows[0] == list(RECORDINGS_COLUMNS)
    assert len(rows) == 1 + 11  # 7 recordings at KR01, four of them with two species rows
    assert rows[1] == [
        "Kromme Rijn 2025", "KR01", "Dom, Utrecht", "52.0907", "5.1214", "2025-06-12", "2025-06-12T22:10:00+02:00",
        "KR01_20250612_221000.wav", "5", "384000", "1", PIP, "Pipistrellus sp.", "echolocation;feeding_buzz",
        "0.93", "bats-v3", "2", "1", "0", "not_reviewed", "", "", "", "", PIP, "echolocation;feeding_buzz", "1" * 64,
    ]  # fmt: skip

    name, rows = _download(page, "summary-csv")
    assert name == "kr01-nightly-summary.csv"
    assert rows[0] == list(SUMMARY_COLUMNS)
    column = {title: index for index, title in enumerate(rows[0])}
    assert [(r[column["night"]], r[column["species"]], r[column["passes"]]) for r in rows[1:]] == [
        ("2025-06-12", PIP, "2"), ("2025-06-12", DAU, "1"), ("2025-06-12", NOC, "1"), ("2025-06-12", PYG, "1"),
        ("2025-06-25", PIP, "1"), ("2025-08-20", PIP, "1"),
    ]  # fmt: skip
    assert rows[1][column["first_pass"]] == "2025-06-12T22:10:00+02:00"
    assert rows[1][column["first_pass_min_after_sunset"]] == "10.1"


def test_both_csvs_download_from_the_site_page(page: Page, log_in, live_server, media) -> None:
    survey = build_survey()
    log_in(page, member(survey.project, Role.FIELDWORKER))

    page.goto(reverse("site_detail", args=[survey.site.pk]))  # the report buttons load with the protocol checks

    name, rows = _download(page, "recordings-csv")
    assert name == "kr01-recordings.csv"
    assert rows[0] == list(RECORDINGS_COLUMNS)
    assert len(rows) == 1 + 11
    name, rows = _download(page, "summary-csv")
    assert name == "kr01-nightly-summary.csv"
    assert rows[0] == list(SUMMARY_COLUMNS)
    assert len(rows) == 1 + 6


def test_filters_on_the_page_apply_to_the_downloads(page: Page, log_in, live_server, media) -> None:
    survey = build_survey()
    log_in(page, member(survey.project, Role.FIELDWORKER))
    page.goto(reverse("site_report", args=[survey.site.pk]))

    page.get_by_label("Nights from").fill("2025-08-01")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("tr[data-night='2025-06-12']")).to_have_count(0)  # the fragment was swapped in

    _, recordings = _download(page, "recordings-csv")
    _, summary = _download(page, "summary-csv")
    assert [row[7] for row in recordings[1:]] == ["KR01_20250820_230000.wav"]
    assert [(row[5], row[6]) for row in summary[1:]] == [("2025-08-20", PIP)]
