"""Decisions: the append-only audit trail, the final-label rule, concurrent reviewers, double review with
settlement, and agreement (Cohen's kappa)."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection

from classifier.final_labels import final_label, final_labels
from classifier.models import (
    DecisionKind,
    DoubleReviewItem,
    DoubleReviewState,
    LabelDecision,
    QueueState,
    ReviewQueueEntry,
    ReviewStatus,
)
from classifier.review import (
    QueueFilters,
    ReviewError,
    cohen_kappa,
    decision_history,
    decision_record,
    disagreement_settle,
    double_review_agreement,
    double_review_request,
)
from surveys.models import Role
from tests.classifier.factories_review import DAU, NOC, PIP, ModelVersionFactory, analysed
from tests.factories import RecordingFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def model(db):
    return ModelVersionFactory()


@pytest.fixture
def project(visit):
    return visit.site.project


@pytest.fixture
def expert(project):
    return member(project, Role.EXPERT, username="anna")


@pytest.fixture
def second_expert(project):
    return member(project, Role.EXPERT, username="bram")


@pytest.fixture
def manager(project):
    return member(project, Role.MANAGER, username="carla")


# --------------------------------------------------------------------------------------------- final labels


def test_without_decisions_the_final_label_is_the_prediction(visit, model):
    recording = analysed(visit, model, species_present=(PIP, NOC), call_types=("echolocation", "feeding_buzz"))

    label = final_label(recording)

    assert label.species_present == (PIP, NOC)
    assert label.call_types == ("echolocation", "feeding_buzz")
    assert (label.source, label.review_status, label.reviewer, label.reviewed_at) == ("prediction", "not_reviewed", "", None)
    assert label.removed_species == label.added_species == ()


def test_a_recording_without_prediction_or_decision_has_no_label(visit):
    recording = RecordingFactory(visit=visit)

    label = final_label(recording)

    assert (label.species_present, label.source, label.review_status) == ((), "none", "not_reviewed")


def test_a_confirmation_makes_the_prediction_the_reviewed_label(visit, model, expert):
    recording = analysed(visit, model, species_present=(PIP,))

    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CONFIRMED)

    label = final_label(recording)
    assert (label.species_present, label.source, label.review_status, label.reviewer) == ((PIP,), "review", "confirmed", "anna")
    assert label.reviewed_species == (PIP,)
    assert label.reviewed_at is not None


def test_a_correction_records_which_species_were_removed_and_added(visit, model, expert):
    recording = analysed(visit, model, species_present=(PIP, NOC))

    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED,
                    species_present=["Pipistrellus pipistrellus", "watervleermuis"], call_types=["echolocation"])  # fmt: skip

    label = final_label(recording)
    assert label.species_present == (PIP, DAU)  # the Dutch name is stored as its id
    assert label.removed_species == (NOC,)
    assert label.added_species == (DAU,)
    assert label.review_status == "corrected"


def test_no_bat_makes_the_label_noise_and_removes_every_predicted_bat(visit, model, expert):
    recording = analysed(visit, model, species_present=(PIP, NOC))

    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.NO_BAT)

    label = final_label(recording)
    assert (label.species_present, label.call_types, label.review_status) == (("noise",), ("none",), "no_bat")
    assert label.removed_species == (PIP, NOC)
    assert label.added_species == ()


def test_unsure_keeps_the_label_in_force_and_only_shows_as_status(visit, model, expert, second_expert):
    recording = analysed(visit, model, species_present=(PIP,))
    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED, species_present=[NOC])

    decision_record(recording=recording, reviewer=second_expert, status=ReviewStatus.UNSURE, note="faint")

    label = final_label(recording)
    assert label.species_present == (NOC,)
    assert label.source == "review"
    assert (label.review_status, label.reviewer, label.reviewed_species) == ("unsure", "bram", ())
    assert ReviewQueueEntry.objects.get(recording=recording).state == QueueState.UNSURE


def test_the_latest_decision_wins_and_every_earlier_one_is_kept(visit, model, expert, second_expert):
    recording = analysed(visit, model, species_present=(PIP,))
    first = decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CONFIRMED)
    second = decision_record(recording=recording, reviewer=second_expert, status=ReviewStatus.CORRECTED,
                             species_present=[NOC], note="low and flat")  # fmt: skip

    assert final_label(recording).species_present == (NOC,)
    trail = list(LabelDecision.objects.filter(recording=recording))
    assert trail == [first, second]
    first.refresh_from_db()
    assert first.species_present == [PIP] and first.status == ReviewStatus.CONFIRMED  # unchanged
    # Each decision says what it replaced.
    assert (first.replaced_source, first.replaced_species, first.replaced_decision_id) == ("prediction", [PIP], None)
    assert (second.replaced_source, second.replaced_species, second.replaced_decision_id) == ("review", [PIP], first.pk)
    assert second.reviewer == second_expert and second.note == "low and flat"


def test_an_unknown_species_is_refused_and_nothing_is_recorded(visit, model, expert):
    recording = analysed(visit, model)

    with pytest.raises(ReviewError):
        decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED, species_present=["Batman"])
    with pytest.raises(ReviewError):
        decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED,
                        species_present=[PIP, "noise"])  # fmt: skip

    assert not LabelDecision.objects.exists()


def test_final_labels_are_read_in_a_few_queries_for_many_recordings(visit, model, expert, django_assert_max_num_queries):
    recordings = [analysed(visit, model) for _ in range(30)]
    for recording in recordings[::2]:
        decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CONFIRMED)

    with django_assert_max_num_queries(5):
        labels = final_labels([r.pk for r in recordings])

    assert sum(1 for label in labels.values() if label.source == "review") == 15


# --------------------------------------------------------------------------------------------- two reviewers at once


def test_two_reviewers_with_stale_pages_both_keep_their_decisions(visit, model, expert, second_expert):
    recording = analysed(visit, model, species_present=(PIP,))
    # Both opened the item while it showed the prediction; Anna corrects, then Bram confirms what he saw.
    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED, species_present=[NOC])
    late = decision_record(recording=recording, reviewer=second_expert, status=ReviewStatus.CONFIRMED,
                           species_present=[PIP])  # fmt: skip

    decisions = list(recording.label_decisions.all())
    assert [d.reviewer for d in decisions] == [expert, second_expert]
    assert late.replaced_species == [NOC]  # the audit trail shows Bram replaced Anna's correction
    assert final_label(recording).species_present == (PIP,)


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_deciding_at_the_same_moment_both_keep_their_decisions(visit, model, expert, second_expert):
    recording = analysed(visit, model, species_present=(PIP,))
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def decide(user, status, species) -> None:
        try:
            start.wait(timeout=10)
            decision_record(recording=recording, reviewer=user, status=status, species_present=species)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=(expert, ReviewStatus.CORRECTED, [NOC])),
        threading.Thread(target=decide, args=(second_expert, ReviewStatus.CORRECTED, [DAU])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    first, second = LabelDecision.objects.filter(recording=recording).order_by("decided_at", "pk")
    assert {first.reviewer_id, second.reviewer_id} == {expert.pk, second_expert.pk}
    # The writes were serialised: the later one saw and replaced the earlier one.
    assert second.replaced_decision_id == first.pk
    assert final_label(recording).species_present == tuple(second.species_present)


# --------------------------------------------------------------------------------------------- double review


def _double(project, manager, recording):
    double_review_request(project=project, requested_by=manager, filters=QueueFilters(), size=1)
    return DoubleReviewItem.objects.get(recording=recording)


def test_double_review_label_is_set_only_once_both_reviewers_decided(visit, model, project, manager, expert, second_expert):
    recording = analysed(visit, model, species_present=(PIP,))
    item = _double(project, manager, recording)
    assert final_label(recording).review_status == "awaiting_second_review"

    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED, species_present=[NOC])
    label = final_label(recording)
    assert (label.species_present, label.source, label.review_status) == ((PIP,), "prediction", "awaiting_second_review")

    decision_record(recording=recording, reviewer=second_expert, status=ReviewStatus.CORRECTED, species_present=[NOC])
    label = final_label(recording)
    assert (label.species_present, label.source, label.review_status) == ((NOC,), "review", "corrected")
    item.refresh_from_db()
    assert item.state == DoubleReviewState.AGREED
    assert set(item.decisions.values_list("kind", flat=True)) == {DecisionKind.BLIND}


def test_reviewers_do_not_see_each_others_double_review_labels(visit, model, project, manager, expert, second_expert):
    recording = analysed(visit, model)
    _double(project, manager, recording)
    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED, species_present=[NOC])

    assert decision_history(recording, second_expert) == []
    assert [d.reviewer for d in decision_history(recording, expert)] == [expert]


def test_a_reviewer_cannot_decide_twice_in_one_double_review(visit, model, project, manager, expert):
    recording = analysed(visit, model)
    _double(project, manager, recording)
    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CONFIRMED)

    with pytest.raises(ReviewError):
        decision_record(recording=recording, reviewer=expert, status=ReviewStatus.NO_BAT)


def test_a_disagreement_goes_to_the_manager_whose_decision_settles_it(visit, model, project, manager, expert, second_expert):
    recording = analysed(visit, model, species_present=(PIP,))
    item = _double(project, manager, recording)
    decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CONFIRMED)
    decision_record(recording=recording, reviewer=second_expert, status=ReviewStatus.CORRECTED, species_present=[NOC])

    item.refresh_from_db()
    assert item.state == DoubleReviewState.DISAGREEMENT
    assert final_label(recording).review_status == "disagreement"
    assert final_label(recording).species_present == (PIP,)  # the prediction until it is settled
    assert ReviewQueueEntry.objects.get(recording=recording).state == QueueState.DISAGREEMENT
    with pytest.raises(PermissionDenied):
        decision_record(recording=recording, reviewer=member(project, Role.EXPERT), status=ReviewStatus.CONFIRMED)

    settlement = disagreement_settle(item=item, manager=manager, status=ReviewStatus.CORRECTED,
                                     species_present=[NOC, PIP], call_types=["echolocation"])  # fmt: skip

    assert settlement.kind == DecisionKind.SETTLEMENT
    item.refresh_from_db()
    assert item.state == DoubleReviewState.SETTLED
    label = final_label(recording)
    assert (label.species_present, label.review_status, label.reviewer) == ((NOC, PIP), "corrected", "carla")
    assert recording.label_decisions.count() == 3  # both reviewers' decisions are kept


def test_only_managers_ask_for_double_review(visit, model, project, expert):
    analysed(visit, model)

    with pytest.raises(PermissionDenied):
        double_review_request(project=project, requested_by=expert, filters=QueueFilters(), size=1)


def test_double_review_draws_a_random_sample_of_the_filtered_set(visit, model, project, manager):
    pipistrelles = {analysed(visit, model, species_present=(PIP,)).pk for _ in range(10)}
    for _ in range(5):
        analysed(visit, model, species_present=(NOC,))

    request = double_review_request(project=project, requested_by=manager, filters=QueueFilters(species=PIP), size=4,
                                    seed=7)  # fmt: skip

    sampled = set(request.items.values_list("recording_id", flat=True))
    assert len(sampled) == 4 and sampled <= pipistrelles
    again = double_review_request(project=project, requested_by=manager, filters=QueueFilters(species=PIP), size=100)
    assert set(again.items.values_list("recording_id", flat=True)) == pipistrelles - sampled  # open rounds left out


# --------------------------------------------------------------------------------------------- agreement


def test_cohen_kappa_matches_a_hand_computed_case():
    # Rater 1: A five times, B five times; both A 4 times, A/B once, B/A twice, both B 3 times.
    pairs = [("A", "A")] * 4 + [("A", "B")] + [("B", "A")] * 2 + [("B", "B")] * 3
    # observed 7/10; chance (5*6 + 5*4) / 100 = 0.5; kappa (0.7 - 0.5) / (1 - 0.5) = 0.4
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_cohen_kappa_is_undefined_without_variation_and_one_for_perfect_agreement():
    assert cohen_kappa([]) is None
    assert cohen_kappa([("A", "A")] * 3) is None
    assert cohen_kappa([("A", "A"), ("B", "B")]) == pytest.approx(1.0)


def test_project_agreement_per_species_and_kappa(visit, model, project, manager, expert, second_expert):
    said = [((PIP,), (PIP,)), ((PIP,), (PIP,)), ((NOC,), (NOC,)), ((PIP,), (NOC,))]
    recordings = [analysed(visit, model, species_present=(PIP,)) for _ in said]
    double_review_request(project=project, requested_by=manager, filters=QueueFilters(), size=len(said))
    for recording, (first, second) in zip(recordings, said):
        decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED, species_present=first)
        decision_record(recording=recording, reviewer=second_expert, status=ReviewStatus.CORRECTED,
                        species_present=second)  # fmt: skip

    report = double_review_agreement(project=project)

    # Dominant labels (P,P), (P,P), (N,N), (P,N): observed 3/4, chance (3*2 + 1*2)/16 = 1/2, kappa 1/2.
    assert (report.pairs, report.agreed, report.disagreements_open) == (4, 3, 1)
    assert report.kappa == pytest.approx(0.5)
    by_species = {row.species: row for row in report.per_species}
    assert (by_species[PIP].either, by_species[PIP].both) == (3, 2)
    assert by_species[PIP].agreement == pytest.approx(2 / 3)
    assert by_species[PIP].kappa == pytest.approx(0.5)
    assert (by_species[NOC].either, by_species[NOC].both) == (2, 1)
    assert by_species[NOC].kappa == pytest.approx(0.5)
