"""End to end in Chromium: an expert reviews five items with the keyboard only, and the night's labels show
the corrected final labels.

The visit's recording list (classifier/visit_results.html) does not show final labels yet; until the lead
drops the review cell into it (see classifier/templatetags/review_labels.py), this test reads the night's
labels page of the review app, which renders the same cell.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from classifier.final_labels import final_labels
from classifier.models import LabelDecision, ReviewStatus
from surveys.models import Role
from tests.classifier.conftest import wav_bytes
from tests.classifier.factories_review import PIP, ModelVersionFactory, analysed
from tests.factories import SiteFactory, VisitFactory, member


NOC = "Nyctalus noctula"
DAU = "Myotis daubentonii"


@pytest.fixture
def media(settings, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}},
    }
    return root


def _title(page: Page):
    return page.locator("#review-item h1")


def test_expert_reviews_five_items_with_the_keyboard_and_the_night_shows_the_final_labels(
    page: Page, log_in, live_server, media
) -> None:
    visit = VisitFactory(site=SiteFactory(code="KR01", name="Kromme Rijn"))
    project = visit.site.project
    expert = member(project, Role.EXPERT)
    model = ModelVersionFactory()
    start = dt.datetime(2025, 6, 12, 21, 0, tzinfo=dt.UTC)
    recordings = [
        analysed(visit, model, species_present=(PIP,), confidence=0.5 + 0.05 * n, margin=0.1,
                 original_name=f"night_{n}.wav", content=wav_bytes(seed=n), recorded_at=start + dt.timedelta(minutes=n))
        for n in range(5)
    ]  # fmt: skip

    log_in(page, expert)
    page.goto(reverse("review_next", args=[project.pk]))
    expect(_title(page)).to_have_text("night_0.wav")
    expect(page.get_by_text("Keyboard shortcuts")).to_be_visible()
    page.evaluate("window.__stillTheSamePage = true")

    # 1: confirm the pipistrelle.
    page.keyboard.press("c")
    expect(_title(page)).to_have_text("night_1.wav")
    # 2: correct: remove the pipistrelle, type the noctule's Dutch code, Enter adds it, Enter saves.
    page.keyboard.press("e")
    page.keyboard.press("Backspace")
    page.keyboard.type("RV")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(_title(page)).to_have_text("night_2.wav")
    # 3: no bat.
    page.keyboard.press("n")
    expect(_title(page)).to_have_text("night_3.wav")
    # 4: add Daubenton's bat to the pipistrelle, typed by its scientific name.
    page.keyboard.press("e")
    page.keyboard.type(DAU)
    page.keyboard.press("Enter")
    page.keyboard.press("Control+Enter")
    expect(_title(page)).to_have_text("night_4.wav")
    # 5: mark the social calls (call type 3) and save the correction from the species field.
    page.keyboard.press("3")
    page.keyboard.press("e")
    page.keyboard.press("Enter")
    expect(_title(page)).to_have_text("Nothing left to review")
    assert page.evaluate("window.__stillTheSamePage") is True  # items swapped in, never a full reload

    decisions = list(LabelDecision.objects.order_by("decided_at", "pk"))
    assert [d.status for d in decisions] == [ReviewStatus.CONFIRMED, ReviewStatus.CORRECTED, ReviewStatus.NO_BAT,
                                             ReviewStatus.CORRECTED, ReviewStatus.CORRECTED]  # fmt: skip
    finals = final_labels([r.pk for r in recordings])
    assert [finals[r.pk].species_present for r in recordings] == [(PIP,), (NOC,), ("noise",), (PIP, DAU), (PIP,)]
    assert finals[recordings[4].pk].call_types == ("echolocation", "social_call")

    # The visit page's recording list (its analysis results table) shows the final labels.
    page.goto(reverse("visit_detail", args=[visit.pk]))
    rows = {n: page.locator(f"#recording-row-{r.pk}") for n, r in enumerate(recordings)}
    expect(rows[0].locator("[data-final-label]")).to_contain_text("Common pipistrelle")
    expect(rows[0].locator("[data-review-status]")).to_have_attribute("data-review-status", "confirmed")
    expect(rows[1].locator("[data-final-label] [data-species]")).to_have_text("Noctule")
    expect(rows[1].locator("[data-review-status]")).to_have_attribute("data-review-status", "corrected")
    expect(rows[2].locator("[data-final-label]")).to_contain_text("Noise (no bat)")
    expect(rows[3].locator("[data-final-label] [data-species]")).to_have_text("Common pipistrelle, Daubenton's bat")
    expect(rows[4].locator("[data-final-label]")).to_contain_text("social call")
    expect(rows[1].locator("[data-own-label]")).to_contain_text("You: corrected Noctule")


def test_next_swaps_in_the_prefetched_item_and_previous_goes_back_to_the_last_decision(
    page: Page, log_in, live_server, media
) -> None:
    visit = VisitFactory()
    project = visit.site.project
    expert = member(project, Role.EXPERT)
    model = ModelVersionFactory()
    recordings = [
        analysed(visit, model, confidence=0.5 + 0.1 * n, margin=0.1, original_name=f"item_{n}.wav",
                 content=wav_bytes(seed=10 + n))
        for n in range(3)
    ]  # fmt: skip
    second_url = reverse("review_item", args=[project.pk, recordings[1].pk])
    log_in(page, expert)

    with page.expect_response(lambda r: r.url.endswith(second_url) and r.request.headers.get("hx-request") == "true"):
        page.goto(reverse("review_next", args=[project.pk]))  # the page fetches the next item in advance
    expect(_title(page)).to_have_text("item_0.wav")
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))

    page.keyboard.press("j")
    expect(_title(page)).to_have_text("item_1.wav")
    expect(page).to_have_url(f"{live_server.url}{second_url}")
    assert not any(url.endswith(second_url) for url in fetched)  # swapped in from the prefetch, no request

    page.keyboard.press("c")  # the swapped-in item's form works like any other
    expect(_title(page)).to_have_text("item_2.wav")
    page.keyboard.press("k")
    expect(_title(page)).to_have_text("item_1.wav")
    expect(page.locator("#review-item [data-final-label] [data-review-status]")).to_have_attribute(
        "data-review-status", "confirmed"
    )
