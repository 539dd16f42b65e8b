"""Recording page and file download: members only, the file never from a public URL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from surveys.models import RecordingStatus, Role
from tests.factories import RecordingFactory, SiteFactory, UserFactory, VisitFactory, member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def recording():
    visit = VisitFactory(site=SiteFactory(time_zone="Europe/Amsterdam"))
    return RecordingFactory(
        visit=visit,
        content=b"RIFF-real-enough-bytes",
        original_name="KW02_20250613_011502.wav",
        status=RecordingStatus.UNUSABLE,
        reason="True sample rate 44.1 kHz is under 100 kHz.",
        recorded_at=dt.datetime(2025, 6, 12, 23, 15, 2, tzinfo=dt.UTC),
        duration_s=1.25,
        sample_rate_hz=441000,
        header_sample_rate_hz=44100,
        time_expansion=10,
        channels=1,
        outside_night=True,
        metadata={"timestamp_source": "guano", "guano": {"Make": "Pettersson", "Model": "D240x", "TE": "10"}},
    )


def test_recording_page_shows_metadata_in_site_time(client, recording):
    client.force_login(member(recording.project, Role.FIELDWORKER))
    response = client.get(reverse("recording_detail", args=[recording.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "KW02_20250613_011502.wav" in page
    assert "2025-06-13 01:15:02" in page  # site time (CEST)
    assert "2025-06-12 23:15:02" in page  # UTC beside it
    assert "441 kHz" in page and "44.1 kHz" in page and "×10" in page and "1.25 s" in page
    assert "Pettersson" in page and "D240x" in page
    assert "True sample rate 44.1 kHz is under 100 kHz." in page
    assert "Stamped outside this visit's night" in page
    assert reverse("recording_download", args=[recording.pk]) in page


def test_outsider_gets_404_for_recording_page_and_file(client, recording):
    client.force_login(UserFactory())
    assert client.get(reverse("recording_detail", args=[recording.pk])).status_code == 404
    assert client.get(reverse("recording_download", args=[recording.pk])).status_code == 404


def test_anonymous_user_cannot_download(client, recording):
    response = client.get(reverse("recording_download", args=[recording.pk]))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_member_downloads_the_file_under_its_original_name(client, recording):
    client.force_login(member(recording.project, Role.FIELDWORKER))
    response = client.get(reverse("recording_download", args=[recording.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"RIFF-real-enough-bytes"
    assert response["Content-Disposition"] == 'attachment; filename="KW02_20250613_011502.wav"'
    assert response["Content-Type"] == "audio/wav"


def test_inline_download_feeds_the_audio_player(client, recording):
    client.force_login(member(recording.project, Role.FIELDWORKER))
    response = client.get(reverse("recording_download", args=[recording.pk]) + "?inline=1")
    assert response["Content-Disposition"].startswith("inline")


def test_missing_file_answers_404_not_500(client, recording):
    recording.file.delete(save=False)
    client.force_login(member(recording.project, Role.FIELDWORKER))
    assert client.get(reverse("recording_download", args=[recording.pk])).status_code == 404


def test_recording_views_refuse_post(client, recording):
    client.force_login(member(recording.project, Role.MANAGER))
    assert client.post(reverse("recording_detail", args=[recording.pk])).status_code == 405
    assert client.post(reverse("recording_download", args=[recording.pk])).status_code == 405
