"""Uploads are on disk before they are acknowledged, and a full disk refuses them cleanly.

`os.fsync` is replaced by a recorder that notes which file or folder each call flushed (read back from
/proc/self/fd), beside the other events that matter for ordering: the staged file's rename into place
and the recording row's insert. A recording is safe once its data and its folder entry are synced; the
user may be told "Stored" only after that.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from batsite.storage import DurableFileSystemStorage
from surveys import uploads
from surveys.models import Recording, Role
from tests.factories import member
from tests.surveys.conftest import make_wav, upload_file

pytestmark = pytest.mark.django_db

DURABLE = "batsite.storage.DurableFileSystemStorage"


@dataclass
class Events:
    """What happened, in order: ("fsync", path), ("rename", target), ("row", file name)."""

    log: list[tuple[str, str]] = field(default_factory=list)

    def synced(self) -> list[str]:
        return [path for kind, path in self.log if kind == "fsync"]

    def index(self, kind: str, path: Path | str) -> int:
        return self.log.index((kind, str(path)))


@pytest.fixture
def events(monkeypatch) -> Events:
    recorded = Events()
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd: int) -> None:
        recorded.log.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def rename(source: str, target: str) -> None:
        real_rename(source, target)
        recorded.log.append(("rename", str(Path(target).resolve())))

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    real_save = Recording.save

    def save(self: Recording, *args: object, **kwargs: object) -> None:
        if self.pk is None:
            recorded.log.append(("row", self.file.name))
        real_save(self, *args, **kwargs)

    monkeypatch.setattr(Recording, "save", save)
    return recorded


@pytest.fixture
def durable_storage(settings, media_root: Path) -> Path:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": DURABLE, "OPTIONS": {"location": str(media_root)}},
    }
    return media_root.resolve()


@pytest.fixture
def fieldworker(visit):
    return member(visit.site.project, Role.FIELDWORKER)


# ------------------------------------------------------------------------------------------------ the storage


def test_saving_syncs_the_file_then_its_folder_and_every_folder_it_created(tmp_path, events):
    root = tmp_path.resolve()
    storage = DurableFileSystemStorage(location=root)

    name = storage.save("recordings/7/ab/tone.wav", ContentFile(b"RIFF data"))

    stored = root / name
    assert stored.read_bytes() == b"RIFF data"
    # The new folders recordings/, 7/ and ab/ each gained an entry, and so did the root that holds them.
    assert events.synced() == [
        str(p) for p in (stored, stored.parent, root / "recordings/7", root / "recordings", root)
    ]


def test_saving_into_an_existing_folder_syncs_only_the_file_and_that_folder(tmp_path, events):
    root = tmp_path.resolve()
    storage = DurableFileSystemStorage(location=root)
    storage.save("recordings/first.wav", ContentFile(b"1"))
    events.log.clear()

    name = storage.save("recordings/second.wav", ContentFile(b"2"))

    assert events.synced() == [str(root / name), str(root / "recordings")]


def test_a_staged_file_is_renamed_into_place_and_its_folder_synced_after_the_rename(tmp_path, events):
    root = tmp_path.resolve()
    storage = DurableFileSystemStorage(location=root)
    staged_path = root / "staged.wav"
    staged_path.write_bytes(b"RIFF staged")
    staged = uploads.StagedFile(path=staged_path, sha256="0" * 64, size_bytes=11)
    content = uploads.StagedContent(staged)
    try:
        name = storage.save("recordings/x.wav", content)
    finally:
        content.close()

    stored = root / name
    assert not staged_path.exists(), "moved, not copied"
    assert events.index("rename", stored) < events.index("fsync", stored.parent)


# -------------------------------------------------------------------------------------------- the upload view


def _post(client, visit, *files):
    return client.post(reverse("visit_upload", args=[visit.pk]), {"files": list(files)})


def test_upload_view_answers_only_after_the_file_and_its_folder_are_synced(
    client, visit, fieldworker, durable_storage, events
):
    client.force_login(fieldworker)

    response = _post(client, visit, upload_file("a.wav", make_wav()))

    assert response.status_code == 200
    recording = Recording.objects.get()
    stored = durable_storage / recording.file.name
    assert stored.is_file()
    # Data first (still in staging), then the rename, then the folder entry; the row only after all that.
    staged_sync = next(p for p in events.synced() if "/.staging/" in p and p.endswith("/a.wav"))
    assert events.index("fsync", staged_sync) < events.index("rename", stored)
    assert events.index("rename", stored) < events.index("fsync", stored.parent)
    assert events.index("fsync", stored.parent) < events.index("row", recording.file.name)


def test_upload_is_synced_with_the_plain_file_system_storage_too(
    client, visit, fieldworker, media_root, events
):
    # Until settings switch the backend, the upload service syncs the file and its folders itself.
    client.force_login(fieldworker)

    assert _post(client, visit, upload_file("a.wav", make_wav())).status_code == 200

    recording = Recording.objects.get()
    stored = media_root.resolve() / recording.file.name
    for path in (stored, stored.parent, stored.parent.parent, media_root.resolve() / "recordings"):
        assert events.index("fsync", path) < events.index("row", recording.file.name)


def test_a_failing_fsync_refuses_the_file_and_keeps_nothing(
    client, visit, fieldworker, durable_storage, monkeypatch, assert_nothing_half_saved
):
    def broken_fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(durable_storage / "recordings")):
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    client.force_login(fieldworker)

    response = _post(client, visit, upload_file("a.wav", make_wav()))

    assert response.status_code == 400
    assert "could not be stored because of an error on the server" in response.content.decode()
    assert not Recording.objects.exists()
    assert_nothing_half_saved()


# ------------------------------------------------------------------------------------------------ a full disk


@pytest.fixture
def full_disk(settings) -> None:
    settings.DISK_FREE_MARGIN_MB = 10**9  # a petabyte in reserve: no disk has that much free


def test_upload_view_refuses_every_file_when_the_disk_is_almost_full(
    client, visit, fieldworker, media_root, full_disk, english, assert_nothing_half_saved
):
    client.force_login(fieldworker)

    response = _post(client, visit, upload_file("a.wav", make_wav()), upload_file("b.wav", make_wav()))

    assert response.status_code == 400
    page = response.content.decode()
    assert page.count("disk is almost full") == 2
    assert "nothing was stored" in page
    assert not Recording.objects.exists()
    assert_nothing_half_saved()


def test_a_duplicate_costs_no_fsync(client, visit, fieldworker, durable_storage, events):
    content = make_wav()
    client.force_login(fieldworker)
    _post(client, visit, upload_file("a.wav", content))
    events.log.clear()

    response = _post(client, visit, upload_file("copy.wav", content))

    assert response.status_code == 400  # nothing new was stored
    assert Recording.objects.count() == 1
    assert events.synced() == []
