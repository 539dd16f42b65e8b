"""A recording's status, prediction, calls and final label; a site's CSV reports."""

from __future__ import annotations

import csv
import io

import pytest

from classifier.reports.activity import COLUMNS as SUMMARY_COLUMNS
from classifier.reports.recordings_csv import COLUMNS as RECORDINGS_COLUMNS
from classifier.review import decision_record
from classifier.services import analysis_queue, recording_analyse
from surveys.models import RecordingStatus, Role
from tests.api.conftest import PIP, assert_error, wav_bytes
from tests.factories import RecordingFactory, member

pytestmark = pytest.mark.django_db

NOC = "Nyctalus noctula"


@pytest.fixture
def recording(visit):
    return RecordingFactory(
        visit=visit, content=wav_bytes(), status=RecordingStatus.INGESTED, sample_rate_hz=384_000,
        header_sample_rate_hz=384_000, time_expansion=1.0, duration_s=0.02,
    )  # fmt: skip


@pytest.fixture
def analysed(recording, fake_model):
    """The recording analysed by the active (fake) model through the real services."""
    analysis = analysis_queue(recording_id=recording.pk)
    recording_analyse(analysis_id=analysis.pk)
    return recording


def test_status_of_a_recording_waiting_for_analysis(api, recording, fake_model):
    analysis_queue(recording_id=recording.pk)
    body = api.get(f"/recordings/{recording.pk}").json()
    assert (body["id"], body["status"], body["sha256"]) == (recording.pk, "ingested", recording.sha256)
    assert body["analysis"]["state"] == "queued"
    assert body["analysis"]["model_version"] == "fake-api" and body["analysis"]["is_active_model"]


def test_status_of_an_unanalysed_recording_has_no_analysis(api, recording):
    assert api.get(f"/recordings/{recording.pk}").json()["analysis"] is None


def test_prediction_before_analysis_is_404_no_prediction(api, recording):
    body = assert_error(api.get(f"/recordings/{recording.pk}/prediction"), 404, "no_prediction")
    assert str(recording.pk) in body["message"]


def test_prediction_calls_and_label_after_analysis(api, analysed):
    prediction = api.get(f"/recordings/{analysed.pk}/prediction").json()
    assert prediction["species"] == PIP and prediction["species_present"] == [PIP]
    assert prediction["model_version"] == "fake-api" and prediction["n_calls"] == 3
    assert prediction["top"][0] == {"label": PIP, "probability": 0.93}

    calls = api.get(f"/recordings/{analysed.pk}/calls").json()
    assert calls["state"] == "done" and len(calls["calls"]) == 3
    assert calls["calls"][0]["start_s"] == pytest.approx(0.010) and calls["calls"][0]["species"] == PIP
    assert [call["novel"] for call in calls["calls"]] == [False, False, True]

    label = api.get(f"/recordings/{analysed.pk}/label").json()
    assert (label["source"], label["review_status"], label["species_present"]) == (
        "prediction",
        "not_reviewed",
        [PIP],
    )


def test_label_follows_an_experts_correction(api, analysed, project):
    expert = member(project, Role.EXPERT)
    decision_record(recording=analysed, reviewer=expert, status="corrected", species_present=[NOC],
                    call_types=["echolocation"])  # fmt: skip
    label = api.get(f"/recordings/{analysed.pk}/label").json()
    assert (label["source"], label["review_status"], label["species_present"]) == (
        "review",
        "corrected",
        [NOC],
    )
    assert label["reviewer"] == expert.username
    assert label["removed_species"] == [PIP] and label["added_species"] == [NOC]


def test_calls_of_an_unanalysed_recording_are_an_empty_list(api, recording):
    assert api.get(f"/recordings/{recording.pk}/calls").json() == {
        "recording_id": recording.pk,
        "model_version": None,
        "state": None,
        "calls": [],
    }


@pytest.mark.parametrize("suffix", ["", "/prediction", "/calls", "/label"])
def test_outsider_gets_404_for_a_recording(outsider_api, analysed, suffix):
    assert_error(outsider_api.get(f"/recordings/{analysed.pk}{suffix}"), 404, "not_found")


@pytest.mark.parametrize("suffix", ["", "/prediction", "/calls", "/label"])
def test_recording_endpoints_need_a_token(client, analysed, suffix):
    assert_error(client.get(f"/api/v1/recordings/{analysed.pk}{suffix}"), 401, "unauthorized")


# --------------------------------------------------------------------------------------------- reports


def _csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content if response.streaming else [response.content]).decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


def test_site_recordings_csv_is_streamed_with_a_row_per_recording_and_species(api, site, analysed):
    response = api.get(f"/sites/{site.pk}/reports/recordings.csv")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="kr01-recordings.csv"' in response["Content-Disposition"]
    header, *rows = _csv_rows(response)
    assert tuple(header) == RECORDINGS_COLUMNS
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    assert (row["site_code"], row["auto_species"], row["final_species"]) == ("KR01", PIP, PIP)


def test_site_summary_csv_has_the_summary_columns(api, site, analysed):
    response = api.get(f"/sites/{site.pk}/reports/summary.csv", {"auto": "true", "min_confidence": 50})
    assert response.status_code == 200
    header, *_rows = _csv_rows(response)
    assert tuple(header) == SUMMARY_COLUMNS


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"date_from": "2025-07-01", "date_to": "2025-06-01"}, None),
        ({"min_confidence": 101}, "min_confidence"),
        ({"date_from": "July"}, "date_from"),
    ],
)
def test_bad_report_filters_get_422(api, site, query, field):
    for report in ("recordings.csv", "summary.csv"):
        assert_error(api.get(f"/sites/{site.pk}/reports/{report}", query), 422, "invalid", field)


def test_outsider_gets_404_for_site_reports(outsider_api, site):
    for report in ("recordings.csv", "summary.csv"):
        assert_error(outsider_api.get(f"/sites/{site.pk}/reports/{report}"), 404, "not_found")
