"""Which recordings a project holds (by sha256), and uploads to a visit through the upload service."""

from __future__ import annotations

import pytest

from surveys.models import Recording, RecordingStatus
from tests.api.conftest import (
    API,
    assert_error,
    assert_nothing_half_saved,
    sha256,
    upload_file,
    wav_bytes,
)
from tests.factories import RecordingFactory, VisitFactory

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------------------------- lookup


def test_lookup_says_which_hashes_the_project_holds_in_any_visit(api, project, visit):
    other_visit = VisitFactory(site=visit.site)
    held = RecordingFactory(visit=other_visit, content=b"held")
    foreign = RecordingFactory(content=b"in another project")
    missing = "ab" * 32
    response = api.post_json(
        f"/projects/{project.pk}/recordings/lookup",
        {"sha256": [held.sha256.upper(), missing, foreign.sha256, held.sha256]},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["known"] == [{"sha256": held.sha256, "recording_id": held.pk, "visit_id": other_visit.pk}]
    assert body["missing"] == [missing, foreign.sha256]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"sha256": []}, "sha256"),
        ({"sha256": ["xyz"]}, "sha256.0"),
        ({}, "sha256"),
        ({"sha256": ["a" * 64] * 1001}, "sha256"),
    ],
)
def test_lookup_with_bad_hashes_gets_422(api, project, payload, field):
    assert_error(api.post_json(f"/projects/{project.pk}/recordings/lookup", payload), 422, "invalid", field)


def test_outsider_lookup_gets_404(outsider_api, project):
    response = outsider_api.post_json(f"/projects/{project.pk}/recordings/lookup", {"sha256": ["a" * 64]})
    assert_error(response, 404, "not_found")


# --------------------------------------------------------------------------------------------- upload


def test_upload_stores_each_file_and_answers_per_file(api, visit, fieldworker, media_root):
    first, second = wav_bytes(), wav_bytes()
    response = api.post_form(
        f"/visits/{visit.pk}/recordings",
        {"files": [upload_file("a.wav", first), upload_file("b.wav", second)]},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (2, 0, 0)
    ids = [f["recording_id"] for f in body["files"]]
    recordings = Recording.objects.filter(pk__in=ids)
    assert {r.sha256 for r in recordings} == {sha256(first), sha256(second)}
    assert {r.uploaded_by for r in recordings} == {fieldworker}
    assert {r.visit_id for r in recordings} == {visit.pk}
    assert_nothing_half_saved(media_root)


def test_upload_of_a_file_the_project_holds_is_a_duplicate_and_not_stored_again(api, visit, media_root):
    content = wav_bytes()
    api.post_form(f"/visits/{visit.pk}/recordings", {"files": [upload_file("a.wav", content)]})
    body = api.post_form(
        f"/visits/{visit.pk}/recordings", {"files": [upload_file("copy.wav", content)]}
    ).json()
    assert [f["status"] for f in body["files"]] == ["duplicate"]
    assert Recording.objects.count() == 1
    assert_nothing_half_saved(media_root)


def test_upload_rejects_what_the_web_upload_rejects_with_its_reason(api, visit, media_root):
    files = [
        upload_file("notes.txt", b"hello"),
        upload_file("fake.wav", b"ID3 this is an mp3"),
        upload_file("call.wac", b"x"),
    ]
    body = api.post_form(f"/visits/{visit.pk}/recordings", {"files": files}).json()
    assert body["rejected"] == 3 and body["accepted"] == 0
    messages = {f["name"]: f["message"] for f in body["files"]}
    assert "not a WAV file" in messages["notes.txt"]
    assert "MP3" in messages["fake.wav"]
    assert "Wildlife Acoustics" in messages["call.wac"]
    assert not Recording.objects.exists()
    assert_nothing_half_saved(media_root)


def test_a_file_whose_hash_differs_from_the_one_sent_is_rejected_and_not_stored(api, visit, media_root):
    whole = wav_bytes(duration_s=0.05)
    cut_off = whole[: len(whole) // 2]
    good = wav_bytes()
    response = api.post_form(
        f"/visits/{visit.pk}/recordings",
        {
            "files": [upload_file("cut.wav", cut_off), upload_file("good.wav", good)],
            "sha256": [sha256(whole), sha256(good)],
        },
    )
    body = response.json()
    statuses = {f["name"]: f["status"] for f in body["files"]}
    assert statuses == {"cut.wav": "rejected", "good.wav": "accepted"}
    assert "did not arrive whole" in next(f["message"] for f in body["files"] if f["name"] == "cut.wav")
    assert list(Recording.objects.values_list("sha256", flat=True)) == [sha256(good)]
    assert_nothing_half_saved(media_root)


def test_upload_with_a_hash_count_that_does_not_match_the_files_gets_422(api, visit):
    data = {"files": [upload_file("a.wav", wav_bytes())], "sha256": ["a" * 64, "b" * 64]}
    assert_error(api.post_form(f"/visits/{visit.pk}/recordings", data), 422, "invalid", "sha256")
    assert not Recording.objects.exists()


def test_upload_without_files_gets_422(api, visit):
    assert_error(api.post_form(f"/visits/{visit.pk}/recordings", {}), 422, "invalid", "files")


def test_outsider_upload_gets_404_and_stores_nothing(outsider_api, visit, media_root):
    response = outsider_api.post_form(
        f"/visits/{visit.pk}/recordings", {"files": [upload_file("a.wav", wav_bytes())]}
    )
    assert_error(response, 404, "not_found")
    assert not Recording.objects.exists()
    assert_nothing_half_saved(media_root)


def test_upload_with_a_bad_token_gets_401_and_stores_nothing(client, visit, media_root):
    response = client.post(
        f"{API}/visits/{visit.pk}/recordings", {"files": [upload_file("a.wav", wav_bytes())]},
        headers={"Authorization": "Bearer bst_wrong"},
    )  # fmt: skip
    assert_error(response, 401, "unauthorized")
    assert not Recording.objects.exists()
    assert_nothing_half_saved(media_root)


def test_upload_over_the_size_limit_is_rejected_per_file(api, visit, settings, media_root):
    settings.MAX_UPLOAD_MB = 1
    body = api.post_form(
        f"/visits/{visit.pk}/recordings", {"files": [upload_file("big.wav", wav_bytes(duration_s=2.0))]}
    ).json()
    assert body["files"][0]["status"] == "rejected"
    assert "larger than the upload limit" in body["files"][0]["message"]
    assert_nothing_half_saved(media_root)


def test_visit_recordings_lists_uploads_with_their_state(api, visit):
    api.post_form(f"/visits/{visit.pk}/recordings", {"files": [upload_file("a.wav", wav_bytes())]})
    body = api.get(f"/visits/{visit.pk}/recordings").json()
    assert body["count"] == 1
    item = body["items"][0]
    assert item["original_name"] == "a.wav" and item["site_id"] == visit.site_id
    assert item["status"] in {RecordingStatus.UPLOADED, RecordingStatus.INGESTED}
