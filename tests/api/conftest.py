"""Fixtures for the JSON API tests: the API's URLs, media in a temporary folder, members with tokens, a
client that sends the token, small WAVs, and a fake model for the quick analysis.

- `api_for(user)` -> an `ApiClient` whose calls carry a fresh token of that user;
- `fake_model`: an active model version whose loading and analysis are stand-ins (`ml.model.load_model`,
  `ml.infer.analyse`) returning a real `ml.infer.Analysis`, so the worker's code runs without torch.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from classifier import model_cache
from classifier.models import ModelVersion
from ml.infer import Analysis, CallResult, PassResult
from ml.labels import DEFAULT_LABEL_SET
from surveys.models import Recording, Role
from surveys.tokens import api_token_create
from tests.factories import SiteFactory, UserFactory, VisitFactory, member

API = "/api/v1"
PIP = "Pipistrellus pipistrellus"
_seeds = itertools.count(1)


@pytest.fixture(autouse=True)
def api_urls(settings) -> None:
    settings.ROOT_URLCONF = "tests.api.urls"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Iterator[Path]:
    """Media storage and the model cache in fresh temporary folders; no disk reserve; tasks run eagerly."""
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
    settings.MODEL_CACHE_DIR = tmp_path / "model-cache"
    # Queued tasks run in-process (never on a shared broker); ingest then reads the uploaded WAVs.
    settings.CELERY_TASK_ALWAYS_EAGER = True
    model_cache.forget()
    yield root
    model_cache.forget()


def wav_bytes(*, sample_rate_hz: int = 384_000, duration_s: float = 0.02, seed: int | None = None) -> bytes:
    """A tiny WAV of a 40 kHz tone and noise; every call differs unless `seed` is given."""
    rng = np.random.default_rng(next(_seeds) if seed is None else seed)
    t = np.arange(int(sample_rate_hz * duration_s)) / sample_rate_hz
    samples = 0.3 * np.sin(2 * np.pi * 40_000.0 * t) + 0.05 * rng.standard_normal(t.size)
    buffer = io.BytesIO()
    sf.write(buffer, samples.astype(np.float32), sample_rate_hz, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def upload_file(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def stored_files(media_root: Path) -> set[str]:
    """Names of the recording files in media, relative to it (as `Recording.file` holds them)."""
    folder = media_root / "recordings"
    return (
        {str(p.relative_to(media_root)) for p in folder.rglob("*") if p.is_file()}
        if folder.exists()
        else set()
    )


def assert_nothing_half_saved(media_root: Path) -> None:
    """Every stored file has its row and every row its file; nothing is left in the staging folder."""
    assert stored_files(media_root) == set(Recording.objects.values_list("file", flat=True))
    staging = media_root / ".staging"
    assert not staging.exists() or not any(staging.rglob("*"))


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass
class ApiClient:
    """Django's test client with the token in every request (the full middleware stack runs)."""

    client: Client
    key: str
    user: Any = None

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **(headers or {})}

    def get(self, path: str, data: dict | None = None, headers: dict[str, str] | None = None):
        return self.client.get(API + path, data, headers=self._headers(headers))

    def post_json(self, path: str, payload: Any, headers: dict[str, str] | None = None):
        return self.client.post(
            API + path, payload, content_type="application/json", headers=self._headers(headers)
        )

    def post_form(self, path: str, data: dict, headers: dict[str, str] | None = None):
        return self.client.post(API + path, data, headers=self._headers(headers))


@pytest.fixture
def api_for(db) -> Callable[..., ApiClient]:
    def make(user: Any, *, client: Client | None = None) -> ApiClient:
        _token, key = api_token_create(user=user, name="tests")
        return ApiClient(client=client or Client(), key=key, user=user)

    return make


@pytest.fixture
def visit(db):
    return VisitFactory(site=SiteFactory(code="KR01", name="Kromme Rijn", time_zone="Europe/Amsterdam"))


@pytest.fixture
def site(visit):
    return visit.site


@pytest.fixture
def project(visit):
    return visit.site.project


@pytest.fixture
def fieldworker(project):
    return member(project, Role.FIELDWORKER)


@pytest.fixture
def outsider(db):
    """A manager, but of another project."""
    return member(SiteFactory().project, Role.MANAGER)


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def api(api_for, fieldworker) -> ApiClient:
    return api_for(fieldworker)


@pytest.fixture
def outsider_api(api_for, outsider) -> ApiClient:
    return api_for(outsider)


def assert_error(response, status: int, code: str, field: str | None = ...) -> dict:
    """The response is the API's error shape with this status and code (and field, when given)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "field"}
    assert body["code"] == code
    assert body["message"]
    if field is not ...:
        assert body["field"] == field
    return body


# --------------------------------------------------------------------------------------------- a fake model


def pipistrelle_analysis(path: str = "x.wav", *, time_expansion: float = 1.0) -> Analysis:
    probabilities = ((PIP, 0.93), ("noise", 0.07))
    calls = tuple(
        CallResult(
            start_s=start,
            end_s=start + 0.005,
            low_hz=42_000.0,
            high_hz=75_000.0,
            peak_hz=46_000.0,
            snr_db=24.0,
            pass_index=0,
            species=PIP,
            call_type="echolocation",
            confidence=0.93,
            call_type_confidence=0.9,
            species_probabilities=probabilities,
            novel=start == 0.170,  # the last call unlike the training data (ml.novelty)
        )  # fmt: skip
        for start in (0.010, 0.090, 0.170)
    )
    return Analysis(
        file=str(path),
        sample_rate_hz=384_000,
        time_expansion=time_expansion,
        duration_s=0.2,
        calls=calls,
        passes=(
            PassResult(
                start_s=0.010,
                end_s=0.175,
                species=PIP,
                n_calls=3,
                call_types=("echolocation",),
                confidence=0.93,
            ),
        ),  # fmt: skip
        species=PIP,
        species_group="Pipistrellus sp.",
        species_present=(PIP,),
        call_type="echolocation",
        call_types=("echolocation",),
        confidence=0.93,
        top=probabilities,
        model_version="fake",
    )


@dataclass
class FakeModel:
    version: ModelVersion
    error: BaseException | None = None
    analysed: list[tuple[Path, float | None]] = field(default_factory=list)

    def load_model(self, path: Any) -> SimpleNamespace:
        return SimpleNamespace(path=Path(path), label_set=DEFAULT_LABEL_SET)

    def analyse(
        self, path: Any, model: Any, *, time_expansion: float | None = None, config: Any = None
    ) -> Analysis:
        assert Path(path).is_file(), "the worker reads the stored temporary file"
        self.analysed.append((Path(path), time_expansion))
        if self.error is not None:
            raise self.error
        return pipistrelle_analysis(str(path), time_expansion=time_expansion or 1.0)


@pytest.fixture
def fake_model(db, monkeypatch) -> FakeModel:
    content = b"fake checkpoint for the API tests"
    version = ModelVersion(name="fake-api", sha256=sha256(content), label_set=list(DEFAULT_LABEL_SET),
                           call_types=["echolocation", "feeding_buzz", "social_call", "none"], is_active=True)  # fmt: skip
    version.file.save("fake-api.pt", ContentFile(content), save=False)
    version.save()
    fake = FakeModel(version=version)
    monkeypatch.setattr("ml.model.load_model", fake.load_model)
    monkeypatch.setattr("ml.infer.analyse", fake.analyse)
    return fake
