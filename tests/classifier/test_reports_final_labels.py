"""The batched reading reports rely on (classifier.final_labels): the shown prediction with the columns a
report asks for, the ids filter, and labels built without the dataclass __init__ that equal ordinary ones."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io

import pytest
from django.utils import timezone

from classifier.final_labels import FinalLabel, final_labels, final_labels_with_predictions, id_in
from classifier.models import Prediction, ReviewStatus
from classifier.reports.recordings_csv import COLUMNS, recordings_csv
from classifier.review import decision_record
from surveys.models import Recording, Role
from tests.classifier.factories_review import NOC, PIP, ModelVersionFactory, analysed, predict
from tests.factories import RecordingFactory, member

pytestmark = pytest.mark.django_db

SER = "Eptesicus serotinus"


def _created(prediction: Prediction, moment: dt.datetime) -> Prediction:
    Prediction.objects.filter(pk=prediction.pk).update(created_at=moment)
    return prediction


def test_the_shown_prediction_is_the_active_models_else_the_newest_with_the_columns_asked_for(visit) -> None:
    active = ModelVersionFactory(is_active=True)
    old, new = ModelVersionFactory(is_active=False), ModelVersionFactory(is_active=False)
    noon = timezone.now().replace(microsecond=0)
    # r1: two inactive models, the newer one is shown
    r1 = analysed(visit, old, species_present=(PIP,), confidence=0.6)
    _created(Prediction.objects.get(recording=r1), noon)
    newer = predict(r1, new, species_present=(NOC,), confidence=0.7, store=False)
    _created(newer, noon + dt.timedelta(hours=1))
    # r2: the active model's older prediction wins over a newer one of another model
    shown_active = _created(predict(RecordingFactory(visit=visit), active, species_present=(SER,)), noon)
    r2 = shown_active.recording
    _created(predict(r2, new, species_present=(NOC,), store=False), noon + dt.timedelta(hours=1))
    # r3: two inactive predictions made at the same moment: the later row (higher id) is shown
    r3 = analysed(visit, old, species_present=(PIP,))
    _created(Prediction.objects.get(recording=r3), noon)
    tie = _created(predict(r3, new, species_present=(NOC,), store=False), noon)
    # r4: not analysed
    r4 = RecordingFactory(visit=visit)
    ids = [r1.pk, r2.pk, r3.pk, r4.pk]

    labels, shown = final_labels_with_predictions(ids, prediction_fields=("confidence", "model_version_id"))

    assert {pk: p.pk for pk, p in shown.items()} == {r1.pk: newer.pk, r2.pk: shown_active.pk, r3.pk: tie.pk}
    assert shown[r1.pk].values == (0.7, new.pk)
    assert (shown[r1.pk].species_present, shown[r1.pk].call_types) == ((NOC,), ("echolocation",))
    assert [labels[pk].prediction_id for pk in ids] == [newer.pk, shown_active.pk, tie.pk, None]
    assert [labels[pk].species_present for pk in ids] == [(NOC,), (SER,), (NOC,), ()]
    assert labels == final_labels(ids)
    assert labels[r4.pk].source == "none"


def test_an_empty_species_list_falls_back_to_the_species_column(visit) -> None:
    model = ModelVersionFactory(is_active=True)
    recording = analysed(visit, model, species_present=(PIP,))
    Prediction.objects.filter(recording=recording).update(species_present=[])

    _labels, shown = final_labels_with_predictions([recording.pk])

    assert shown[recording.pk].species_present == (PIP,)
    assert shown[recording.pk].values == ()


def test_a_label_nobody_reviewed_equals_an_ordinary_frozen_final_label(visit) -> None:
    model = ModelVersionFactory(is_active=True)
    recording = analysed(visit, model, species_present=(PIP, NOC), call_types=("echolocation", "feeding_buzz"))
    prediction = Prediction.objects.get(recording=recording)
    expected = FinalLabel(
        species_present=(PIP, NOC), call_types=("echolocation", "feeding_buzz"), source="prediction",
        review_status="not_reviewed", reviewer="", reviewed_at=None, reviewed_species=(), reviewed_call_types=(),
        removed_species=(), added_species=(), prediction_id=prediction.pk, decision_id=None,
    )  # fmt: skip

    label = final_labels([recording.pk])[recording.pk]

    assert label == expected
    assert hash(label) == hash(expected)
    assert (label.species, label.call_type, label.is_reviewed) == (PIP, "echolocation", False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        label.source = "review"  # type: ignore[misc]


def test_a_reviewed_label_still_reads_the_prediction_it_replaced(visit) -> None:
    model = ModelVersionFactory(is_active=True)
    recording = analysed(visit, model, species_present=(PIP,), confidence=0.8)
    expert = member(visit.site.project, Role.EXPERT, username="anna")
    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED, species_present=[NOC])

    labels, shown = final_labels_with_predictions([recording.pk], prediction_fields=("confidence",))

    label = labels[recording.pk]
    assert (label.source, label.species_present, label.removed_species, label.added_species) == (
        "review", (NOC,), (PIP,), (NOC,)
    )
    assert (shown[recording.pk].species_present, shown[recording.pk].values) == ((PIP,), (0.8,))


def test_the_ids_filter_selects_exactly_the_ids_given(visit) -> None:
    model = ModelVersionFactory(is_active=True)
    recordings = [analysed(visit, model) for _ in range(3)]
    chosen = [recordings[0].pk, recordings[2].pk]

    selected = Prediction.objects.filter(id_in(Prediction, "recording", chosen)).values_list("recording_id", flat=True)

    assert sorted(selected) == sorted(chosen)
    assert not Prediction.objects.filter(id_in(Prediction, "recording", [])).exists()
    assert sorted(Recording.objects.filter(id_in(Recording, "id", chosen)).values_list("pk", flat=True)) == chosen


def test_the_csv_shows_the_newest_prediction_when_no_model_is_active(visit) -> None:
    old, new = ModelVersionFactory(is_active=False), ModelVersionFactory(is_active=False)
    recording = analysed(visit, old, species_present=(PIP,), confidence=0.6)
    _created(Prediction.objects.get(recording=recording), timezone.now() - dt.timedelta(days=1))
    predict(recording, new, species_present=(NOC,), confidence=0.75, store=False)

    text = "".join(recordings_csv(Recording.objects.filter(pk=recording.pk)))

    header, row = csv.reader(io.StringIO(text))
    values = dict(zip(COLUMNS, row, strict=True))
    assert header == list(COLUMNS)
    assert (values["auto_species"], values["confidence"], values["model_version"]) == (NOC, "0.75", new.name)
    assert values["final_species"] == NOC
