"""Fixtures for the survey app's tests: media in a temporary folder, synthetic WAVs, uploads, real data."""

from __future__ import annotations

import io
import itertools
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.utils import translation

from ml.metadata import write_guano
from surveys.models import Recording
from tests.factories import SiteFactory, UserFactory, VisitFactory

_seeds = itertools.count(1)


@pytest.fixture
def media_root(settings, tmp_path: Path) -> Path:
    """Media storage in a fresh temporary folder, with no disk reserve unless a test sets one."""
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
    settings.DISK_FREE_MARGIN_MB = 0
    return root


@pytest.fixture
def stored_files(media_root: Path) -> Callable[[], set[str]]:
    """The recording files in storage now, as storage names (`recordings/...`)."""

    def files() -> set[str]:
        folder = media_root / "recordings"
        if not folder.exists():
            return set()
        return {str(p.relative_to(media_root)) for p in folder.rglob("*") if p.is_file()}

    return files


@pytest.fixture
def assert_nothing_half_saved(media_root: Path, stored_files: Callable[[], set[str]]) -> Callable[[], None]:
    """Every stored file has its row and every row its file; no staging file is left behind."""

    def check() -> None:
        rows = set(Recording.objects.values_list("file", flat=True))
        assert stored_files() == rows
        staging = media_root / ".staging"
        assert not staging.exists() or not any(staging.rglob("*"))

    return check


@pytest.fixture
def english() -> Iterator[None]:
    """Messages in English whatever an earlier test left active (the service speaks the user's language)."""
    with translation.override("en"):
        yield


@pytest.fixture
def eager_celery(settings) -> None:
    """Tasks run in-process when queued (the real worker is exercised by the end-to-end test)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


def make_wav(
    *,
    sample_rate_hz: int = 384_000,
    duration_s: float = 0.05,
    subtype: str = "PCM_16",
    guano: Mapping[str, object] | None = None,
    seed: int | None = None,
) -> bytes:
    """A small WAV of noise and a 40 kHz tone; every call differs (its own seed) unless `seed` is given."""
    rng = np.random.default_rng(next(_seeds) if seed is None else seed)
    t = np.arange(int(sample_rate_hz * duration_s)) / sample_rate_hz
    samples = 0.3 * np.sin(2 * np.pi * min(40_000.0, sample_rate_hz / 4) * t) + 0.05 * rng.standard_normal(
        t.size
    )
    buffer = io.BytesIO()
    sf.write(buffer, samples.astype(np.float32), sample_rate_hz, format="WAV", subtype=subtype)
    if not guano:
        return buffer.getvalue()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.wav"
        path.write_bytes(buffer.getvalue())
        write_guano(path, dict(guano))
        return path.read_bytes()


@pytest.fixture
def wav() -> Callable[..., bytes]:
    return make_wav


def upload_file(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def upload_path(path: Path, name: str | None = None) -> UploadedFile:
    """A real file as the upload view would hand it over: on disk, read in chunks."""
    return UploadedFile(file=open(path, "rb"), name=name or path.name, size=path.stat().st_size)


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def visit(db):
    """A visit on the night of 12 June 2025 at a site in Europe/Amsterdam, real-time detector."""
    return VisitFactory(site=SiteFactory(time_zone="Europe/Amsterdam"))


@pytest.fixture
def shared_recordings() -> Path:
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "recordings"
