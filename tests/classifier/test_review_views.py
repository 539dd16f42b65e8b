"""Review pages: each view's full page, HTMX fragment, permissions (fieldworker 403, outsider 404) and method."""

from __future__ import annotations

import re

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from classifier.models import DoubleReviewItem, LabelDecision, ReviewStatus
from classifier.review import QueueFilters, decision_record, double_review_request
from surveys.models import Role
from tests.classifier.factories_review import NOC, PIP, SER, ModelVersionFactory, analysed
from tests.factories import SiteFactory, VisitFactory, member

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


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
def fieldworker(project):
    return member(project, Role.FIELDWORKER)


@pytest.fixture
def outsider(db):
    return member(SiteFactory().project, Role.MANAGER)


@pytest.fixture
def items(visit, model):
    """Three recordings: the unsure one first, then the serotine (Red List), then a sure pipistrelle."""
    return {
        "unsure": analysed(visit, model, confidence=0.5, margin=0.05, original_name="unsure.wav"),
        "serotine": analysed(visit, model, species_present=(SER,), confidence=0.92, margin=0.8, original_name="serotine.wav"),
        "sure": analysed(visit, model, confidence=0.99, margin=0.95, original_name="sure.wav"),
    }  # fmt: skip


# --------------------------------------------------------------------------------------------- the queue


def test_queue_page_lists_the_most_useful_checks_first_with_what_is_left(client, project, expert, items):
    client.force_login(expert)
    response = client.get(reverse("review_queue", args=[project.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page and 'id="review-queue"' in page
    rows = [int(pk) for pk in re.findall(r'<tr data-recording="(\d+)"', page)]
    assert rows == [items["unsure"].pk, items["serotine"].pk, items["sure"].pk]
    assert 'data-left="3"' in page
    assert "protocol / Red List species" in page and "low confidence" in page


def test_queue_fragment_answers_the_filter_form(client, project, expert, items):
    client.force_login(expert)
    response = client.get(reverse("review_queue", args=[project.pk]), {"species": "laatvlieger"}, headers=HTMX)

    fragment = response.content.decode()
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<div id="review-queue"') and "<html" not in fragment
    assert "serotine.wav" in fragment and "unsure.wav" not in fragment
    assert 'data-left="1"' in fragment


def test_queue_refuses_fieldworkers_hides_from_outsiders_and_sends_visitors_to_log_in(client, project, fieldworker, outsider):
    url = reverse("review_queue", args=[project.pk])
    assert client.get(url).status_code == 302
    client.force_login(fieldworker)
    assert client.get(url).status_code == 403
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_queue_answers_only_get(client, project, expert):
    client.force_login(expert)
    assert client.post(reverse("review_queue", args=[project.pk])).status_code == 405


# --------------------------------------------------------------------------------------------- the review screen


def test_next_opens_the_first_item_with_spectrogram_playback_occlusion_and_shortcuts(client, project, expert, items):
    client.force_login(expert)
    response = client.get(reverse("review_next", args=[project.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    recording = items["unsure"]
    analysis = recording.analyses.get()
    assert 'id="review-item"' in page and "unsure.wav" in page
    assert reverse("analysis_spectrogram_png", args=[analysis.pk]) in page
    assert reverse("analysis_occlusion", args=[analysis.pk]) in page
    assert reverse("recording_audio", args=[recording.pk]) in page
    assert reverse("recording_audio_slow", args=[recording.pk]) in page
    for key in ('data-key="c"', 'data-key="e"', 'data-key="u"', 'data-key="n"', 'data-key="j"', 'data-key="o"'):
        assert key in page
    assert '<datalist id="review-vocabulary">' in page and 'value="Myotis sp."' in page  # groups in the picker
    assert "js/review.js" in page
    # The next item is prefetched: its spectrogram is asked for now, and "next" points at it.
    serotine_analysis = items["serotine"].analyses.get()
    assert reverse("analysis_spectrogram_png", args=[serotine_analysis.pk]) in page
    assert reverse("review_item", args=[project.pk, items["serotine"].pk]) in page


def test_next_fragment_swaps_in_without_the_page_around_it(client, project, expert, items):
    client.force_login(expert)
    response = client.get(reverse("review_next", args=[project.pk]), headers=HTMX)

    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section id="review-item"') and "<html" not in fragment
    assert response["HX-Push-Url"] == reverse("review_item", args=[project.pk, items["unsure"].pk])


def test_next_says_so_when_nothing_is_left(client, project, expert):
    client.force_login(expert)
    page = client.get(reverse("review_next", args=[project.pk])).content.decode()
    assert "Nothing left to review" in page


def test_review_item_refuses_fieldworkers_and_outsiders(client, project, fieldworker, outsider, items):
    url = reverse("review_item", args=[project.pk, items["sure"].pk])
    client.force_login(fieldworker)
    assert client.get(url).status_code == 403
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_a_recording_of_another_project_is_not_found_under_this_one(client, project, expert, model):
    foreign = analysed(VisitFactory(), model)
    client.force_login(expert)
    assert client.get(reverse("review_item", args=[project.pk, foreign.pk])).status_code == 404
    assert client.post(reverse("review_decide", args=[project.pk, foreign.pk]), {"action": "confirm"}).status_code == 404


# --------------------------------------------------------------------------------------------- deciding


def test_confirm_records_the_decision_and_answers_the_next_item(client, project, expert, items):
    client.force_login(expert)
    url = reverse("review_decide", args=[project.pk, items["unsure"].pk])
    response = client.post(url, {"action": "confirm", "shown_species": [PIP], "shown_call_types": ["echolocation"],
                                 "note": "clear calls"}, headers=HTMX)  # fmt: skip

    assert response.status_code == 200
    decision = LabelDecision.objects.get()
    assert (decision.status, decision.species_present, decision.note, decision.reviewer) == (
        ReviewStatus.CONFIRMED, [PIP], "clear calls", expert)
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section id="review-item"')
    assert "serotine.wav" in fragment and 'data-left="2"' in fragment
    assert response["HX-Push-Url"] == reverse("review_item", args=[project.pk, items["serotine"].pk])


def test_correct_takes_checked_and_typed_species_and_call_types(client, project, expert, items):
    client.force_login(expert)
    url = reverse("review_decide", args=[project.pk, items["unsure"].pk])
    client.post(url, {"action": "correct", "species": [PIP], "species_text": "RV",
                      "call_types": ["echolocation", "social_call"]}, headers=HTMX)  # fmt: skip

    decision = LabelDecision.objects.get()
    assert decision.status == ReviewStatus.CORRECTED
    assert decision.species_present == [PIP, NOC]  # "RV" is the Dutch code of the noctule
    assert decision.call_types == ["echolocation", "social_call"]


def test_without_javascript_a_decision_redirects_to_the_next_item(client, project, expert, items):
    client.force_login(expert)
    url = reverse("review_decide", args=[project.pk, items["unsure"].pk]) + f"?visit={items['unsure'].visit_id}"
    response = client.post(url, {"action": "no_bat"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("review_next", args=[project.pk]) + "?visit=")
    assert "after=" in response["Location"]
    assert LabelDecision.objects.get().status == ReviewStatus.NO_BAT


def test_an_unknown_species_is_refused_with_the_reason_on_the_same_item(client, project, expert, items):
    client.force_login(expert)
    url = reverse("review_decide", args=[project.pk, items["unsure"].pk])
    response = client.post(url, {"action": "correct", "species_text": "Batman"}, headers=HTMX)

    assert response.status_code == 422
    assert "Batman" in response.content.decode() and "unsure.wav" in response.content.decode()
    assert not LabelDecision.objects.exists()


def test_fieldworkers_cannot_decide_and_deciding_needs_post(client, project, expert, fieldworker, items):
    url = reverse("review_decide", args=[project.pk, items["unsure"].pk])
    client.force_login(fieldworker)
    assert client.post(url, {"action": "confirm"}).status_code == 403
    client.force_login(expert)
    assert client.get(url).status_code == 405
    assert not LabelDecision.objects.exists()


def test_in_double_review_the_screen_hides_the_other_reviewers_label(client, project, expert, visit, model):
    manager = member(project, Role.MANAGER)
    recording = analysed(visit, model, species_present=(PIP,))
    double_review_request(project=project, requested_by=manager, filters=QueueFilters(), size=1)
    other = member(project, Role.EXPERT, username="bram")
    decision_record(recording=recording, reviewer=other, status=ReviewStatus.CORRECTED, species_present=[NOC],
                    note="secret note")  # fmt: skip

    client.force_login(expert)
    page = client.get(reverse("review_item", args=[project.pk, recording.pk])).content.decode()

    assert 'data-flag="blind"' in page
    assert "secret note" not in page and "bram" not in page
    client.post(reverse("review_decide", args=[project.pk, recording.pk]), {"action": "confirm", "shown_species": [PIP]})
    assert DoubleReviewItem.objects.get().state == "disagreement"
    client.force_login(manager)
    page = client.get(reverse("review_item", args=[project.pk, recording.pk])).content.decode()
    assert 'data-flag="settle"' in page and "secret note" in page


# --------------------------------------------------------------------------------------------- bulk and double review


def test_bulk_page_shows_a_sample_and_its_confirmation_records_bulk_decisions(client, project, expert, visit, model):
    for _ in range(3):
        analysed(visit, model, species_present=(PIP,), confidence=0.98)
    client.force_login(expert)
    url = reverse("review_bulk", args=[project.pk])
    assert 'name="min_confidence"' in client.get(url).content.decode()

    response = client.get(url, {"species": PIP, "min_confidence": "0.95", "site": visit.site_id}, headers=HTMX)
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<div id="bulk-sample"')
    assert "3 recordings in this set" in fragment
    token = re.search(r'name="token" value="([^"]+)"', fragment).group(1)

    response = client.post(reverse("review_bulk_confirm", args=[project.pk]), {"token": token})

    assert response.status_code == 302
    assert LabelDecision.objects.filter(bulk=True).count() == 3


def test_bulk_pages_refuse_fieldworkers_and_outsiders(client, project, fieldworker, outsider):
    for user, status in ((fieldworker, 403), (outsider, 404)):
        client.force_login(user)
        assert client.get(reverse("review_bulk", args=[project.pk])).status_code == status
        assert client.post(reverse("review_bulk_confirm", args=[project.pk]), {"token": "x"}).status_code == status
    assert client.get(reverse("review_bulk_confirm", args=[project.pk])).status_code in (404, 405)


def test_double_review_page_shows_agreement_and_only_managers_may_ask(client, project, expert, visit, model):
    manager = member(project, Role.MANAGER)
    analysed(visit, model)
    url = reverse("review_double", args=[project.pk])
    client.force_login(expert)
    page = client.get(url).content.decode()
    assert "Agreement between reviewers" in page and "Ask for double review" not in page
    assert client.post(reverse("review_double_request", args=[project.pk]), {"size": 1}).status_code == 403

    client.force_login(manager)
    assert "Ask for double review" in client.get(url).content.decode()
    fragment = client.get(url, headers=HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="double-review"')
    response = client.post(reverse("review_double_request", args=[project.pk]), {"size": 1, "status": "to_review"})
    assert response.status_code == 302
    assert DoubleReviewItem.objects.count() == 1
    assert client.get(reverse("review_double_request", args=[project.pk])).status_code == 405


# --------------------------------------------------------------------------------------------- recording lists


def test_visit_labels_show_the_final_label_to_members_and_each_reviewer_their_own(client, project, expert, fieldworker,
                                                                                   visit, items):  # fmt: skip
    decision_record(recording=items["sure"], reviewer=expert, status=ReviewStatus.CORRECTED, species_present=[NOC])
    url = reverse("visit_review_labels", args=[visit.pk])

    client.force_login(fieldworker)
    page = client.get(url).content.decode()
    assert "Noctule" in page and 'data-review-status="corrected"' in page
    assert "data-own-label" not in page

    client.force_login(expert)
    fragment = client.get(url, headers=HTMX).content.decode()
    assert fragment.lstrip().startswith('<section id="visit-labels"')
    assert "data-own-label" in fragment and "You:" in fragment


def test_visit_labels_are_hidden_from_outsiders(client, visit, outsider):
    client.force_login(outsider)
    assert client.get(reverse("visit_review_labels", args=[visit.pk])).status_code == 404


def test_the_review_cell_tag_drops_into_any_recordings_table(project, expert, items, django_assert_max_num_queries):
    decision_record(recording=items["unsure"], reviewer=expert, status=ReviewStatus.NO_BAT)
    request = RequestFactory().get("/")
    request.user = expert
    template = Template("{% load review_labels %}{% review_cells rows as cells %}"
                        "{% for row in rows %}{% review_cell cells row %}{% endfor %}")  # fmt: skip

    with django_assert_max_num_queries(7):
        html = template.render(Context({"rows": list(items.values()), "request": request, "user": expert}))

    assert html.count('class="review-cell"') == 3
    assert 'data-review-status="no_bat"' in html and "You:" in html
