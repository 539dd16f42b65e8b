"""MEDIA_STORAGE chooses where media lives: the MEDIA_ROOT folder (default) or an S3-compatible bucket."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db.models.fields.files import FieldFile

from batsite.env import env_choice
from batsite.settings import media_storage_backend
from classifier.storage_files import local_path
from surveys.models import Recording
from tests.scale.conftest import S3Server

S3_VARIABLES = (
    "AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "AWS_S3_REGION_NAME", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "AWS_S3_ADDRESSING_STYLE",
)  # fmt: skip


@pytest.fixture
def no_s3_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in S3_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_the_default_is_the_durable_media_folder(settings) -> None:
    backend = media_storage_backend("filesystem")

    assert backend["BACKEND"] == "batsite.storage.DurableFileSystemStorage"
    assert backend["OPTIONS"]["location"] == str(settings.MEDIA_ROOT)


def test_s3_without_a_bucket_refuses_to_start(no_s3_environment) -> None:
    with pytest.raises(ImproperlyConfigured, match="AWS_STORAGE_BUCKET_NAME"):
        media_storage_backend("s3")


def test_s3_reads_bucket_endpoint_and_keys_from_the_environment(no_s3_environment, monkeypatch) -> None:
    monkeypatch.setenv("AWS_STORAGE_BUCKET_NAME", "bats")
    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", "https://s3.example.org")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")

    backend = media_storage_backend("s3")

    assert backend["BACKEND"] == "storages.backends.s3.S3Storage"
    options = backend["OPTIONS"]
    assert (options["bucket_name"], options["endpoint_url"]) == ("bats", "https://s3.example.org")
    assert (options["access_key"], options["secret_key"]) == ("key", "secret")
    assert options["region_name"] is None  # unset: boto3's own default chain decides
    assert options["file_overwrite"] is False  # a second file of one name never replaces a recording


@pytest.mark.parametrize("raw", ["s4", "nfs", "local"])
def test_an_unknown_media_storage_is_refused_with_the_choices(monkeypatch, raw: str) -> None:
    monkeypatch.setenv("MEDIA_STORAGE", raw)

    with pytest.raises(ImproperlyConfigured, match="filesystem, s3"):
        env_choice("MEDIA_STORAGE", "filesystem", ("filesystem", "s3"))


def test_media_storage_is_case_insensitive_and_empty_means_the_default(monkeypatch) -> None:
    monkeypatch.setenv("MEDIA_STORAGE", " S3 ")
    assert env_choice("MEDIA_STORAGE", "filesystem", ("filesystem", "s3")) == "s3"
    monkeypatch.setenv("MEDIA_STORAGE", "")
    assert env_choice("MEDIA_STORAGE", "filesystem", ("filesystem", "s3")) == "filesystem"


def test_a_task_reads_an_object_in_the_bucket_through_a_temporary_local_copy(s3_media: S3Server) -> None:
    name = storages["default"].save("recordings/scale/a.wav", ContentFile(b"RIFF....WAVE", name="a.wav"))
    field_file = FieldFile(None, Recording._meta.get_field("file"), name)

    with local_path(field_file) as path:
        copy = path
        assert path.read_bytes() == b"RIFF....WAVE"
    assert not copy.exists()  # the copy is gone once the task is done with it
    assert name in s3_media.keys()
