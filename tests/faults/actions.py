"""What the fault tests do through the app itself, run as `python -m tests.faults.actions ACTION ...` in a
subprocess whose environment points Django at the throwaway PostgreSQL and Redis of the test.

The test process never opens the app's database through Django (pytest-django's database is another
one); it starts these actions, then watches the tables with psycopg. Each action prints one JSON object.

    model PATH                write an untrained (random) checkpoint: analyses need a model, not a good one
    night MODEL N             register MODEL as active, upload N synthetic recordings of one visit; their
                              ingest is queued on the broker, and ingest queues their analysis
    lost-work MODEL           the state a lost worker and a lost broker leave behind, with no message on the
                              broker for any of it: an analysis claimed an hour ago that never finished, an
                              analysis queued an hour ago, and an upload an hour old that was never ingested
    train MODEL PER_CLASS     register MODEL as active and start a training run (tiny preset) on PER_CLASS
                              synthetic files per class, queued on the training queue
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

SAMPLE_RATE_HZ = 384_000
DURATION_S = 1.5
SPECIES = "Pipistrellus pipistrellus"
LABELS = (SPECIES, "Nyctalus noctula", "noise")


def write_model(path: Path) -> dict[str, object]:
    from ml.detect import DetectConfig
    from ml.features import CONTEXT_FEATURES, CropConfig
    from ml.labels import CALL_TYPES
    from ml.model import CallClassifier, ModelConfig, save_checkpoint
    from ml.spectrogram import SpectrogramConfig

    crop = CropConfig()
    module = CallClassifier(ModelConfig(
        n_species=len(LABELS), n_call_types=len(CALL_TYPES), n_freq_bins=crop.n_freq_bins, n_frames=crop.n_frames,
        n_context=len(CONTEXT_FEATURES), channels=(4, 8, 8), hidden_units=16,
    )).eval()  # fmt: skip
    save_checkpoint(
        path, module=module, label_set=LABELS, call_types=CALL_TYPES, temperature_species=1.0,
        temperature_call_type=1.0, spectrogram=SpectrogramConfig(), crop=crop, detect=DetectConfig(),
        metrics={}, manifest={}, baseline=None, version="faults-untrained",
    )  # fmt: skip
    return {"path": str(path)}



def _wav(seed: int) -> bytes:
    from tests.synthetic_audio import one_bat_wav

    return one_bat_wav(
        SPECIES, seed=seed, duration_s=DURATION_S, sample_rate_hz=SAMPLE_RATE_HZ, distance_m=3.0
    )


def _visit():
    from surveys.models import Role
    from tests.factories import VisitFactory, member

    visit = VisitFactory()
    user = member(visit.site.project, Role.MANAGER)
    return visit, user


def _activate(model_path: str):
    from classifier import services

    return services.model_version_register(path=Path(model_path), name="faults", activate=True)


def _upload(visit, user, count: int) -> list[int]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from surveys.services import recordings_upload

    files = [
        SimpleUploadedFile(f"KR01_20250612_23{15 + i // 60:02d}{i % 60:02d}.wav", _wav(seed=i + 1))
        for i in range(count)
    ]
    outcomes = recordings_upload(visit=visit, user=user, files=files)
    refused = [o for o in outcomes if o.recording_id is None]
    if refused:
        raise SystemExit(f"uploads refused: {refused}")
    return [o.recording_id for o in outcomes]


def night(model_path: str, count: int) -> dict[str, object]:
    version = _activate(model_path)
    visit, user = _visit()
    return {"model_version": version.pk, "visit": visit.pk, "recordings": _upload(visit, user, count)}


def lost_work(model_path: str) -> dict[str, object]:
    from django.utils import timezone

    from classifier import tasks as classifier_tasks
    from classifier.models import Analysis, AnalysisState
    from surveys import services as survey_services
    from surveys.models import Recording

    # The messages are "lost": none is ever sent.
    survey_services.ingest_recording.delay = lambda *args, **kwargs: None
    classifier_tasks.analyse_recording.delay_on_commit = lambda *args, **kwargs: None
    version = _activate(model_path)
    visit, user = _visit()
    claimed, queued, uploaded = _upload(visit, user, 3)
    for recording_id in (claimed, queued):
        survey_services.recording_ingest(recording_id=recording_id)
    an_hour_ago = timezone.now() - dt.timedelta(hours=1)
    Analysis.objects.filter(recording_id=claimed).update(
        state=AnalysisState.RUNNING, attempts=1, worker="a-worker-that-died", started_at=an_hour_ago,
        heartbeat_at=an_hour_ago, queued_at=an_hour_ago,
    )  # fmt: skip
    Analysis.objects.filter(recording_id=queued).update(queued_at=an_hour_ago)
    Recording.objects.filter(pk=uploaded).update(created_at=an_hour_ago)
    return {
        "model_version": version.pk,
        "claimed": Analysis.objects.get(recording_id=claimed).pk,
        "queued": Analysis.objects.get(recording_id=queued).pk,
        "uploaded": uploaded,
        "recordings": [claimed, queued, uploaded],
    }


def train(model_path: str, per_class: int) -> dict[str, object]:
    from classifier.training import training_run_start

    version = _activate(model_path)
    run = training_run_start(
        user=None, use_xeno_canto=False, use_reviewed=False, use_synthetic=True, synthetic_per_class=per_class,
        preset="tiny", seed=3,
    )  # fmt: skip
    return {"model_version": version.pk, "run": run.pk}


def main(argv: list[str]) -> None:
    action, *args = argv
    if action == "model":
        result = write_model(Path(args[0]))
    else:
        import django

        django.setup()
        if action == "night":
            result = night(args[0], int(args[1]))
        elif action == "lost-work":
            result = lost_work(args[0])
        elif action == "train":
            result = train(args[0], int(args[1]))
        else:
            raise SystemExit(f"unknown action {action!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
