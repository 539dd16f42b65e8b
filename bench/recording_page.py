"""Benchmark (run by hand): the recording page with cached images, and the first render of its pictures.

Issue 5 targets: the recording page renders (images cached) in under 100 ms at p95; the first render of a
spectrogram takes under 1 s. Also reported: the first occlusion map, the cached PNG, the 1/10-speed copy.

    .venv/bin/python bench/recording_page.py [--files 5] [--requests 100]

Sets up its own SQLite database and media folder in a temporary directory (tests.settings), trains the ml
tests' tiny model (about 30 s; the page and the spectrogram do not depend on the model's size), writes
`--files` synthetic 5 s, 384 kHz recordings with one common pipistrelle each, analyses them (eagerly,
in-process) and times everything in one warm process, as a web worker would run it. One torch thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _line(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{name:<38} n={len(ms):<4} median {statistics.median(ms):7.1f} ms  p95 {_percentile(ms, 95):7.1f} ms"
        f"   max {max(ms):7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-recording-page-"))
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        BATSITE_VAR_DIR=str(work / "var"),
        SQLITE_PATH=str(work / "bench.sqlite3"),
        MEDIA_ROOT=str(work / "media"),
        CELERY_TASK_ALWAYS_EAGER="true",
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver",
    )
    sys.path.insert(0, str(REPO))
    import torch

    torch.set_num_threads(1)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    from classifier import images, playback, services
    from classifier.models import Analysis, AnalysisState, RenderedImage
    from surveys.models import RecordingStatus, Role
    from tests.factories import RecordingFactory, SiteFactory, VisitFactory, member
    from tests.ml.test_infer import PIP, tiny_model_file, write_synthetic_file

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    model_path = tiny_model_file(work / "model")
    print(f"tiny model trained in {time.perf_counter() - started:.0f} s")
    services.model_version_register(path=model_path, name="tiny", activate=True)

    visit = VisitFactory(site=SiteFactory(code="B01"))
    user = member(visit.site.project, Role.FIELDWORKER)
    recordings = []
    for i in range(args.files):
        wav = write_synthetic_file(work / f"pip{i}.wav", (PIP,), seed=100 + i, duration_s=5.0)
        recording = RecordingFactory(
            visit=visit,
            content=wav.read_bytes(),
            status=RecordingStatus.INGESTED,
            duration_s=5.0,
            sample_rate_hz=384_000,
            header_sample_rate_hz=384_000,
            time_expansion=1.0,
            original_name=f"B01_{i:04d}.wav",
        )
        services.analysis_queue(recording_id=recording.pk)  # autocommit: the eager task runs now
        recordings.append(recording)
    analyses = list(Analysis.objects.filter(recording__in=recordings, state=AnalysisState.DONE))
    assert len(analyses) == len(recordings), "some analyses did not finish"

    # Warm the process once (imports, font cache, torch kernels) on a throw-away render, as a web worker
    # that has served a page before would be.
    images.analysis_image(analysis=analyses[0], kind="spectrogram")
    RenderedImage.objects.all().delete()

    spectrogram, occlusion, slowed = [], [], []
    for analysis in analyses:
        t0 = time.perf_counter()
        images.analysis_image(analysis=analysis, kind="spectrogram")
        t1 = time.perf_counter()
        images.analysis_image(analysis=analysis, kind="occlusion")
        t2 = time.perf_counter()
        playback.slowed_copy(analysis.recording)
        t3 = time.perf_counter()
        spectrogram.append(t1 - t0)
        occlusion.append(t2 - t1)
        slowed.append(t3 - t2)

    client = Client()
    client.force_login(user)
    page_times, png_times = [], []
    for i in range(args.requests):
        recording = recordings[i % len(recordings)]
        analysis = analyses[i % len(analyses)]
        t0 = time.perf_counter()
        response = client.get(reverse("recording_analysis", args=[recording.pk]))
        t1 = time.perf_counter()
        image = client.get(reverse("analysis_spectrogram_png", args=[analysis.pk]))
        b"".join(image.streaming_content)
        t2 = time.perf_counter()
        assert response.status_code == 200 and image.status_code == 200
        page_times.append(t1 - t0)
        png_times.append(t2 - t1)

    print(_line("first spectrogram render (5 s, 384 kHz)", spectrogram))
    print(_line("first occlusion map render", occlusion))
    print(_line("first 1/10-speed copy", slowed))
    print(_line("recording page (images cached)", page_times))
    print(_line("cached spectrogram PNG", png_times))


if __name__ == "__main__":
    main()
