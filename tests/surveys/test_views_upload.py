"""The upload view: any member posts files; the answer lists each file's outcome.

Most tests replace the upload service (`surveys.services.recordings_upload`) with a stand-in, to pin down
what the view does with its answers; the last ones go through the real service, store and ingest
(the service's own tests cover every validation case).
"""

from __future__ import annotations

import types

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from surveys.models import Recording, RecordingStatus, Role
from surveys.services import UploadOutcome as Outcome
from tests.factories import UserFactory, VisitFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(monkeypatch):
    """Stands in for the upload service; records calls and answers with `service.outcomes`."""
    fake = types.SimpleNamespace(calls=[], outcomes=[])

    def recordings_upload(*, visit, user, files):
        fake.calls.append({"visit": visit, "user": user, "names": [f.name for f in files]})
        return fake.outcomes

    monkeypatch.setattr("surveys.views.visits.recordings_upload", recordings_upload)
    return fake


@pytest.fixture
def visit():
    return VisitFactory()


@pytest.fixture
def fieldworker(visit):
    return member(visit.site.project, Role.FIELDWORKER)


def _wav(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"RIFF....WAVEfmt ", content_type="audio/wav")


MIXED = [
    Outcome("a.wav", "accepted", "Stored; reading its metadata.", 1),
    Outcome("night.zip/b.wav", "accepted", "Stored; reading its metadata.", 2),
    Outcome("c.wav", "duplicate", "Already in this project (uploaded with visit S001 2025-06-12)."),
    Outcome("broken.wav", "rejected", "Not a WAV file: the RIFF header is missing."),
    Outcome("x.wac", "rejected", "Wildlife Acoustics .wac files are not read; convert them to WAV first."),
]


def test_plain_form_post_answers_with_full_page_and_per_file_results(client, visit, fieldworker, service):
    service.outcomes = MIXED
    client.force_login(fieldworker)
    response = client.post(
        reverse("visit_upload", args=[visit.pk]), {"files": [_wav("a.wav"), _wav("broken.wav")]}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page
    assert "2 accepted, 1 duplicate, 2 rejected" in page
    assert "Not a WAV file: the RIFF header is missing." in page
    assert "convert them to WAV first" in page
    assert service.calls == [{"visit": visit, "user": fieldworker, "names": ["a.wav", "broken.wav"]}]


def test_xhr_upload_answers_with_results_and_recordings_fragments(client, visit, fieldworker, service):
    service.outcomes = MIXED
    client.force_login(fieldworker)
    response = client.post(
        reverse("visit_upload", args=[visit.pk]),
        {"files": [_wav("a.wav")]},
        headers={"X-Requested-With": "XMLHttpRequest"},
    )
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "<html" not in fragment
    assert 'id="upload-results"' in fragment and 'id="recordings"' in fragment
    assert "night.zip/b.wav" in fragment


def test_htmx_upload_answers_with_the_fragment_too(client, visit, fieldworker, service):
    service.outcomes = MIXED[:1]
    client.force_login(fieldworker)
    response = client.post(
        reverse("visit_upload", args=[visit.pk]), {"files": [_wav("a.wav")]}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert (
        "<html" not in response.content.decode()
        and "1 accepted, 0 duplicate, 0 rejected" in response.content.decode()
    )


def test_upload_where_no_file_was_accepted_answers_400_with_the_reasons(client, visit, fieldworker, service):
    service.outcomes = [MIXED[2], MIXED[3]]
    client.force_login(fieldworker)
    response = client.post(
        reverse("visit_upload", args=[visit.pk]), {"files": [_wav("c.wav"), _wav("broken.wav")]}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "0 accepted, 1 duplicate, 1 rejected" in page and "the RIFF header is missing" in page


def test_upload_without_files_answers_400_with_a_clear_message(client, visit, fieldworker, service):
    client.force_login(fieldworker)
    response = client.post(
        reverse("visit_upload", args=[visit.pk]), {}, headers={"X-Requested-With": "XMLHttpRequest"}
    )
    assert response.status_code == 400
    assert "Choose at least one WAV or ZIP file to upload." in response.content.decode()
    assert service.calls == []


def test_outsider_gets_404_and_nothing_is_stored(client, visit, service):
    client.force_login(UserFactory())
    response = client.post(reverse("visit_upload", args=[visit.pk]), {"files": [_wav("a.wav")]})
    assert response.status_code == 404
    assert service.calls == []


def test_upload_to_a_missing_visit_answers_404(client, fieldworker, service):
    client.force_login(fieldworker)
    assert client.post(reverse("visit_upload", args=[987654]), {"files": [_wav("a.wav")]}).status_code == 404
    assert service.calls == []


def test_anonymous_upload_is_sent_to_login(client, visit, service):
    response = client.post(reverse("visit_upload", args=[visit.pk]), {"files": [_wav("a.wav")]})
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert service.calls == []


def test_upload_refuses_get(client, visit, fieldworker, service):
    client.force_login(fieldworker)
    assert client.get(reverse("visit_upload", args=[visit.pk])).status_code == 405


def test_upload_without_csrf_token_is_refused(visit, fieldworker, service):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(fieldworker)
    assert (
        strict.post(reverse("visit_upload", args=[visit.pk]), {"files": [_wav("a.wav")]}).status_code == 403
    )
    assert service.calls == []


# --- through the real upload service ------------------------------------------------------------------


def _real(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def test_real_upload_stores_ingests_and_lets_the_table_stop_polling(
    client,
    visit,
    fieldworker,
    wav,
    eager_celery,
    django_capture_on_commit_callbacks,
    assert_nothing_half_saved,
):
    client.force_login(fieldworker)
    files = [
        _real("RD01_20250612_231502.wav", wav()),
        _real("RD01_20250612_231733.wav", wav()),
        _real("corrupt.wav", b"this is a text file with a .wav name"),
        _real("night.wac", b"WAC binary"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("visit_upload", args=[visit.pk]),
            {"files": files},
            headers={"X-Requested-With": "XMLHttpRequest"},
        )

    assert response.status_code == 200
    fragment = response.content.decode()
    assert "2 accepted, 0 duplicate, 2 rejected" in fragment
    assert "corrupt.wav" in fragment and "night.wac" in fragment
    recordings = Recording.objects.filter(visit=visit)
    assert recordings.count() == 2
    assert {r.status for r in recordings} == {RecordingStatus.INGESTED}
    assert {r.sample_rate_hz for r in recordings} == {384_000}
    poll = client.get(reverse("visit_detail", args=[visit.pk]), headers={"HX-Request": "true"})
    assert poll.status_code == 286 and "RD01_20250612_231502.wav" in poll.content.decode()
    assert_nothing_half_saved()


def test_real_upload_of_only_a_duplicate_answers_400_and_stores_nothing_new(
    client, visit, fieldworker, wav, django_capture_on_commit_callbacks, assert_nothing_half_saved
):
    content = wav()
    client.force_login(fieldworker)
    url = reverse("visit_upload", args=[visit.pk])
    with django_capture_on_commit_callbacks(execute=False):
        assert client.post(url, {"files": [_real("a.wav", content)]}).status_code == 200
        response = client.post(url, {"files": [_real("a-copy.wav", content)]})
    assert response.status_code == 400
    assert "0 accepted, 1 duplicate, 0 rejected" in response.content.decode()
    assert Recording.objects.count() == 1
    assert_nothing_half_saved()
