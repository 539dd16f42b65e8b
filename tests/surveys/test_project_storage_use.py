"""What a project's recordings take on disk, and the disk's free space: shown to its managers only."""

from __future__ import annotations

import shutil

import pytest
from django.urls import reverse

from surveys.models import RecordingStatus, Role
from surveys.services import project_storage_use
from tests.factories import ProjectFactory, RecordingFactory, SiteFactory, UserFactory, VisitFactory, member

pytestmark = pytest.mark.django_db

GB = 1024**3
MB = 1024**2


@pytest.fixture
def project(media_root):
    return ProjectFactory(name="Vechtplassen")


@pytest.fixture
def recordings(project):
    """1.5 GB over three recordings (sizes as the rows record them), one of them unusable."""
    visit = VisitFactory(site=SiteFactory(project=project))
    return [
        RecordingFactory(visit=visit, size_bytes=GB),
        RecordingFactory(visit=visit, size_bytes=256 * MB),
        RecordingFactory(visit=visit, size_bytes=256 * MB, status=RecordingStatus.UNUSABLE),
    ]


@pytest.fixture
def other_projects_recording(db):
    return RecordingFactory(size_bytes=5 * GB)


@pytest.fixture
def disk(monkeypatch, settings):
    """A disk with 3 GB free and 1 GB kept in reserve."""
    settings.DISK_FREE_MARGIN_MB = 1024
    monkeypatch.setattr(
        shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(100 * GB, 97 * GB, 3 * GB)
    )


def _page(client, project, user) -> str:
    client.force_login(user)
    response = client.get(reverse("project_detail", args=[project.pk]))
    assert response.status_code == 200
    return response.content.decode()


# --------------------------------------------------------------------------------------------- the service


def test_storage_use_counts_the_projects_recordings_in_every_state(
    project, recordings, other_projects_recording, disk
):
    use = project_storage_use(project=project)

    assert use.recording_count == 3
    assert use.recording_bytes == GB + 512 * MB
    assert (use.disk.free_bytes, use.disk.margin_bytes) == (3 * GB, GB)
    assert not use.disk.below_margin


def test_storage_use_of_an_empty_project_is_zero(project, disk):
    use = project_storage_use(project=project)

    assert (use.recording_count, use.recording_bytes) == (0, 0)


# --------------------------------------------------------------------------------------------- the page


def test_manager_sees_recordings_size_and_free_disk_in_readable_units(
    client, project, recordings, other_projects_recording, disk, english
):
    page = _page(client, project, member(project, Role.MANAGER))

    assert 'id="project-storage"' in page
    assert "3 recordings, 1.5\xa0GB" in page
    assert "3.0\xa0GB (1.0\xa0GB kept in reserve)" in page
    assert "Enough free space for uploads." in page
    assert "cached spectrogram pictures are not" in page


def test_manager_is_warned_when_free_disk_is_below_the_reserve(
    client, project, recordings, disk, settings, english
):
    settings.DISK_FREE_MARGIN_MB = 4 * 1024

    page = _page(client, project, member(project, Role.MANAGER))

    assert "3.0\xa0GB (4.0\xa0GB kept in reserve)" in page
    assert "new uploads are refused until the operator frees space" in page
    assert "Enough free space for uploads." not in page


def test_staff_see_it_as_managers_of_every_project(client, project, recordings, disk, english):
    page = _page(client, project, UserFactory(is_staff=True))

    assert "3 recordings, 1.5\xa0GB" in page


@pytest.mark.parametrize("role", [Role.FIELDWORKER, Role.EXPERT])
def test_other_members_do_not_see_storage_use(client, project, recordings, disk, role, english):
    page = _page(client, project, member(project, role))

    assert 'id="project-storage"' not in page
    assert "1.5\xa0GB" not in page and "kept in reserve" not in page
