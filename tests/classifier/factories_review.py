"""Factories for review tests: analysed recordings (analysis, prediction, calls) already in the review queue."""

from __future__ import annotations

import hashlib
import itertools

import factory
from django.utils import timezone

from classifier.models import Analysis, AnalysisState, CallDetection, ModelVersion, Prediction
from classifier.review import review_entry_store
from ml.labels import DEFAULT_LABEL_SET, group_of
from surveys.models import RecordingStatus
from tests.factories import RecordingFactory

PIP = "Pipistrellus pipistrellus"
NOC = "Nyctalus noctula"
SER = "Eptesicus serotinus"  # Rode Lijst: kwetsbaar
DAU = "Myotis daubentonii"
_names = itertools.count(1)


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A model version row without a real checkpoint (review never loads the model)."""

    class Meta:
        model = ModelVersion

    name = factory.Sequence(lambda n: f"review-model-{n}")
    file = factory.LazyAttribute(lambda m: f"models/{m.name}.pt")
    sha256 = factory.LazyAttribute(lambda m: hashlib.sha256(m.name.encode()).hexdigest())
    label_set = factory.LazyFunction(lambda: list(DEFAULT_LABEL_SET))
    call_types = factory.LazyFunction(lambda: ["echolocation", "feeding_buzz", "social_call", "none"])
    is_active = True


def analysed(visit, model_version, *, store=True, **fields):
    """An ingested recording of `visit` with a done analysis, a prediction and its calls, queued for review.

    Prediction fields as for `predict`; other keywords go to the recording. `store=False` leaves the queue
    entry out (as for predictions stored before the review hook existed).
    """
    prediction_keys = ("species_present", "call_types", "confidence", "margin", "calls", "feeding_buzzes",
                       "social_calls")  # fmt: skip
    prediction_fields = {k: fields.pop(k) for k in prediction_keys if k in fields}
    recording_fields = {"status": RecordingStatus.INGESTED, "duration_s": 1.0, "time_expansion": 1.0,
                        "sample_rate_hz": 384_000, "recorded_at": timezone.now(), **fields}  # fmt: skip
    recording = RecordingFactory(visit=visit, **recording_fields)
    predict(recording, model_version, store=store, **prediction_fields)
    return recording


def predict(
    recording, model_version, *, species_present=(PIP,), call_types=("echolocation",), confidence=0.9, margin=0.6,
    calls=None, feeding_buzzes=0, social_calls=0, store=True,
) -> Prediction:  # fmt: skip
    """A done analysis of `recording` by `model_version` with its prediction and calls.

    `calls` is a list of (start_s, species, call_type); by default two echolocation calls per species.
    """
    analysis = Analysis.objects.create(recording=recording, model_version=model_version, state=AnalysisState.DONE,
                                       finished_at=timezone.now())  # fmt: skip
    species_present = tuple(species_present)
    if calls is None:
        calls = [(0.1 * i + 0.5 * k, s, "echolocation") for k, s in enumerate(species_present) for i in range(2)]
    for index, (start_s, species, call_type) in enumerate(calls):
        CallDetection.objects.create(analysis=analysis, start_s=start_s, end_s=start_s + 0.005, low_hz=40_000,
                                     high_hz=70_000, peak_hz=46_000, snr_db=20, species=species,
                                     call_type=call_type, confidence=confidence, pass_index=index // 2)  # fmt: skip
    runner_up = max(0.0, confidence - margin)
    prediction = Prediction.objects.create(
        analysis=analysis, recording=recording, model_version=model_version, species=species_present[0],
        species_group=group_of(species_present[0]), species_present=list(species_present),
        call_type=call_types[0], call_types=list(call_types), confidence=confidence, margin=margin,
        top=[[species_present[0], confidence], ["Nyctalus leisleri", runner_up], ["noise", 0.01]],
        n_calls=len(calls), n_passes=max(1, len(calls) // 2), feeding_buzzes=feeding_buzzes,
        social_calls=social_calls,
    )  # fmt: skip
    if store:
        review_entry_store(prediction=prediction)
    return prediction
