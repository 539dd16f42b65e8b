"""The review queue: what comes first, filters, what is left, walking through it, and who may review."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from classifier.models import Prediction, QueueState, ReviewQueueEntry, ReviewStatus
from classifier.review import (
    QueueFilters,
    decision_record,
    double_review_request,
    review_left,
    review_next,
    review_priority,
    review_queue_refresh,
    review_queue_sync,
)
from surveys.models import Role
from tests.classifier.factories_review import DAU, NOC, PIP, SER, ModelVersionFactory, analysed, predict
from tests.factories import SiteFactory, VisitFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(db):
    return ModelVersionFactory()


@pytest.fixture
def project(visit):
    return visit.site.project


@pytest.fixture
def expert(project):
    return member(project, Role.EXPERT)


def _names(entries):
    return [e.recording.original_name for e in entries]


def _queue(project, user, filters=QueueFilters(), limit=100):
    return _names(review_next(project, user, filters, limit=limit))


def test_low_confidence_and_small_margins_come_before_confident_answers(visit, model, project, expert):
    analysed(visit, model, confidence=0.97, margin=0.9, original_name="sure.wav")
    analysed(visit, model, confidence=0.55, margin=0.05, original_name="unsure.wav")
    analysed(visit, model, confidence=0.80, margin=0.2, original_name="middling.wav")

    assert _queue(project, expert) == ["unsure.wav", "middling.wav", "sure.wav"]


def test_red_list_species_come_before_an_equally_confident_common_species(visit, model, project, expert):
    for n in range(5):  # pipistrelles are common here, so only the serotine is rare as well
        analysed(visit, model, species_present=(PIP,), confidence=0.9, margin=0.6, original_name=f"pip{n}.wav")
    analysed(visit, model, species_present=(SER,), confidence=0.9, margin=0.6, original_name="serotine.wav")

    assert _queue(project, expert)[0] == "serotine.wav"
    entry = ReviewQueueEntry.objects.get(recording__original_name="serotine.wav")
    assert "protocol_species" in entry.reasons


def test_feeding_buzzes_and_social_calls_come_before_plain_echolocation(visit, model, project, expert):
    for n in range(5):
        analysed(visit, model, confidence=0.9, original_name=f"plain{n}.wav")
    analysed(visit, model, confidence=0.9, call_types=("echolocation", "feeding_buzz"), feeding_buzzes=1,
             original_name="buzz.wav")  # fmt: skip
    analysed(visit, model, confidence=0.9, call_types=("social_call",), social_calls=2, original_name="social.wav")
    review_queue_refresh(project=project)  # the first pipistrelles were "rare" when they arrived; now they are not

    assert set(_queue(project, expert)[:2]) == {"buzz.wav", "social.wav"}


def test_a_species_rare_in_the_project_is_flagged_rare(visit, model, project, expert):
    for n in range(30):
        analysed(visit, model, species_present=(PIP,), original_name=f"pip{n}.wav")
    analysed(visit, model, species_present=(DAU,), original_name="daubenton.wav")

    daubenton = ReviewQueueEntry.objects.get(recording__original_name="daubenton.wav")
    late_pipistrelle = ReviewQueueEntry.objects.get(recording__original_name="pip29.wav")
    assert "rare_in_project" in daubenton.reasons
    assert "rare_in_project" not in late_pipistrelle.reasons
    review_queue_refresh(project=project)  # the first pipistrelles too were rare when they arrived
    assert _queue(project, expert)[0] == "daubenton.wav"


def test_refresh_recounts_rarity_after_more_nights_came_in(visit, model, project):
    first = analysed(visit, model, species_present=(NOC,), original_name="first-noctule.wav")
    assert "rare_in_project" in ReviewQueueEntry.objects.get(recording=first).reasons
    for n in range(10):
        analysed(visit, model, species_present=(NOC,), original_name=f"noctule{n}.wav")

    review_queue_refresh(project=project)

    assert "rare_in_project" not in ReviewQueueEntry.objects.get(recording=first).reasons


def test_disagreements_go_to_managers_first_and_double_review_before_the_ordinary_queue(visit, model, project, expert):
    manager = member(project, Role.MANAGER)
    other_expert = member(project, Role.EXPERT)
    analysed(visit, model, species_present=(DAU,), confidence=0.3, margin=0.0, original_name="very-unsure.wav")
    analysed(visit, model, confidence=0.95, margin=0.9, original_name="double.wav")
    split = analysed(visit, model, confidence=0.96, margin=0.9, original_name="split.wav")
    double_review_request(project=project, requested_by=manager, filters=QueueFilters(species=PIP), size=2)
    decision_record(recording=split, reviewer=expert, status=ReviewStatus.CONFIRMED)
    decision_record(recording=split, reviewer=other_expert, status=ReviewStatus.NO_BAT)

    assert _queue(project, manager) == ["split.wav", "double.wav", "very-unsure.wav"]
    # An expert cannot settle, and has already decided on split: only what they still can decide, in order.
    assert _queue(project, expert) == ["double.wav", "very-unsure.wav"]


def test_a_double_review_item_leaves_the_queue_of_the_reviewer_who_decided_it(visit, model, project, expert):
    manager = member(project, Role.MANAGER)
    recording = analysed(visit, model, original_name="pair.wav")
    double_review_request(project=project, requested_by=manager, filters=QueueFilters(), size=1, seed=3)

    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CONFIRMED)

    assert _queue(project, expert) == []
    assert _queue(project, member(project, Role.EXPERT)) == ["pair.wav"]


def test_filters_by_site_visit_species_and_call_type(model, project, expert):
    site_a = SiteFactory(project=project, code="A")
    site_b = SiteFactory(project=project, code="B")
    visit_a = VisitFactory(site=site_a)
    visit_b = VisitFactory(site=site_b)
    analysed(visit_a, model, species_present=(PIP, NOC), call_types=("echolocation", "social_call"),
             original_name="a-pip-noc.wav")  # fmt: skip
    analysed(visit_a, model, species_present=(DAU,), original_name="a-dau.wav")
    analysed(visit_b, model, species_present=(NOC,), original_name="b-noc.wav")

    assert set(_queue(project, expert, QueueFilters(site_id=site_a.pk))) == {"a-pip-noc.wav", "a-dau.wav"}
    assert set(_queue(project, expert, QueueFilters(visit_id=visit_b.pk))) == {"b-noc.wav"}
    assert set(_queue(project, expert, QueueFilters(species=NOC))) == {"a-pip-noc.wav", "b-noc.wav"}
    assert set(_queue(project, expert, QueueFilters(call_type="social_call"))) == {"a-pip-noc.wav"}
    assert _queue(project, expert, QueueFilters(species="Nyctalus")) == []  # whole names only


def test_left_counts_what_the_user_still_has_to_review(visit, model, project, expert):
    recordings = [analysed(visit, model) for _ in range(4)]
    assert review_left(project, expert) == 4

    decision_record(recording=recordings[0], reviewer=expert, status=ReviewStatus.CONFIRMED)
    decision_record(recording=recordings[1], reviewer=expert, status=ReviewStatus.UNSURE)

    assert review_left(project, expert) == 2
    assert review_left(project, expert, QueueFilters(status=QueueState.UNSURE)) == 1
    assert review_left(project, expert, QueueFilters(status=QueueState.REVIEWED)) == 1


def test_next_walks_forward_past_a_skipped_item_and_wraps_around(visit, model, project, expert):
    for n, confidence in enumerate((0.5, 0.6, 0.7)):
        analysed(visit, model, confidence=confidence, margin=0.3, original_name=f"r{n}.wav")
    first, second, third = review_next(project, expert, limit=3)

    assert review_next(project, expert, after=first)[0].pk == second.pk
    assert review_next(project, expert, after=third)[0].pk == first.pk  # the end wraps to the top


def test_queue_sync_adds_predictions_stored_without_the_hook(visit, model, project, expert):
    analysed(visit, model, store=False, original_name="old.wav")
    assert review_left(project, expert) == 0

    assert review_queue_sync(project=project) == 1

    assert _queue(project, expert) == ["old.wav"]
    assert review_queue_sync(project=project) == 0


def test_the_queue_follows_the_active_models_prediction(visit, model, project, expert):
    recording = analysed(visit, model, species_present=(PIP,))
    model.is_active = False
    model.save()
    newer = ModelVersionFactory(is_active=True)

    predict(recording, newer, species_present=(NOC,))
    assert ReviewQueueEntry.objects.get(recording=recording).species == NOC

    # A re-analysis by an older, inactive model does not take the place of the active model's answer.
    predict(recording, ModelVersionFactory(is_active=False), species_present=(DAU,))
    assert ReviewQueueEntry.objects.get(recording=recording).species == NOC


def test_fieldworkers_and_outsiders_cannot_review(visit, model, project):
    recording = analysed(visit, model)
    fieldworker = member(project, Role.FIELDWORKER)
    outsider = member(SiteFactory().project, Role.MANAGER)

    for user in (fieldworker, outsider):
        with pytest.raises(PermissionDenied):
            decision_record(recording=recording, reviewer=user, status=ReviewStatus.CONFIRMED)
    assert not recording.label_decisions.exists()


def test_priority_is_higher_for_less_certain_answers():
    common = Prediction(species=PIP, species_present=[PIP], call_types=["echolocation"], confidence=0.95, margin=0.9)
    doubtful = Prediction(species=PIP, species_present=[PIP], call_types=["echolocation"], confidence=0.6, margin=0.1)
    group = Prediction(species="Myotis sp.", species_present=["Myotis sp."], call_types=["echolocation"],
                       confidence=0.95, margin=0.9)  # fmt: skip

    assert review_priority(doubtful, rare_in_project=False).score > review_priority(common, rare_in_project=False).score
    assert "group_fallback" in review_priority(group, rare_in_project=False).reasons
