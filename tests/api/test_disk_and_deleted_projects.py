"""The API's side of storage: a nearly full disk refuses uploads; a deleted project answers 404 everywhere."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from surveys.models import Recording, Role
from tests.api.conftest import (
    assert_error,
    assert_nothing_half_saved,
    sha256,
    upload_file,
    wav_bytes,
)
from tests.factories import RecordingFactory, member

pytestmark = pytest.mark.django_db


# ------------------------------------------------------------------------------------------------ a full disk


def test_upload_is_refused_with_507_and_the_reason_when_the_disk_is_almost_full(
    api, visit, settings, media_root
):
    settings.DISK_FREE_MARGIN_MB = 10**9  # a petabyte in reserve: no disk has that much free

    response = api.post_form(
        f"/visits/{visit.pk}/recordings",
        {"files": [upload_file("a.wav", wav_bytes()), upload_file("b.wav", wav_bytes())]},
    )

    message = assert_error(response, 507, "insufficient_storage", "files")["message"]
    assert "disk is almost full" in message and "nothing was stored" in message
    assert not Recording.objects.exists()
    assert_nothing_half_saved(media_root)


def test_the_same_upload_is_stored_once_the_disk_has_room_again(api, visit, settings, media_root):
    content = wav_bytes()
    settings.DISK_FREE_MARGIN_MB = 10**9
    api.post_form(f"/visits/{visit.pk}/recordings", {"files": [upload_file("a.wav", content)]})
    settings.DISK_FREE_MARGIN_MB = 0

    body = api.post_form(f"/visits/{visit.pk}/recordings", {"files": [upload_file("a.wav", content)]}).json()

    assert body["accepted"] == 1
    assert Recording.objects.get().sha256 == sha256(content)
    assert_nothing_half_saved(media_root)


# ------------------------------------------------------------------------------------------ a deleted project


def _delete_on_the_page(project) -> None:
    web = Client()
    web.force_login(member(project, Role.MANAGER))
    response = web.post(reverse("project_delete", args=[project.pk]), {"name": project.name})
    assert response.status_code == 302


def test_a_project_deleted_on_the_page_answers_404_in_the_api(api, project, site, visit, media_root):
    recording = RecordingFactory(visit=visit)
    _delete_on_the_page(project)

    assert api.get("/projects").json()["count"] == 0
    for path in (
        f"/projects/{project.pk}",
        f"/projects/{project.pk}/sites",
        f"/sites/{site.pk}",
        f"/sites/{site.pk}/visits",
        f"/visits/{visit.pk}",
        f"/visits/{visit.pk}/recordings",
        f"/recordings/{recording.pk}",
    ):
        assert_error(api.get(path), 404, "not_found")
    lookup = api.post_json(f"/projects/{project.pk}/recordings/lookup", {"sha256": [recording.sha256]})
    assert_error(lookup, 404, "not_found")
    new_visit = api.post_json(f"/sites/{site.pk}/visits", {"night": "2025-06-13"})
    assert_error(new_visit, 404, "not_found")


def test_an_api_upload_to_a_deleted_projects_visit_gets_404_and_stores_nothing(
    api, project, visit, media_root
):
    _delete_on_the_page(project)

    response = api.post_form(f"/visits/{visit.pk}/recordings", {"files": [upload_file("a.wav", wav_bytes())]})

    assert_error(response, 404, "not_found")
    assert not Recording.objects.exists()
    assert_nothing_half_saved(media_root)
