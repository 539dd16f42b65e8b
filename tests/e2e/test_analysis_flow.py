"""End to end in Chromium (issue 5, "How it is checked"): a fieldworker uploads two synthetic recordings of
known species on the visit page, the real Celery worker ingests and analyses them with the active model, the
night's progress bar finishes, and the recording page shows what a person checks a result with: the
spectrogram with the detected calls boxed and listed, the right species, the occlusion map on demand and the
1/10-speed audio.

The active model is the ml tests' tiny CNN (common pipistrelle, noctule, noise; trained once per test
process, about half a minute). Each recording holds one bat flying past at a distance typical of its
species (a fifth of its detection distance), as in the model's synthetic training data: a noctule at 3 m
clips the recorder and smears its calls up to pipistrelle frequencies. The pipistrelle recording is the one
opened and checked call by call: that tiny model names pipistrelles surely, while on noctules it is often
unsure and rightly falls back to a group, so the noctule only has to be told apart from the pipistrelle.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import soundfile as sf
from django.urls import reverse
from playwright.sync_api import Locator, Page, Response, expect

from classifier import services
from classifier.playback import SLOWDOWN
from ml.labels import BAT, group_of
from surveys.models import Recording, Role
from tests.factories import SiteFactory, VisitFactory, member
from tests.synthetic_audio import one_bat_wav

PIP = "Pipistrellus pipistrellus"
NOC = "Nyctalus noctula"
SAMPLE_RATE_HZ = 384_000
DURATION_S = 3.0
# Site-local detector file names inside the visit's night (VisitFactory: 12 June 2025, 21:30-01:30).
FILE_NAMES = {PIP: "KR01_20250612_231500.wav", NOC: "KR01_20250612_234500.wav"}

# Generous: the worker loads torch and the model on its first task, on two cores shared with other jobs.
ANALYSIS_TIMEOUT_MS = 240_000
IMAGE_TIMEOUT_MS = 120_000  # first render: decode, spectrogram, matplotlib (occlusion: re-analysis too)
AUDIO_TIMEOUT_MS = 60_000


def _one_bat_file(path: Path, species: str, *, seed: int) -> Path:
    """DURATION_S at 384 kHz with one `species` bat flying past at a fifth of its detection distance."""
    path.write_bytes(one_bat_wav(species, seed=seed, duration_s=DURATION_S, sample_rate_hz=SAMPLE_RATE_HZ))
    return path


@pytest.fixture(scope="module")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.ml.test_infer import tiny_model_file

    return tiny_model_file(tmp_path_factory.getbasetemp() / "ml-tiny-model")


@pytest.fixture(scope="module")
def known_recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("e2e-analysis-wavs")
    return {
        species: _one_bat_file(folder / FILE_NAMES[species], species, seed=seed)
        for seed, species in enumerate((PIP, NOC), start=1)
    }


def _expect_image_loaded(page: Page, image: Locator, *, timeout_ms: int) -> None:
    """The <img> finished loading and decoded to a picture (a 404 or a broken PNG has natural width 0)."""
    expect(image).to_be_visible(timeout=timeout_ms)
    page.wait_for_function("img => img.complete", arg=image.element_handle(), timeout=timeout_ms)
    natural_width = image.evaluate("img => img.naturalWidth")
    if not natural_width:
        answer = page.request.get(image.get_attribute("src") or "")
        pytest.fail(f"image {image.get_attribute('src')} did not load: HTTP {answer.status} {answer.headers}")
    answer = page.request.get(image.get_attribute("src") or "")
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"


def test_fieldworker_uploads_two_recordings_and_checks_an_analysed_one(
    page: Page, log_in, live_server, celery_worker_process, tiny_model_path, known_recordings
) -> None:
    model = services.model_version_register(path=tiny_model_path, name="tiny-e2e", activate=True)
    visit = VisitFactory(site=SiteFactory(code="KR01", name="Kromme Rijn", time_zone="Europe/Amsterdam"))
    fieldworker = member(visit.site.project, Role.FIELDWORKER)
    log_in(page, fieldworker)

    # The visit page: upload both files through the page's file input (upload.js sends them with XHR).
    page.goto(reverse("visit_detail", args=[visit.pk]))
    progress = page.locator("#visit-progress")
    expect(progress).to_be_attached()  # the results section came in by htmx and listens for new uploads
    page.locator("#upload-form input[type=file]").set_input_files(
        [known_recordings[PIP], known_recordings[NOC]]
    )
    page.locator("#upload-form").get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-results")).to_contain_text("2 accepted, 0 duplicate, 0 rejected")

    # The night's progress bar fills as the worker ingests and analyses, then stops polling.
    bar = progress.locator("[role=progressbar]")
    expect(bar).to_have_attribute("aria-valuemax", "2", timeout=ANALYSIS_TIMEOUT_MS)
    expect(progress).to_have_attribute("data-pending", "false", timeout=ANALYSIS_TIMEOUT_MS)
    expect(bar).to_have_attribute("aria-valuenow", "2")
    expect(progress).to_contain_text(re.compile(r"analysed:\s*2\b"))
    expect(progress).to_contain_text(re.compile(r"failed:\s*0\b"))
    expect(progress).to_contain_text(f"Active model: {model.name}")

    # The table gives each file's species, dominant first: the pipistrelle by name, the noctule as a
    # noctule or, when the model is unsure, as its group or a bat of unknown group; never as a pipistrelle.
    recordings = {
        species: Recording.objects.get(visit=visit, original_name=name)
        for species, name in FILE_NAMES.items()
    }
    noctule_answers = "|".join(re.escape(label) for label in (NOC, group_of(NOC), BAT))
    accepted = {PIP: re.compile(f"^{re.escape(PIP)}$"), NOC: re.compile(f"^({noctule_answers})$")}
    for species, recording in recordings.items():
        row = page.locator(f"#recording-row-{recording.pk}")
        expect(row).to_have_attribute("data-state", "done", timeout=ANALYSIS_TIMEOUT_MS)
        expect(row.locator("td").nth(3).locator("span").first).to_have_attribute("title", accepted[species])

    # Open the pipistrelle recording from the table.
    page.locator("#visit-recordings").get_by_role("link", name=FILE_NAMES[PIP]).click()
    expect(page).to_have_url(re.compile(rf"/recordings/{recordings[PIP].pk}/"))
    results = page.locator("#analysis-results")
    expect(page.locator("#analysis-status")).to_have_attribute(
        "data-state", "done", timeout=ANALYSIS_TIMEOUT_MS
    )

    # The right species: the dominant species of the prediction, and the calls in the call list (a call
    # the model is unsure of may fall back to a group; none may be called a noctule).
    expect(results.locator("[data-species-present] strong").first).to_have_attribute("title", PIP)
    calls = results.locator("table.calls tbody tr")
    expect(calls.first).to_be_visible()
    n_calls = calls.count()
    call_species = [
        cell.get_attribute("title") for cell in results.locator("table.calls tbody td[title]").all()
    ]
    assert len(call_species) == n_calls
    assert call_species.count(PIP) >= 3, call_species
    assert NOC not in call_species, call_species

    # The spectrogram, with as many boxed calls as the call list holds.
    spectrogram = results.locator("figure.spectrogram img")
    expect(spectrogram).to_have_attribute("alt", re.compile(rf"\b{n_calls} detected calls boxed"))
    _expect_image_loaded(page, spectrogram, timeout_ms=IMAGE_TIMEOUT_MS)

    # The occlusion map on demand.
    results.get_by_role("link", name="Show the occlusion map").click()
    occlusion = page.locator("figure#occlusion img")
    expect(occlusion).to_have_attribute("alt", re.compile("^Occlusion map"), timeout=IMAGE_TIMEOUT_MS)
    _expect_image_loaded(page, occlusion, timeout_ms=IMAGE_TIMEOUT_MS)

    # The 1/10-speed player: its source is a WAV ten times longer at a tenth of the rate, and it plays.
    player_responses: list[Response] = []
    page.on("response", lambda r: player_responses.append(r) if "audio-slow.wav" in r.url else None)
    slow = page.locator(f"audio[data-slowdown='{SLOWDOWN}']")
    expect(slow).to_be_attached()
    answer = page.request.get(slow.get_attribute("src") or "")
    assert answer.status == 200
    assert answer.headers["content-type"] == "audio/wav"
    info = sf.info(io.BytesIO(answer.body()))
    assert info.samplerate == SAMPLE_RATE_HZ // SLOWDOWN
    assert info.duration == pytest.approx(DURATION_S * SLOWDOWN, rel=0.01)

    played = slow.evaluate("audio => audio.play().then(() => 'playing', error => error.name)")
    if played == "playing":
        page.wait_for_function(
            "audio => !audio.paused && audio.currentTime > 0",
            arg=slow.element_handle(),
            timeout=AUDIO_TIMEOUT_MS,
        )
    else:
        slow.evaluate("audio => audio.load()")  # autoplay refused: the element must still load the source
    page.wait_for_function(
        "audio => audio.readyState >= 2", arg=slow.element_handle(), timeout=AUDIO_TIMEOUT_MS
    )
    assert slow.evaluate("audio => audio.duration") == pytest.approx(DURATION_S * SLOWDOWN, rel=0.01)
    assert slow.evaluate("audio => audio.error") is None
    assert player_responses, "the audio element never requested its source"
    assert all(r.status in (200, 206) for r in player_responses), [
        (r.url, r.status) for r in player_responses
    ]
    assert {r.headers.get("content-type") for r in player_responses} == {"audio/wav"}
