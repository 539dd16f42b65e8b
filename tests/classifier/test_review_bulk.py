"""Bulk confirmation: a set is confirmed only after a random sample of it was shown, and says it was bulk."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from classifier.final_labels import final_label
from classifier.models import LabelDecision, QueueState, ReviewQueueEntry, ReviewStatus
from classifier.review import QueueFilters, ReviewError, bulk_confirm, bulk_confirm_sample, decision_record
from surveys.models import Role
from tests.classifier.factories_review import NOC, PIP, ModelVersionFactory, analysed
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


def test_bulk_confirms_every_pipistrelle_above_the_threshold_at_a_site(visit, model, project, expert):
    sure = [analysed(visit, model, species_present=(PIP,), confidence=0.97) for _ in range(20)]
    doubtful = analysed(visit, model, species_present=(PIP,), confidence=0.90)
    noctule = analysed(visit, model, species_present=(NOC,), confidence=0.99)
    elsewhere = analysed(VisitFactory(site=SiteFactory(project=project)), model, species_present=(PIP,), confidence=0.99)
    filters = QueueFilters(site_id=visit.site_id, species=PIP)

    sample = bulk_confirm_sample(project=project, reviewer=expert, filters=filters, min_confidence=0.95,
                                 sample_size=5, seed=1)  # fmt: skip
    assert sample.count == 20
    assert len(sample.sample) == 5 and {e.recording_id for e in sample.sample} <= {r.pk for r in sure}

    result = bulk_confirm(project=project, reviewer=expert, token=sample.token)

    assert result.confirmed == 20
    decisions = LabelDecision.objects.filter(bulk_batch=result.batch)
    assert decisions.count() == 20
    assert all(d.bulk and d.status == ReviewStatus.CONFIRMED and d.species_present == [PIP] for d in decisions)
    assert {d.recording_id for d in decisions} == {r.pk for r in sure}
    assert final_label(sure[0]).review_status == "confirmed"
    for untouched in (doubtful, noctule, elsewhere):
        assert final_label(untouched).review_status == "not_reviewed"
    assert not ReviewQueueEntry.objects.filter(recording__in=sure, state=QueueState.TO_REVIEW).exists()


def test_bulk_confirm_needs_the_sample_shown_to_the_same_reviewer(visit, model, project, expert):
    analysed(visit, model, species_present=(PIP,), confidence=0.99)
    sample = bulk_confirm_sample(project=project, reviewer=expert, filters=QueueFilters(species=PIP),
                                 min_confidence=0.95)  # fmt: skip

    with pytest.raises(ReviewError):
        bulk_confirm(project=project, reviewer=expert, token="made-up")
    with pytest.raises(ReviewError):
        bulk_confirm(project=project, reviewer=member(project, Role.EXPERT), token=sample.token)
    assert not LabelDecision.objects.exists()


def test_bulk_confirm_leaves_out_what_arrived_or_was_decided_after_the_sample(visit, model, project, expert):
    first, second = (analysed(visit, model, species_present=(PIP,), confidence=0.99) for _ in range(2))
    sample = bulk_confirm_sample(project=project, reviewer=expert, filters=QueueFilters(species=PIP),
                                 min_confidence=0.95)  # fmt: skip
    decision_record(recording=second, reviewer=member(project, Role.EXPERT), status=ReviewStatus.CORRECTED,
                    species_present=[NOC])  # fmt: skip
    later = analysed(visit, model, species_present=(PIP,), confidence=0.99)

    result = bulk_confirm(project=project, reviewer=expert, token=sample.token)

    assert result.confirmed == 1
    assert final_label(first).review_status == "confirmed"
    assert final_label(second).species_present == (NOC,)  # the other expert's correction stands
    assert final_label(later).review_status == "not_reviewed"


def test_fieldworkers_cannot_bulk_confirm(visit, model, project):
    analysed(visit, model, confidence=0.99)

    with pytest.raises(PermissionDenied):
        bulk_confirm_sample(project=project, reviewer=member(project, Role.FIELDWORKER), filters=QueueFilters(),
                            min_confidence=0.9)  # fmt: skip
