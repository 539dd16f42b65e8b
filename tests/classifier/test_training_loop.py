"""The learning loop for real: the active model gets a species wrong, an expert labels those recordings, a
retraining run learns them, and the new version names that species on recordings it never saw.

Everything real and small: the session's tiny CNN (common pipistrelle, noctule, noise; tests/ml/test_infer)
is the active model; Daubenton's bat recordings are synthesised (ml.synth), uploaded as recordings, analysed
by the active model through the normal service, corrected through the review service, exported by
classifier.review_export inside the training run, and the run trains on them plus synthetic calls of the
active model's classes ("tiny" preset, one thread).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier import services, training
from classifier.models import JobState, ModelVersion, Prediction, ReviewStatus
from classifier.review import decision_record
from surveys.models import RecordingStatus, Role
from tests.classifier.conftest import ingested
from tests.factories import member
from tests.ml.test_infer import write_synthetic_file

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

DAU = "Myotis daubentonii"
LABELLED = 10  # recordings the expert corrects (about a fifth land in the frozen test split)
HELD_OUT = 3  # recordings no run trains on, analysed by both versions at the end


@pytest.fixture(autouse=True)
def training_folders(settings, tmp_path: Path) -> None:
    settings.TRAINING_DIR = tmp_path / "training"
    settings.XENO_CANTO_DIR = tmp_path / "xeno-canto"


def _daubenton_recording(visit, folder: Path, seed: int):
    path = write_synthetic_file(folder / f"dau-{seed}.wav", (DAU,), seed=seed, duration_s=2.0)
    return ingested(visit, content=path.read_bytes(), duration_s=2.0, original_name=path.name)


def _analyse(recording, model_version: ModelVersion, django_capture_on_commit_callbacks) -> Prediction:
    with django_capture_on_commit_callbacks(execute=True):
        services.analysis_queue(recording_id=recording.pk, model_version=model_version)
    return Prediction.objects.get(recording=recording, model_version=model_version)


def test_a_species_the_model_gets_wrong_is_learned_from_expert_labels(
    visit, tiny_model_path, tmp_path, django_capture_on_commit_callbacks
) -> None:
    active = services.model_version_register(path=tiny_model_path, name="tiny-active", activate=True)
    expert = member(visit.site.project, Role.EXPERT)
    labelled = [_daubenton_recording(visit, tmp_path, seed) for seed in range(100, 100 + LABELLED)]
    held_out = [_daubenton_recording(visit, tmp_path, seed) for seed in range(200, 200 + HELD_OUT)]

    # The active model has no Daubenton's class: it calls these recordings something else.
    before = [_analyse(r, active, django_capture_on_commit_callbacks) for r in labelled + held_out]
    assert all(p.species != DAU for p in before)

    for recording in labelled:
        decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED,
                        species_present=[DAU], call_types=["echolocation"])  # fmt: skip

    # 6 synthetic files per class: with 4, the run's 3 validation files gave a temperature that left the new
    # model's Daubenton's answers just under the confidence threshold (0.6-0.7) on the ml.synth v2 files.
    with django_capture_on_commit_callbacks(execute=True):  # the eager worker runs the queued run
        run = training.training_run_start(user=expert, use_xeno_canto=False, use_reviewed=True,
                                          use_synthetic=True, synthetic_per_class=6, preset="tiny", seed=1)  # fmt: skip
    run.refresh_from_db()

    assert run.state == JobState.DONE, run.error
    new = run.model_version
    assert DAU in new.label_set and not new.is_active
    assert (
        new.manifest["n_files"]
        == run.data_summary["reviewed"]["files"] + run.data_summary["synthetic"]["files"]
    )
    assert run.data_summary["reviewed"]["files"] == LABELLED
    assert run.compared_with == active
    assert run.comparison["current"]["version"] and run.comparison["new"]["version"]

    after = [_analyse(r, new, django_capture_on_commit_callbacks) for r in held_out]
    assert [p.species_present[0] if p.species_present else p.species for p in after] == [DAU] * HELD_OUT
    assert all(r.status == RecordingStatus.INGESTED for r in held_out)
