"""Export of expert-labelled recordings as a training dataset that ml.dataset reads back."""

from __future__ import annotations

import csv

import pytest
import soundfile as sf
from django.core.management import call_command

from classifier.models import ReviewStatus
from classifier.review import decision_record
from classifier.review_export import review_export
from ml.dataset import read_dataset
from surveys.models import Role
from tests.classifier.conftest import wav_bytes
from tests.classifier.factories_review import DAU, NOC, PIP, ModelVersionFactory, analysed
from tests.factories import member

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(db):
    return ModelVersionFactory()


@pytest.fixture
def expert(visit):
    return member(visit.site.project, Role.EXPERT)


def _rows(path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_confirmed_corrected_and_no_bat_recordings_are_exported_and_read_back(visit, model, expert, tmp_path):
    confirmed = analysed(visit, model, species_present=(PIP,), content=wav_bytes(seed=1), time_expansion=10.0)
    corrected = analysed(visit, model, species_present=(PIP, NOC), content=wav_bytes(seed=2))
    no_bat = analysed(visit, model, species_present=(DAU,), content=wav_bytes(seed=3))
    unsure = analysed(visit, model, content=wav_bytes(seed=4))
    analysed(visit, model, content=wav_bytes(seed=5))  # never reviewed
    decision_record(recording=confirmed, reviewer=expert, status=ReviewStatus.CONFIRMED)
    decision_record(recording=corrected, reviewer=expert, status=ReviewStatus.CORRECTED, species_present=[NOC],
                    call_types=["echolocation", "social_call"])  # fmt: skip
    decision_record(recording=no_bat, reviewer=expert, status=ReviewStatus.NO_BAT)
    decision_record(recording=unsure, reviewer=expert, status=ReviewStatus.UNSURE)

    summary = review_export(folder=tmp_path / "dataset", project=visit.site.project)

    assert summary.files == 3 and summary.missing == ()
    files = {f.extra["recording_id"]: f for f in read_dataset(tmp_path / "dataset")}
    assert set(files) == {str(confirmed.pk), str(corrected.pk), str(no_bat.pk)}
    assert (files[str(confirmed.pk)].species, files[str(confirmed.pk)].time_expansion) == (PIP, 10.0)
    assert files[str(corrected.pk)].species == NOC
    assert files[str(corrected.pk)].call_types == ("echolocation", "social_call")
    assert (files[str(no_bat.pk)].species, files[str(no_bat.pk)].call_types) == ("noise", ("none",))
    for exported in files.values():
        assert sf.info(str(exported.path)).samplerate == 384_000  # the real audio was copied
    # The expert kept only the noctule: the pipistrelle calls the model found in that file become noctule
    # calls (the only bat the expert heard), so events.csv says what every detected call was.
    assert {e.species for e in files[str(corrected.pk)].events} == {NOC}
    assert {e.species for e in files[str(no_bat.pk)].events} == {"noise"}


def test_a_file_whose_calls_cannot_be_assigned_gets_no_events(visit, model, expert, tmp_path):
    # Two species kept, and a call of a third one the expert did not confirm: which of the two it was is a
    # guess, so the file label stands for its calls rather than a wrong event.
    recording = analysed(visit, model, species_present=(PIP, NOC),
                         calls=[(0.1, PIP, "echolocation"), (0.3, NOC, "echolocation"), (0.5, DAU, "echolocation")])  # fmt: skip
    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED, species_present=[PIP, NOC])

    summary = review_export(folder=tmp_path / "out")

    assert (summary.files, summary.files_with_events) == (1, 0)
    (exported,) = read_dataset(tmp_path / "out")
    assert exported.events == ()
    assert _rows(tmp_path / "out" / "labels.csv")[0]["species_present"] == f"{PIP};{NOC}"


def test_the_management_command_writes_the_dataset(visit, model, expert, tmp_path, capsys):
    recording = analysed(visit, model, species_present=(PIP,))
    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CONFIRMED)

    call_command("export_reviewed", str(tmp_path / "ds"), "--project", str(visit.site.project.pk))

    assert "Wrote 1 recordings" in capsys.readouterr().out
    assert _rows(tmp_path / "ds" / "labels.csv")[0]["species"] == PIP
