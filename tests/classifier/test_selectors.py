"""Display queries: progress counts, which result a recording shows, filters, paging, the site summary."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from classifier import selectors
from classifier.models import Analysis, AnalysisState, CallDetection, Prediction
from classifier.selectors import RecordingFilters
from surveys.models import RecordingStatus
from tests.classifier.conftest import NOC, PIP, ingested, make_model_version
from tests.factories import RecordingFactory, VisitFactory

pytestmark = pytest.mark.django_db

MYO_SP = "Myotis sp."
DAUB = "Myotis daubentonii"


def add_result(
    recording,
    model_version,
    *,
    species=(PIP,),
    call_types=("echolocation",),
    confidence=0.95,
    state=AnalysisState.DONE,
    calls=(),
) -> Analysis:
    """An analysis (with its prediction when done) and `calls` given as (species, pass_index)."""
    analysis = Analysis.objects.create(
        recording=recording,
        model_version=model_version,
        state=state,
        finished_at=timezone.now(),
        error="boom" if state == "failed" else "",
    )
    if state == AnalysisState.DONE:
        Prediction.objects.create(
            analysis=analysis,
            recording=recording,
            model_version=model_version,
            species=species[0],
            species_group="",
            species_present=list(species),
            call_type=call_types[0],
            call_types=list(call_types),
            confidence=confidence,
            top=[[species[0], confidence]],
        )
    for i, (label, pass_index) in enumerate(calls):
        CallDetection.objects.create(
            analysis=analysis,
            start_s=i * 0.1,
            end_s=i * 0.1 + 0.005,
            low_hz=40e3,
            high_hz=70e3,
            peak_hz=45e3,
            snr_db=20,
            species=label,
            call_type="echolocation",
            confidence=0.9,
            pass_index=pass_index,
        )
    return analysis


def test_progress_counts_recording_status_and_the_active_models_states(visit):
    model = make_model_version(name="m", activate=True)
    older = make_model_version(name="older")
    RecordingFactory(visit=visit, status=RecordingStatus.UPLOADED)
    ingested(visit, status=RecordingStatus.UNUSABLE)
    ingested(visit, status=RecordingStatus.FAILED)
    add_result(ingested(visit), model)
    add_result(ingested(visit), model, state=AnalysisState.FAILED)
    add_result(ingested(visit), model, state=AnalysisState.QUEUED)
    add_result(ingested(visit), older)  # done, but by another model: not analysed by the active one

    progress = selectors.visit_progress(visit)

    assert (progress.total, progress.uploaded, progress.unusable) == (7, 1, 1)
    assert (progress.analysed, progress.failed, progress.queued, progress.not_queued) == (1, 2, 1, 1)
    assert progress.pending and progress.finished == 4


def test_progress_stops_being_pending_when_nothing_waits(visit):
    model = make_model_version(name="m", activate=True)
    analysis = add_result(ingested(visit), model, state=AnalysisState.RUNNING)
    before = selectors.visit_progress(visit)

    Analysis.objects.filter(pk=analysis.pk).update(state=AnalysisState.DONE)
    after = selectors.visit_progress(visit)

    assert before.pending and not after.pending
    assert before.signature != after.signature
    assert after.percent_finished == 100


def test_a_night_without_recordings_is_complete_and_empty(visit):
    progress = selectors.visit_progress(visit)
    assert progress.total == 0 and not progress.pending


def test_rows_show_the_active_models_prediction_else_the_newest(visit):
    old = make_model_version(name="old")
    active = make_model_version(name="active", activate=True)
    both = ingested(visit, original_name="a.wav")
    add_result(both, old, species=(NOC,))
    add_result(both, active, species=(PIP,))
    only_old = ingested(visit, original_name="b.wav")
    add_result(only_old, old, species=(NOC,))

    page = selectors.visit_recordings(visit, RecordingFilters())

    rows = {row.recording.original_name: row for row in page.rows}
    assert rows["a.wav"].prediction.species == PIP and not rows["a.wav"].prediction_is_older
    assert rows["b.wav"].prediction.species == NOC and rows["b.wav"].prediction_is_older
    assert rows["b.wav"].state == "not_queued"


def test_filters_match_any_species_present_call_type_band_and_status(visit):
    model = make_model_version(name="m", activate=True)
    pip_and_noctule = ingested(visit, original_name="both.wav")
    add_result(pip_and_noctule, model, species=(PIP, NOC), call_types=("echolocation", "social_call"))
    unsure = ingested(visit, original_name="unsure.wav")
    add_result(unsure, model, species=(MYO_SP,), confidence=0.45)
    failed = ingested(visit, original_name="failed.wav")
    add_result(failed, model, state=AnalysisState.FAILED)
    ingested(visit, original_name="unusable.wav", status=RecordingStatus.UNUSABLE)
    RecordingFactory(visit=visit, original_name="waiting.wav", status=RecordingStatus.UPLOADED)

    def names(**filters) -> list[str]:
        return [
            row.recording.original_name
            for row in selectors.visit_recordings(visit, RecordingFilters(**filters)).rows
        ]

    assert names(species=NOC) == ["both.wav"]  # not dominant, still present
    assert names(species="Nyctalus") == []  # whole ids only
    assert names(call_type="social_call") == ["both.wav"]
    assert names(confidence="low") == ["unsure.wav"]
    assert names(confidence="high") == ["both.wav"]
    assert names(status="failed") == ["failed.wav"]
    assert names(status="unusable") == ["unusable.wav"]
    assert names(status="waiting") == ["waiting.wav"]
    assert sorted(names(status="analysed")) == ["both.wav", "unsure.wav"]
    assert names(species=PIP, confidence="low") == []


def test_recordings_are_paged_in_time_order(visit):
    start = dt.datetime(2025, 6, 12, 20, 0, tzinfo=dt.UTC)
    for minute in (3, 1, 2):
        ingested(visit, recorded_at=start + dt.timedelta(minutes=minute), original_name=f"r{minute}.wav")

    first = selectors.visit_recordings(visit, RecordingFilters(), page_number=1, per_page=2)
    second = selectors.visit_recordings(visit, RecordingFilters(), page_number=2, per_page=2)

    assert [r.recording.original_name for r in first.rows + second.rows] == ["r1.wav", "r2.wav", "r3.wav"]
    assert first.page.paginator.num_pages == 2


def test_visit_species_lists_what_any_model_found_noise_last(visit):
    model = make_model_version(name="m", activate=True)
    add_result(ingested(visit), model, species=("noise",))
    add_result(ingested(visit), model, species=(PIP, NOC))
    add_result(ingested(VisitFactory()), model, species=(DAUB,))  # another night

    assert selectors.visit_species(visit) == [NOC, PIP, "noise"]


def test_site_summary_counts_recordings_passes_and_first_and_last_nights(visit):
    model = make_model_version(name="m", activate=True)
    later = VisitFactory(site=visit.site, night=dt.date(2025, 7, 3))
    add_result(
        ingested(visit), model, species=(PIP, NOC), calls=[(PIP, 0), (PIP, 0), (NOC, 1), (NOC, 1), (PIP, 2)]
    )
    add_result(ingested(later), model, species=(PIP,), calls=[(PIP, 0), (PIP, 0), (PIP, -1)])
    # an uncertain Daubenton's pass that the recording reports at group level counts for the group
    add_result(ingested(later), model, species=(MYO_SP,), calls=[(DAUB, 0), (DAUB, 0)])
    add_result(ingested(later), model, species=("noise",))
    add_result(ingested(VisitFactory()), model, species=(NOC,))  # another site

    summary = {row.species: row for row in selectors.site_species_summary(visit.site)}

    assert set(summary) == {PIP, NOC, MYO_SP}
    assert (summary[PIP].recordings, summary[PIP].passes) == (2, 3)
    assert (summary[NOC].recordings, summary[NOC].passes) == (1, 1)
    assert summary[MYO_SP].passes == 1
    assert (summary[PIP].first_night, summary[PIP].last_night) == (dt.date(2025, 6, 12), dt.date(2025, 7, 3))
    assert summary[NOC].last_night == dt.date(2025, 6, 12)


def test_recording_analysis_shows_the_asked_analysis_only_of_that_recording(visit):
    old = make_model_version(name="old")
    active = make_model_version(name="active", activate=True)
    recording = ingested(visit)
    old_analysis = add_result(recording, old, species=(NOC,))
    add_result(recording, active, species=(PIP,), calls=[(PIP, 0)])
    foreign = add_result(ingested(visit), old)

    assert selectors.recording_analysis(recording).prediction.species == PIP
    assert selectors.recording_analysis(recording, analysis_id=old_analysis.pk).prediction.species == NOC
    assert selectors.recording_analysis(recording, analysis_id=foreign.pk).analysis.model_version == active
