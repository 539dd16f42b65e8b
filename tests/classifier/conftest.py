"""Fixtures for the classifier's tests: media in a temporary folder, model versions, a fake and a real model.

- `fake_ml`: replaces `ml.model.load_model` and `ml.infer.analyse` with fakes that record what they were
  given and return a small, fixed analysis (or raise), so services and views are tested without torch.
- `tiny_model_path`: a real tiny CNN trained once per test session on synthetic calls (the same one the ml
  tests train, three classes: common pipistrelle, noctule, noise), for the tests that run the real thing.
- `wav_bytes(...)`: a small WAV in memory (a few ms of a 40 kHz tone), with optional time expansion header.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from django.core.files.base import ContentFile

from classifier import model_cache
from classifier.models import ModelVersion
from ml.labels import DEFAULT_LABEL_SET
from surveys.models import RecordingStatus, Role
from tests.factories import RecordingFactory, SiteFactory, VisitFactory, member

PIP = "Pipistrellus pipistrellus"
NOC = "Nyctalus noctula"
_names = itertools.count(1)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Iterator[Path]:
    """Media storage and the worker's checkpoint cache in fresh temporary folders; no model held in memory."""
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
    settings.MODEL_CACHE_DIR = tmp_path / "model-cache"
    model_cache.forget()
    yield root
    model_cache.forget()


@pytest.fixture(autouse=True)
def eager_celery(settings) -> None:
    """Tasks run in-process when queued. `delay_on_commit` waits for a commit that pytest-django's test
    transaction never makes: wrap the queueing in `django_capture_on_commit_callbacks(execute=True)`."""
    settings.CELERY_TASK_ALWAYS_EAGER = True


def wav_bytes(*, sample_rate_hz: int = 384_000, duration_s: float = 0.02, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sample_rate_hz * duration_s)) / sample_rate_hz
    samples = 0.3 * np.sin(2 * np.pi * min(40_000.0, sample_rate_hz / 4) * t) + 0.01 * rng.standard_normal(
        t.size
    )
    buffer = io.BytesIO()
    sf.write(buffer, samples.astype(np.float32), sample_rate_hz, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def make_model_version(*, name: str | None = None, activate: bool = False) -> ModelVersion:
    """A model version row whose file is not a real checkpoint (use with `fake_ml`)."""
    name = name or f"fake-{next(_names)}"
    content = f"fake checkpoint {name}".encode()
    version = ModelVersion(
        name=name,
        sha256=hashlib.sha256(content).hexdigest(),
        label_set=list(DEFAULT_LABEL_SET),
        call_types=["echolocation", "feeding_buzz", "social_call", "none"],
    )
    version.file.save(f"{name}.pt", ContentFile(content), save=False)
    version.save()
    if activate:
        from classifier.services import model_version_activate

        model_version_activate(model_version=version)
    return version


@pytest.fixture
def model_version(db) -> ModelVersion:
    return make_model_version(name="fake-active", activate=True)


@pytest.fixture
def visit(db):
    return VisitFactory(site=SiteFactory(code="KR01", name="Kromme Rijn", time_zone="Europe/Amsterdam"))


@pytest.fixture
def fieldworker(visit):
    return member(visit.site.project, Role.FIELDWORKER)


@pytest.fixture
def manager(visit):
    return member(visit.site.project, Role.MANAGER)


@pytest.fixture
def outsider(db):
    return member(SiteFactory().project, Role.MANAGER)  # a manager, but of another project


def ingested(visit, **fields):
    """An ingested recording of `visit` whose stored file is a real (tiny) WAV."""
    defaults = {
        "status": RecordingStatus.INGESTED,
        "sample_rate_hz": 384_000,
        "header_sample_rate_hz": 384_000,
        "time_expansion": 1.0,
        "duration_s": 0.02,
    }
    defaults.update(fields)
    content = defaults.pop("content", None) or wav_bytes(seed=next(_names))
    return RecordingFactory(visit=visit, content=content, **defaults)


# ------------------------------------------------------------------------------------------- a fake ml


@dataclass(frozen=True)
class FakeCall:
    start_s: float
    end_s: float
    species: str
    call_type: str = "echolocation"
    pass_index: int = 0
    low_hz: float = 42_000.0
    high_hz: float = 75_000.0
    peak_hz: float = 46_000.0
    snr_db: float = 24.0
    confidence: float = 0.93
    novel: bool = False


@dataclass(frozen=True)
class FakeAnalysis:
    """What `ml.infer.analyse` returns, with only the fields the services read."""

    calls: tuple[FakeCall, ...]
    passes: tuple[object, ...]
    species: str
    species_group: str
    species_present: tuple[str, ...]
    call_type: str
    call_types: tuple[str, ...]
    confidence: float
    top: tuple[tuple[str, float], ...]


def pipistrelle_and_noctule(confidence: float = 0.93) -> FakeAnalysis:
    calls = (
        FakeCall(0.010, 0.015, PIP, pass_index=0),
        FakeCall(0.090, 0.095, PIP, pass_index=0),
        FakeCall(0.170, 0.176, PIP, "feeding_buzz", pass_index=0),
        FakeCall(0.300, 0.315, NOC, pass_index=1, low_hz=18_000.0, high_hz=30_000.0, peak_hz=21_000.0),
        FakeCall(0.500, 0.515, NOC, pass_index=1, low_hz=18_000.0, high_hz=30_000.0, peak_hz=21_000.0),
    )
    return FakeAnalysis(
        calls=calls,
        passes=(SimpleNamespace(species=PIP), SimpleNamespace(species=NOC)),
        species=PIP,
        species_group="Pipistrellus sp.",
        species_present=(PIP, NOC),
        call_type="echolocation",
        call_types=("echolocation", "feeding_buzz"),
        confidence=confidence,
        top=((PIP, confidence), (NOC, 0.05), ("noise", 0.02)),
    )


@dataclass
class FakeML:
    """Stands in for ml.model.load_model and ml.infer.analyse; records every call."""

    result: FakeAnalysis = field(default_factory=pipistrelle_and_noctule)
    error: Exception | None = None
    loads: list[Path] = field(default_factory=list)
    analysed: list[tuple[Path, object, float | None]] = field(default_factory=list)

    def load_model(self, path) -> SimpleNamespace:
        path = Path(path)
        self.loads.append(path)
        return SimpleNamespace(path=path, checkpoint=path.read_bytes(), label_set=DEFAULT_LABEL_SET)

    def analyse(self, path, model, *, time_expansion=None, config=None) -> FakeAnalysis:
        assert Path(path).is_file()
        self.analysed.append((Path(path), model, time_expansion))
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def fake_ml(monkeypatch) -> FakeML:
    fake = FakeML()
    monkeypatch.setattr("ml.model.load_model", fake.load_model)
    monkeypatch.setattr("ml.infer.analyse", fake.analyse)
    return fake


# ------------------------------------------------------------------------------------------- a real model


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """A real checkpoint: the ml tests' tiny three-class CNN (trained in about half a minute, once)."""
    from tests.ml.test_infer import tiny_model_file

    return tiny_model_file(tmp_path_factory.getbasetemp() / "ml-tiny-model")


@pytest.fixture(scope="session")
def synthetic_pipistrelle_wav(tmp_path_factory) -> bytes:
    """Three seconds at 384 kHz with one common pipistrelle flying past (ml.synth, no noise sources)."""
    from tests.ml.test_infer import write_synthetic_file

    path = write_synthetic_file(tmp_path_factory.mktemp("classifier-wavs") / "pip.wav", (PIP,), seed=3)
    return path.read_bytes()
