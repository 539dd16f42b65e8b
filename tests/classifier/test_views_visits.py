"""The night's results: page, fragments (whole, progress poll, table), filters, flags, re-analysis."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from classifier.models import Analysis, AnalysisState, Prediction, ReviewStatus
from classifier.review import decision_record
from surveys.models import RecordingStatus, Role
from tests.classifier.conftest import NOC, PIP, ingested, make_model_version
from tests.classifier.test_selectors import add_result
from tests.factories import RecordingFactory, member

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx(target: str) -> dict[str, str]:
    return {**HTMX, "HTTP_HX_TARGET": target}


@pytest.fixture
def model(db):
    return make_model_version(name="bats-2025", activate=True)


def url(visit) -> str:
    return reverse("visit_results", args=[visit.pk])


def test_results_page_lists_recordings_with_local_time_species_confidence_and_review(
    client, visit, fieldworker, model
):
    recording = ingested(
        visit,
        original_name="KR01_20250612_231502.wav",
        duration_s=3.5,
        recorded_at=dt.datetime(2025, 6, 12, 21, 15, 2, tzinfo=dt.UTC),
    )
    add_result(
        recording, model, species=(PIP, NOC), call_types=("echolocation", "feeding_buzz"), confidence=0.934
    )
    client.force_login(fieldworker)

    response = client.get(url(visit))

    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page and 'id="visit-results"' in page
    assert "KR01_20250612_231502.wav" in page
    assert "2025-06-12 23:15:02" in page  # 21:15 UTC in Europe/Amsterdam summer time
    assert "3.50 s" in page
    table = page[page.index("<tbody>") :]
    assert table.index("Common pipistrelle") < table.index("Noctule")  # dominant first
    assert "feeding buzz" in page and "93 %" in page
    assert "not reviewed" in page
    assert 'role="progressbar"' in page and 'aria-valuenow="1"' in page
    assert 'data-pending="false"' in page and "every 2s" not in page


def test_visit_page_fragment_is_the_results_section_only(client, visit, fieldworker, model):
    add_result(ingested(visit), model)
    client.force_login(fieldworker)

    response = client.get(url(visit), **htmx("visit-results"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page and page.lstrip().startswith('<section id="visit-results"')


def test_progress_polls_while_recordings_wait_and_stops_with_286_when_done(client, visit, fieldworker, model):
    analysis = add_result(ingested(visit), model, state=AnalysisState.QUEUED)
    client.force_login(fieldworker)

    waiting = client.get(url(visit), **htmx("visit-progress"))
    seen = waiting.content.decode().split("?seen=")[1].split('"')[0]
    Analysis.objects.filter(pk=analysis.pk).update(state=AnalysisState.DONE)
    done = client.get(url(visit), {"seen": seen}, **htmx("visit-progress"))

    assert waiting.status_code == 200 and 'hx-trigger="every 2s' in waiting.content.decode()
    assert done.status_code == 286
    assert "every 2s" not in done.content.decode() and "<table" not in done.content.decode()
    assert done["HX-Trigger"] == "analyses-progressed"  # the table refreshes once the counts changed


def test_progress_poll_without_changes_does_not_refresh_the_table(client, visit, fieldworker, model):
    add_result(ingested(visit), model, state=AnalysisState.RUNNING)
    client.force_login(fieldworker)
    first = client.get(url(visit), **htmx("visit-progress"))
    seen = first.content.decode().split("?seen=")[1].split('"')[0]

    again = client.get(url(visit), {"seen": seen}, **htmx("visit-progress"))

    assert again.status_code == 200 and "HX-Trigger" not in again


def test_a_recording_waiting_for_ingest_keeps_the_progress_polling(client, visit, fieldworker, model):
    RecordingFactory(visit=visit, status=RecordingStatus.UPLOADED)
    client.force_login(fieldworker)

    response = client.get(url(visit), **htmx("visit-progress"))

    assert response.status_code == 200 and "reading metadata" in response.content.decode()


def test_failed_analysis_shows_its_error_and_a_retry_button(client, visit, fieldworker, model):
    analysis = add_result(ingested(visit), model, state=AnalysisState.FAILED)
    Analysis.objects.filter(pk=analysis.pk).update(
        error="TruncatedAudioError: the file ends after 12 samples"
    )
    client.force_login(fieldworker)

    page = client.get(url(visit)).content.decode()

    assert "TruncatedAudioError: the file ends after 12 samples" in page
    assert reverse("analysis_retry", args=[analysis.pk]) in page


def test_filters_work_without_javascript_and_the_table_fragment_serves_htmx(
    client, visit, fieldworker, model
):
    add_result(ingested(visit, original_name="both.wav"), model, species=(PIP, NOC))
    add_result(ingested(visit, original_name="pip.wav"), model, species=(PIP,))
    client.force_login(fieldworker)

    page = client.get(url(visit), {"species": NOC}).content.decode()
    fragment = client.get(url(visit), {"species": NOC}, **htmx("visit-recordings")).content.decode()

    for html in (page, fragment):
        assert "both.wav" in html and "pip.wav" not in html
    assert 'method="get"' in page and 'hx-push-url="true"' in page
    assert fragment.lstrip().startswith('<div id="visit-recordings"')


def test_an_unknown_filter_value_is_ignored(client, visit, fieldworker, model):
    add_result(ingested(visit, original_name="pip.wav"), model)
    client.force_login(fieldworker)

    response = client.get(url(visit), {"species": "Homo sapiens", "status": "bogus"})

    assert response.status_code == 200 and "pip.wav" in response.content.decode()


def test_paging_links_keep_the_filters(client, visit, fieldworker, model, monkeypatch):
    monkeypatch.setattr("classifier.selectors.RECORDINGS_PER_PAGE", 1)
    for name in ("a.wav", "b.wav"):
        add_result(ingested(visit, original_name=name), model)
    client.force_login(fieldworker)

    page = client.get(url(visit), {"status": "analysed"}).content.decode()

    assert "a.wav" in page and "b.wav" not in page
    assert f'href="{url(visit)}?status=analysed&amp;page=2"' in page


def test_flags_for_recordings_outside_the_night_and_an_empty_night(client, visit, fieldworker, model):
    client.force_login(fieldworker)
    empty = client.get(url(visit)).content.decode()
    ingested(visit, outside_night=True, original_name="early.wav")
    ingested(visit)

    page = client.get(url(visit)).content.decode()

    assert 'data-flag="night-empty"' in empty
    assert 'data-flag="outside-night"' in page and "1 recording is stamped outside this night" in page
    assert "outside night" in page


def test_outsider_gets_404(client, visit, outsider, model):
    client.force_login(outsider)
    assert client.get(url(visit)).status_code == 404
    assert client.get(url(visit), **htmx("visit-progress")).status_code == 404


def test_anonymous_visitor_is_sent_to_log_in(client, visit):
    response = client.get(url(visit))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_results_answer_only_get(client, visit, fieldworker):
    client.force_login(fieldworker)
    assert client.post(url(visit)).status_code == 405


# ------------------------------------------------------------------------------------------ re-analysis


def reanalyse_url(visit) -> str:
    return reverse("visit_reanalyse", args=[visit.pk])


def test_manager_reanalyses_the_night_and_older_results_stay(
    client, visit, manager, fake_ml, django_capture_on_commit_callbacks
):
    old = make_model_version(name="old", activate=True)
    recording = ingested(visit)
    add_result(recording, old)
    ingested(visit, status=RecordingStatus.UNUSABLE)
    new = make_model_version(name="new", activate=True)
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reanalyse_url(visit))

    assert response.status_code == 302 and response["Location"] == url(visit)
    assert Prediction.objects.filter(recording=recording, model_version=old).exists()
    assert Prediction.objects.filter(recording=recording, model_version=new).exists()
    assert "1 recordings queued for analysis with new" in client.get(url(visit)).content.decode()


def test_reanalysis_through_htmx_answers_the_results_fragment_and_restarts_polling(
    client, visit, manager, model, fake_ml
):
    ingested(visit)
    client.force_login(manager)

    response = client.post(reanalyse_url(visit), **htmx("visit-results"))  # queued, not run: nothing commits

    page = response.content.decode()
    assert response.status_code == 200 and page.lstrip().startswith('<section id="visit-results"')
    assert response["HX-Trigger"] == "analyses-queued"
    assert 'hx-trigger="every 2s' in page
    assert Analysis.objects.get().state == AnalysisState.QUEUED


def test_fieldworker_may_not_reanalyse(client, visit, fieldworker, model):
    ingested(visit)
    client.force_login(fieldworker)

    assert client.post(reanalyse_url(visit)).status_code == 403
    assert not Analysis.objects.exists()
    assert "Re-analyse" not in client.get(url(visit)).content.decode()


def test_outsider_cannot_reanalyse(client, visit, outsider, model):
    client.force_login(outsider)
    assert client.post(reanalyse_url(visit)).status_code == 404


def test_reanalyse_answers_only_post(client, visit, manager):
    client.force_login(manager)
    assert client.get(reanalyse_url(visit)).status_code == 405


def _night_of_mixed_rows(visit, model, expert, count: int) -> None:
    """`count` recordings: analysed by the active model, by an older one, failed, and reviewed ones."""
    older = make_model_version(name=f"older-{count}")
    for i in range(count):
        recording = ingested(visit, original_name=f"r{i:03d}.wav")
        if i % 4 == 1:
            add_result(recording, older, species=(NOC,))
        elif i % 4 == 2:
            add_result(recording, model, state=AnalysisState.FAILED)
        else:
            add_result(recording, model)
        if i % 4 == 3:
            decision_record(recording=recording, reviewer=expert, status=ReviewStatus.CORRECTED,
                            species_present=[NOC], call_types=["social_call"])  # fmt: skip


@pytest.fixture
def expert(visit):
    return member(visit.site.project, Role.EXPERT, username="anna")


@pytest.mark.parametrize("count", [4, 40])
def test_the_results_table_reads_a_fixed_number_of_queries_whatever_its_length(
    client, visit, expert, model, count, django_assert_max_num_queries
):
    _night_of_mixed_rows(visit, model, expert, count)
    client.force_login(expert)

    # session, user, visit, active model, 2 progress counts, species, page, predictions, older model,
    # failed analyses, role, open double reviews, decisions, the user's own decisions
    with django_assert_max_num_queries(15):
        response = client.get(url(visit), **htmx("visit-results"))

    page = response.content.decode()
    assert page.count('<tr id="recording-row-') == count
    assert page.count(">boom</span>") == count // 4  # each failed analysis with its error and retry button
    assert page.count("by older-") == count // 4  # the older model's answer, marked as such
    assert page.count('data-review-status="corrected"') == count // 4
    assert page.count("data-own-label") == count // 4 and "You: corrected Noctule" in page
