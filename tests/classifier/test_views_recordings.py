"""One recording's analysis panel: page, fragments, polling state line, occlusion on demand, retry."""

from __future__ import annotations

import pytest
from django.urls import reverse

from classifier.models import Analysis, AnalysisState
from surveys.models import RecordingStatus
from tests.classifier.conftest import NOC, PIP, ingested, make_model_version
from tests.classifier.test_selectors import add_result

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def htmx(target: str) -> dict[str, str]:
    return {**HTMX, "HTTP_HX_TARGET": target}


@pytest.fixture
def model(db):
    return make_model_version(name="bats-2025", activate=True)


@pytest.fixture
def recording(visit):
    return ingested(visit, original_name="KR01_20250612_231502.wav")


def url(recording) -> str:
    return reverse("recording_analysis", args=[recording.pk])


def test_panel_page_shows_spectrogram_prediction_alternatives_calls_and_players(
    client, recording, fieldworker, model
):
    analysis = add_result(recording, model, species=(PIP, NOC), calls=[(PIP, 0), (PIP, 0), (NOC, 1)])
    client.force_login(fieldworker)

    response = client.get(url(recording))

    page = response.content.decode()
    assert response.status_code == 200 and "<html" in page
    assert reverse("analysis_spectrogram_png", args=[analysis.pk]) in page
    assert "Common pipistrelle" in page and "Noctule" in page
    assert "Top alternatives" in page and "95 %" in page
    assert "3 detected calls" in page
    assert f'src="{reverse("recording_audio", args=[recording.pk])}"' in page
    assert f'src="{reverse("recording_audio_slow", args=[recording.pk])}"' in page
    assert f"{reverse('recording_audio', args=[recording.pk])}?download=1" in page
    assert reverse("analysis_occlusion", args=[analysis.pk]) in page


def test_recording_page_fragment_is_the_panel_only(client, recording, fieldworker, model):
    add_result(recording, model)
    client.force_login(fieldworker)

    page = client.get(url(recording), **htmx("analysis-panel")).content.decode()

    assert "<html" not in page and page.lstrip().startswith('<section id="analysis-panel"')


def test_state_line_polls_while_queued_and_answers_286_with_a_refresh_when_done(
    client, recording, fieldworker, model
):
    analysis = add_result(recording, model, state=AnalysisState.QUEUED)
    client.force_login(fieldworker)

    queued = client.get(url(recording), **htmx("analysis-status"))
    seen = queued.content.decode().split("?seen=")[1].split("&amp;")[0]
    Analysis.objects.filter(pk=analysis.pk).update(state=AnalysisState.DONE)
    done = client.get(url(recording), {"seen": seen, "analysis": analysis.pk}, **htmx("analysis-status"))

    assert queued.status_code == 200 and 'hx-trigger="every 2s' in queued.content.decode()
    assert done.status_code == 286 and done["HX-Trigger"] == "analyses-progressed"
    results = client.get(url(recording), **htmx("analysis-results")).content.decode()
    assert results.lstrip().startswith('<div id="analysis-results"') and "spectrogram.png" in results


def test_failed_analysis_shows_its_error_and_a_retry_button(client, recording, fieldworker, model):
    analysis = add_result(recording, model, state=AnalysisState.FAILED)
    client.force_login(fieldworker)

    page = client.get(url(recording)).content.decode()

    assert "analysis failed" in page and "boom" in page
    assert reverse("analysis_retry", args=[analysis.pk]) in page
    assert "spectrogram.png" not in page


def test_unusable_recording_shows_its_reason_and_still_offers_audio(client, visit, fieldworker, model):
    recording = ingested(visit, status=RecordingStatus.UNUSABLE, reason="recorded at 44100 Hz, below 100 kHz")
    client.force_login(fieldworker)

    page = client.get(url(recording)).content.decode()

    assert "recorded at 44100 Hz, below 100 kHz" in page
    assert reverse("recording_audio_slow", args=[recording.pk]) in page


def test_results_of_an_older_model_can_be_shown(client, recording, fieldworker, model):
    old = make_model_version(name="bats-2024")
    old_analysis = add_result(recording, old, species=(NOC,))
    add_result(recording, model, species=(PIP,))
    client.force_login(fieldworker)

    page = client.get(url(recording), {"analysis": old_analysis.pk}).content.decode()

    assert "Analysed by bats-2024" in page and "This is not the active model" in page
    assert "Noctule" in page


def test_outsider_gets_404(client, recording, outsider, model):
    add_result(recording, model)
    client.force_login(outsider)
    assert client.get(url(recording)).status_code == 404
    assert client.get(url(recording), **htmx("analysis-status")).status_code == 404


def test_panel_answers_only_get(client, recording, fieldworker):
    client.force_login(fieldworker)
    assert client.post(url(recording)).status_code == 405


# ------------------------------------------------------------------------------------------ occlusion


def test_occlusion_on_demand_gives_a_figure_fragment_and_a_page(client, recording, fieldworker, model):
    analysis = add_result(recording, model)
    client.force_login(fieldworker)
    occlusion_url = reverse("analysis_occlusion", args=[analysis.pk])

    fragment = client.get(occlusion_url, **HTMX).content.decode()
    page = client.get(occlusion_url).content.decode()

    image_url = reverse("analysis_occlusion_png", args=[analysis.pk])
    assert fragment.lstrip().startswith('<figure id="occlusion"') and image_url in fragment
    assert "<html" in page and image_url in page


def test_occlusion_of_an_unfinished_analysis_is_404(client, recording, fieldworker, model):
    analysis = add_result(recording, model, state=AnalysisState.RUNNING)
    client.force_login(fieldworker)
    assert client.get(reverse("analysis_occlusion", args=[analysis.pk])).status_code == 404


def test_occlusion_outsider_gets_404_and_post_405(client, recording, outsider, fieldworker, model):
    analysis = add_result(recording, model)
    client.force_login(outsider)
    assert client.get(reverse("analysis_occlusion", args=[analysis.pk])).status_code == 404
    client.force_login(fieldworker)
    assert client.post(reverse("analysis_occlusion", args=[analysis.pk])).status_code == 405


# ------------------------------------------------------------------------------------------ retry


def test_member_retries_a_failed_analysis(
    client, recording, fieldworker, model, fake_ml, django_capture_on_commit_callbacks
):
    analysis = add_result(recording, model, state=AnalysisState.FAILED)
    client.force_login(fieldworker)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("analysis_retry", args=[analysis.pk]), {"next": url(recording)})

    assert response.status_code == 302 and response["Location"] == url(recording)
    analysis.refresh_from_db()
    assert analysis.state == AnalysisState.DONE and analysis.error == ""


def test_retry_through_htmx_answers_204_and_wakes_the_progress_up(client, recording, fieldworker, model):
    analysis = add_result(recording, model, state=AnalysisState.FAILED)
    client.force_login(fieldworker)

    response = client.post(reverse("analysis_retry", args=[analysis.pk]), **HTMX)

    assert response.status_code == 204 and response["HX-Trigger"] == "analyses-queued"
    analysis.refresh_from_db()
    assert analysis.state == AnalysisState.QUEUED


def test_retry_ignores_an_analysis_that_did_not_fail(client, recording, fieldworker, model):
    analysis = add_result(recording, model)
    client.force_login(fieldworker)

    client.post(reverse("analysis_retry", args=[analysis.pk]))

    analysis.refresh_from_db()
    assert analysis.state == AnalysisState.DONE


def test_retry_refuses_outside_redirect_targets(client, recording, fieldworker, model):
    analysis = add_result(recording, model, state=AnalysisState.FAILED)
    client.force_login(fieldworker)

    response = client.post(reverse("analysis_retry", args=[analysis.pk]), {"next": "https://evil.example/"})

    assert response["Location"] == url(recording)


def test_retry_outsider_gets_404(client, recording, outsider, model):
    analysis = add_result(recording, model, state=AnalysisState.FAILED)
    client.force_login(outsider)

    assert client.post(reverse("analysis_retry", args=[analysis.pk])).status_code == 404
    analysis.refresh_from_db()
    assert analysis.state == AnalysisState.FAILED


def test_retry_answers_only_post(client, recording, fieldworker, model):
    analysis = add_result(recording, model, state=AnalysisState.FAILED)
    client.force_login(fieldworker)
    assert client.get(reverse("analysis_retry", args=[analysis.pk])).status_code == 405


def test_a_call_unlike_the_training_data_is_marked_in_the_calls_table(client, recording, fieldworker, model):
    from classifier.models import CallDetection

    analysis = add_result(recording, model, species=(PIP,), calls=[(PIP, 0), ("Chiroptera sp.", 0)])
    CallDetection.objects.filter(analysis=analysis, species="Chiroptera sp.").update(novel=True)
    client.force_login(fieldworker)

    page = client.get(url(recording)).content.decode()

    assert page.count("unlike training data") == 1
    assert "has not seen a call like this one" in page
