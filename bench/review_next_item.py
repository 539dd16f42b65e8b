"""Benchmark (run by hand): opening the next review item in a project with 100,000 analysed recordings.

Issue 6 target: opening the next item takes under 100 ms at p95 server time with 100,000 recordings in the
project.

    .venv/bin/python bench/review_next_item.py [--recordings 100000] [--requests 200] [--work DIR]

`--work DIR` keeps the database in DIR and reuses it on the next run (building takes about four minutes).

Builds a throwaway SQLite database (tests.settings, WAL, as in production) in a temporary folder with
bulk_create: one project, 10 sites x 20 nights, `--recordings` analysed recordings with three detected
calls each, a realistic species mix (mostly common pipistrelles, some Red List species, buzzes and social
calls), the review queue entries the prediction hook writes, and 20 % of the recordings already reviewed.
Then times, in one warm process with Django's test client (middleware, session, templates: everything the
server does for a request, nothing of the network or the browser):

- the review screen of the next item, as a page and as the HTMX fragment that swaps in;
- a decision (confirm) that answers the next item's fragment, the way an expert works through the queue;
- the next item with a site filter, a rare-species filter and a species no entry has (a full index scan);
- the queue page (with its sync check for predictions stored without the hook).

Each line gives wall-clock time and the process's CPU time (SQLite runs in-process, its pages cached): on a
machine shared with other work the wall clock includes waiting for a core, the CPU time does not.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPECIES_MIX = (  # (species present, share of recordings)
    (("Pipistrellus pipistrellus",), 0.55),
    (("Pipistrellus pipistrellus", "Nyctalus noctula"), 0.05),
    (("Nyctalus noctula",), 0.10),
    (("Eptesicus serotinus",), 0.07),
    (("Myotis daubentonii",), 0.06),
    (("Pipistrellus nathusii/kuhlii",), 0.05),
    (("Pipistrellus sp.",), 0.04),
    (("Myotis sp.",), 0.03),
    (("Plecotus auritus/austriacus",), 0.02),
    (("Myotis dasycneme",), 0.01),
    (("noise",), 0.02),
)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _line(name: str, seconds: list[float], cpu_seconds: list[float], queries: list[int]) -> str:
    ms = [s * 1000 for s in seconds]
    cpu = [s * 1000 for s in cpu_seconds]
    return (
        f"{name:<44} n={len(ms):<4} wall median {statistics.median(ms):6.1f} p95 {_percentile(ms, 95):6.1f}"
        f" max {max(ms):6.1f} ms | cpu median {statistics.median(cpu):6.1f} p95 {_percentile(cpu, 95):6.1f} ms"
        f" | queries {max(queries)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--work", type=Path, default=None, help="keep (and reuse) the database in this folder")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-review-"))
    work.mkdir(parents=True, exist_ok=True)
    reuse = (work / "bench.sqlite3").exists()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        BATSITE_VAR_DIR=str(work / "var"),
        SQLITE_PATH=str(work / "bench.sqlite3"),
        MEDIA_ROOT=str(work / "media"),
        LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver",
        DEBUG="false",
    )
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.urls import clear_url_caches

    settings.ROOT_URLCONF = "tests.classifier.review_urls"  # until batsite/urls.py includes the review URLs
    clear_url_caches()
    (work / "var").mkdir(parents=True, exist_ok=True)
    call_command("migrate", verbosity=0)
    if not reuse:
        _build(args.recordings)
    _measure(args.requests)
    print(f"\nwork folder: {work} (delete it when done)")


def _build(recordings_wanted: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from classifier import review
    from classifier.models import (
        Analysis, CallDetection, LabelDecision, ModelVersion, Prediction, QueueState, ReviewQueueEntry, ReviewStatus,
    )  # fmt: skip
    from ml.labels import group_of
    from surveys.models import Membership, Project, Recording, RecordingStatus, Role, Site, Visit

    rng = random.Random(6)
    started = time.perf_counter()
    user_model = get_user_model()
    expert = user_model.objects.create_user("expert", password="x")
    project = Project.objects.create(name="Benchmark")
    Membership.objects.create(user=expert, project=project, role=Role.EXPERT)
    model = ModelVersion.objects.create(name="bench", file="models/bench.pt", sha256="0" * 64, is_active=True,
                                        label_set=[], call_types=[])  # fmt: skip
    sites = Site.objects.bulk_create(
        Site(project=project, code=f"S{i:02d}", name=f"Site {i}", latitude=52.0, longitude=5.0) for i in range(10)
    )
    visits = Visit.objects.bulk_create(
        Visit(site=site, night=timezone.now().date() - timezone.timedelta(days=n)) for site in sites for n in range(20)
    )
    now = timezone.now()
    batch = 5000
    species_choices = [present for present, _ in SPECIES_MIX]
    weights = [share for _, share in SPECIES_MIX]
    for start in range(0, recordings_wanted, batch):
        count = min(batch, recordings_wanted - start)
        recordings = Recording.objects.bulk_create(
            Recording(project=project, visit=visits[(start + i) % len(visits)], file=f"recordings/{start + i}.wav",
                      sha256=f"{start + i:064d}", original_name=f"REC_{start + i:06d}.wav", size_bytes=1,
                      status=RecordingStatus.INGESTED, recorded_at=now, duration_s=3.0, time_expansion=1.0)
            for i in range(count)
        )  # fmt: skip
        analyses = Analysis.objects.bulk_create(
            Analysis(recording=r, model_version=model, state="done", finished_at=now) for r in recordings
        )
        predictions = []
        calls = []
        for recording, analysis in zip(recordings, analyses):
            present = rng.choices(species_choices, weights)[0]
            confidence = min(0.999, max(0.3, rng.betavariate(8, 2)))
            margin = confidence * rng.uniform(0.2, 1.0)
            call_types = ["echolocation"]
            buzzes = 1 if rng.random() < 0.05 else 0
            social = 1 if rng.random() < 0.03 else 0
            if buzzes:
                call_types.append("feeding_buzz")
            if social:
                call_types.append("social_call")
            predictions.append(Prediction(
                analysis=analysis, recording=recording, model_version=model, species=present[0],
                species_group=group_of(present[0]), species_present=list(present), call_type=call_types[0],
                call_types=call_types, confidence=confidence, margin=margin,
                top=[[present[0], confidence], ["Nyctalus leisleri", confidence - margin]], n_calls=3, n_passes=1,
                feeding_buzzes=buzzes, social_calls=social,
            ))  # fmt: skip
            for k in range(3):
                calls.append(CallDetection(analysis=analysis, start_s=0.1 * k, end_s=0.1 * k + 0.005, low_hz=40e3,
                                           high_hz=70e3, peak_hz=46e3, snr_db=20, species=present[0],
                                           call_type="echolocation", confidence=confidence, pass_index=0))  # fmt: skip
        Prediction.objects.bulk_create(predictions)
        CallDetection.objects.bulk_create(calls)
    print(f"built {recordings_wanted} recordings with predictions and calls in {time.perf_counter() - started:.0f} s")

    started = time.perf_counter()
    added = review.review_queue_sync(project=project)  # what the _store_result hook writes one by one
    review.review_queue_refresh(project=project)
    reviewed_ids = list(Recording.objects.filter(project=project).order_by("?").values_list("pk", flat=True)
                        [: recordings_wanted // 5])  # fmt: skip
    LabelDecision.objects.bulk_create(
        (LabelDecision(recording_id=pk, reviewer=expert, status=ReviewStatus.CONFIRMED,
                       species_present=["Pipistrellus pipistrellus"], call_types=["echolocation"],
                       replaced_source="prediction") for pk in reviewed_ids),
        batch_size=5000,
    )  # fmt: skip
    ReviewQueueEntry.objects.filter(recording_id__in=reviewed_ids).update(state=QueueState.REVIEWED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"queued {added} entries, {len(reviewed_ids)} reviewed, in {time.perf_counter() - started:.0f} s")


def _measure(requests: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from classifier.models import ReviewQueueEntry
    from surveys.models import Project, Site

    expert = get_user_model().objects.get(username="expert")
    project = Project.objects.get(name="Benchmark")
    sites = list(Site.objects.filter(project=project).order_by("code"))
    client = Client()
    client.force_login(expert)
    htmx = {"HX-Request": "true"}
    next_url = reverse("review_next", args=[project.pk])

    def timed(method, url, data=None, headers=None) -> tuple[float, float, int]:
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            t, cpu = time.perf_counter(), time.process_time()
            response = getattr(client, method)(url, data or {}, headers=headers or {})
            elapsed, cpu_elapsed = time.perf_counter() - t, time.process_time() - cpu
        assert response.status_code in (200, 302), (url, response.status_code)
        return elapsed, cpu_elapsed, len(queries)

    def run(name: str, method: str, url_of, n: int, data=None, headers=None) -> None:
        timed(method, url_of(0), data, headers)  # warm-up (template compilation, caches)
        results = [timed(method, url_of(i), data, headers) for i in range(n)]
        print(_line(name, [r[0] for r in results], [r[1] for r in results], [r[2] for r in results]))

    left = ReviewQueueEntry.objects.filter(state="to_review").count()
    print(f"\n{ReviewQueueEntry.objects.count()} recordings, {left} to review; server time per request "
          "(Django test client, one process):")
    run("next item, full page", "get", lambda i: next_url, requests)
    run("next item, HTMX fragment", "get", lambda i: next_url, requests, headers=htmx)
    order = list(ReviewQueueEntry.objects.filter(project=project, state="to_review").order_by("-priority", "pk")
                 .values_list("recording_id", flat=True)[: requests + 1])  # fmt: skip
    run("decide (confirm) -> next item fragment", "post",
        lambda i: reverse("review_decide", args=[project.pk, order[i]]), requests,
        data={"action": "confirm"}, headers=htmx)  # fmt: skip
    site = sites[3]
    run("next item, site filter", "get", lambda i: f"{next_url}?site={site.pk}", requests // 2, headers=htmx)
    run("next item, rare species filter (pond bat)", "get", lambda i: f"{next_url}?species=Myotis+dasycneme",
        requests // 2, headers=htmx)  # fmt: skip
    run("next item, species with no entry (full scan)", "get", lambda i: f"{next_url}?species=Myotis+myotis",
        requests // 4, headers=htmx)  # fmt: skip
    run("queue page (incl. sync check)", "get", lambda i: reverse("review_queue", args=[project.pk]), 20)


if __name__ == "__main__":
    main()
