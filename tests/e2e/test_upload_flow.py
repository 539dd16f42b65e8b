"""Issue 2 end to end: a fieldworker logs in, creates a visit, uploads three WAVs, a ZIP and a corrupt file in
Chromium, and a real Celery worker ingests them while the page shows the statuses and the rejection."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf
from playwright.sync_api import Page, expect

from surveys.models import Recording, RecordingStatus, Role
from tests.factories import SiteFactory, member

TRUE_RATE_HZ = 384_000
INGEST_TIMEOUT_MS = 90_000


def _chirp_wav(seconds: float, start_hz: float, seed: int) -> bytes:
    """A short pipistrelle-like sweep train at 384 kHz (distinct content per seed, so no duplicates)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * TRUE_RATE_HZ)) / TRUE_RATE_HZ
    samples = 0.01 * rng.standard_normal(t.size)
    for onset in np.arange(0.05, seconds - 0.02, 0.09):
        n = int(0.006 * TRUE_RATE_HZ)
        tc = np.arange(n) / TRUE_RATE_HZ
        sweep = np.sin(2 * np.pi * (start_hz * tc - (start_hz - 45_000) * tc**2 / (2 * 0.006)))
        i = int(onset * TRUE_RATE_HZ)
        samples[i : i + n] += 0.5 * sweep * np.hanning(n)
    buffer = io.BytesIO()
    sf.write(buffer, samples.astype(np.float32), TRUE_RATE_HZ, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_fieldworker_creates_a_visit_uploads_a_night_and_sees_statuses(
    page: Page, log_in, celery_worker_process, tmp_path: Path
) -> None:
    site = SiteFactory(code="KR01", name="Kromme Rijn")
    fieldworker = member(site.project, Role.FIELDWORKER)
    files = []
    for number, stamp in enumerate(("231502", "231733", "232010")):
        path = tmp_path / f"KR01_20250612_{stamp}.wav"
        path.write_bytes(_chirp_wav(0.5, 70_000 + 1_000 * number, seed=number))
        files.append(path)
    archive = tmp_path / "card.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("night/KR01_20250613_001500.wav", _chirp_wav(0.5, 66_000, seed=10))
        zf.writestr("night/KR01_20250613_002000.wav", _chirp_wav(0.5, 64_000, seed=11))
    corrupt = tmp_path / "KR01_20250612_233000.wav"
    corrupt.write_bytes(b"this is not audio at all, only a name ending in .wav" * 20)
    files += [archive, corrupt]

    log_in(page, fieldworker)
    page.goto(f"/sites/{site.pk}/")
    page.get_by_role("link", name="New visit").click()
    page.locator("#id_night").fill("2025-06-12")
    page.locator("#id_start_time").fill("21:30")
    page.locator("#id_end_time").fill("01:30")
    page.locator("form").filter(has=page.locator("#id_night")).locator("button[type=submit]").click()
    expect(page.get_by_role("heading", name=re.compile("Night of"))).to_be_visible()

    page.locator("#upload-form input[type=file]").set_input_files([str(path) for path in files])
    page.locator("[data-upload-button]").click()

    results = page.locator("#upload-results")
    expect(results.locator(".results-summary")).to_have_text(re.compile(r"5 accepted, 0 duplicate, 1 rejected"))
    rejected = results.locator(".result-rejected")
    expect(rejected).to_have_count(1)
    expect(rejected).to_contain_text("KR01_20250612_233000.wav")
    expect(rejected.locator(".result-message")).not_to_be_empty()

    # The worker reads the metadata; the table polls until no file is waiting any more.
    table = page.locator("#recordings")
    expect(table.locator("tbody tr")).to_have_count(5, timeout=INGEST_TIMEOUT_MS)
    expect(table.locator(".badge-uploaded")).to_have_count(0, timeout=INGEST_TIMEOUT_MS)
    expect(table.locator("tbody .badge-ingested")).to_have_count(5)
    expect(table).to_contain_text("KR01_20250613_001500.wav")

    stored = Recording.objects.filter(visit__site=site)
    assert stored.count() == 5
    assert set(stored.values_list("status", flat=True)) == {RecordingStatus.INGESTED}
    assert set(stored.values_list("sample_rate_hz", flat=True)) == {TRUE_RATE_HZ}
