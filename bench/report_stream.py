"""Benchmark (run by hand): the recordings CSV of a site with 100,000 rows streams in under 10 s, flat memory.

Issue 8 target: a 100,000-row report streams in under 10 s with flat memory.

    .venv/bin/python bench/report_stream.py [--recordings 100000] [--two-species-every 10] [--repeat 3]
        [--database DIR] [--csv-out FILE] [--users manager,fieldworker] [--profile N] [--no-summary]

`--database DIR` keeps the populated database in DIR and reuses it on the next run (filling 100,000
recordings takes minutes); `--csv-out FILE` writes the manager's download to FILE (to compare two versions
byte for byte); `--profile N` prints the N most expensive functions (cProfile) of one manager download.

Sets up its own SQLite database in a temporary directory (tests.settings) with one site, 50 nights and
`--recordings` recordings, each with an analysis, a prediction and its calls (two passes of the common
pipistrelle, a feeding buzz; every `--two-species-every`-th recording also a noctule pass), and an expert's
decision on every 20th recording. Then it downloads the site's recordings CSV through the Django test client
(the real view, final labels and all), as a manager and as a fieldworker of a project with a sensitive species
(which adds the blurring queries), reading the streamed blocks as a browser would:

- time to the first block and to the last (wall clock, and this process's CPU time, which shows what the
  stream costs when other work shares the cores), rows and bytes;
- the process's resident memory (VmRSS) before and, sampled at every block, at its highest while streaming;
- in a second pass under tracemalloc, the peak of Python allocations after the first tenth of the rows and
  after all rows: equal peaks mean memory does not grow with the length of the report.
Finally the nightly summary CSV of the same site (pandas, built in memory) is timed once for reference.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import pstats
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NIGHTS = 50


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _populate(n: int, two_species_every: int) -> tuple[object, object, object]:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from classifier.models import (
        Analysis, AnalysisState, CallDetection, LabelDecision, ModelVersion, Prediction, SensitiveSpecies,
    )  # fmt: skip
    from surveys.models import Membership, Project, Recording, RecordingStatus, Role, Site, Visit

    user_model = get_user_model()
    manager = user_model.objects.create_user("manager", password="x")
    fieldworker = user_model.objects.create_user("fieldworker", password="x")
    expert = user_model.objects.create_user("expert", password="x")
    project = Project.objects.create(name="Bench")
    Membership.objects.create(user=manager, project=project, role=Role.MANAGER)
    Membership.objects.create(user=fieldworker, project=project, role=Role.FIELDWORKER)
    SensitiveSpecies.objects.create(project=project, species="Nyctalus noctula")
    site = Site.objects.create(
        project=project, code="B01", name="Bench site", latitude=52.0907, longitude=5.1214
    )
    first = dt.date(2025, 5, 15)
    visits = Visit.objects.bulk_create(
        Visit(
            site=site,
            night=first + dt.timedelta(days=i),
            start_time=dt.time(22, 0),
            end_time=dt.time(2, 0),
            purpose="foraging_area",
            temperature_c=15,
            wind_beaufort=2,
        )  # fmt: skip
        for i in range(NIGHTS)
    )
    model = ModelVersion.objects.create(name="bench", file="models/bench.pt", sha256="0" * 64, is_active=True)
    tz = site.tz
    batch = 5000
    now = timezone.now()
    for start in range(0, n, batch):
        ids = range(start, min(n, start + batch))
        recordings = Recording.objects.bulk_create(
            Recording(
                project=project, visit=visits[i % NIGHTS], file=f"recordings/{i}.wav", sha256=f"{i:064x}",
                original_name=f"B01_{i:06d}.wav", size_bytes=1_920_044, duration_s=5.0, sample_rate_hz=384_000,
                header_sample_rate_hz=384_000, time_expansion=1.0, status=RecordingStatus.INGESTED,
                recorded_at=dt.datetime.combine(first + dt.timedelta(days=i % NIGHTS), dt.time(22, 0), tzinfo=tz)
                + dt.timedelta(seconds=(i // NIGHTS) * 7),
            )
            for i in ids
        )  # fmt: skip
        analyses = Analysis.objects.bulk_create(
            Analysis(recording=r, model_version=model, state=AnalysisState.DONE, finished_at=now)
            for r in recordings
        )
        predictions, calls, decisions = [], [], []
        for i, recording, analysis in zip(ids, recordings, analyses, strict=True):
            two = i % two_species_every == 0
            present = (
                ["Pipistrellus pipistrellus", "Nyctalus noctula"] if two else ["Pipistrellus pipistrellus"]
            )
            predictions.append(Prediction(
                analysis=analysis, recording=recording, model_version=model, species=present[0],
                species_group="Pipistrellus sp.", species_present=present, call_type="echolocation",
                call_types=["echolocation", "feeding_buzz"], confidence=0.5 + (i % 50) / 100, n_calls=5, n_passes=2,
                feeding_buzzes=1,
            ))  # fmt: skip
            pattern = [("Pipistrellus pipistrellus", "echolocation", 0, 0.1), ("Pipistrellus pipistrellus", "echolocation", 0, 0.2),
                       ("Pipistrellus pipistrellus", "feeding_buzz", 0, 0.3), ("Pipistrellus pipistrellus", "echolocation", 1, 3.0),
                       ("Pipistrellus pipistrellus", "echolocation", 1, 3.1)]  # fmt: skip
            if two:
                pattern += [
                    ("Nyctalus noctula", "echolocation", 2, 4.0),
                    ("Nyctalus noctula", "echolocation", 2, 4.3),
                ]
            calls.extend(
                CallDetection(
                    analysis=analysis,
                    start_s=s,
                    end_s=s + 0.005,
                    low_hz=40_000,
                    high_hz=70_000,
                    peak_hz=46_000,
                    snr_db=20,
                    species=sp,
                    call_type=ct,
                    confidence=0.9,
                    pass_index=p,
                )  # fmt: skip
                for sp, ct, p, s in pattern
            )
            if i % 20 == 0:
                decisions.append(LabelDecision(recording=recording, reviewer=expert, status="confirmed",
                                               species_present=present, call_types=["echolocation"], decided_at=now))  # fmt: skip
        Prediction.objects.bulk_create(predictions)
        CallDetection.objects.bulk_create(calls, batch_size=5000)
        LabelDecision.objects.bulk_create(decisions)
    return site, manager, fieldworker


def _stream(client, url: str, *, traced: bool, tenth_rows: int) -> dict[str, float]:
    rss_before = _rss_mb()
    if traced:
        tracemalloc.start()
    started = time.perf_counter()
    cpu_started = time.process_time()
    response = client.get(url)
    assert response.status_code == 200 and response.streaming, response
    first_block = None
    rows = size = 0
    rss_max = rss_before
    peak_tenth = None
    for block in response.streaming_content:
        if first_block is None:
            first_block = time.perf_counter() - started
        size += len(block)
        rows += block.count(b"\n")
        rss_max = max(rss_max, _rss_mb())
        if traced and peak_tenth is None and rows >= tenth_rows:
            peak_tenth = tracemalloc.get_traced_memory()[1] / 2**20
    response.close()
    total = time.perf_counter() - started
    result = {"seconds": total, "cpu_s": time.process_time() - cpu_started, "first_block_s": first_block or total,
              "rows": rows - 1, "mb": size / 2**20, "rss_before_mb": rss_before, "rss_max_mb": rss_max,
              "load": os.getloadavg()[0]}  # fmt: skip
    if traced:
        result["traced_peak_tenth_mb"] = peak_tenth or 0.0
        result["traced_peak_all_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--two-species-every", type=int, default=10)
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed downloads per user (best and median shown)"
    )
    parser.add_argument("--database", type=Path, help="keep the database in this folder and reuse it")
    parser.add_argument("--csv-out", type=Path, help="write the manager's CSV download to this file")
    parser.add_argument("--users", default="manager,fieldworker", help="who downloads, comma-separated")
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions of a download")
    parser.add_argument("--no-summary", action="store_true", help="skip the nightly summary CSV")
    args = parser.parse_args()

    work = args.database.resolve() if args.database else Path(tempfile.mkdtemp(prefix="bench-report-stream-"))
    work.mkdir(parents=True, exist_ok=True)
    shape = {"recordings": args.recordings, "two_species_every": args.two_species_every}
    marker = work / "populated.json"
    reuse = marker.exists() and json.loads(marker.read_text()) == shape
    if args.database and not reuse:
        (work / "bench.sqlite3").unlink(missing_ok=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.settings", BATSITE_VAR_DIR=str(work / "var"),
        SQLITE_PATH=str(work / "bench.sqlite3"), MEDIA_ROOT=str(work / "media"), LOG_LEVEL="WARNING",
        ALLOWED_HOSTS="testserver",
    )  # fmt: skip
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    if "classifier.urls_reports" not in open(REPO / "batsite" / "urls.py").read():
        settings.ROOT_URLCONF = (
            "tests.classifier.reports_fixture"  # the reports' URLs until the lead adds them
        )

    call_command("migrate", verbosity=0)
    if reuse:
        from django.contrib.auth import get_user_model

        from surveys.models import Site

        users = get_user_model().objects
        site, manager, fieldworker = (Site.objects.get(code="B01"), users.get(username="manager"),
                                      users.get(username="fieldworker"))  # fmt: skip
        print(f"{args.recordings} recordings reused (database in {work})")
    else:
        started = time.perf_counter()
        site, manager, fieldworker = _populate(args.recordings, args.two_species_every)
        marker.write_text(json.dumps(shape))
        print(
            f"{args.recordings} recordings stored in {time.perf_counter() - started:.0f} s (database in {work})"
        )
    url = reverse("site_recordings_csv", args=[site.pk])
    expected_rows = args.recordings + len(range(0, args.recordings, args.two_species_every))

    if args.csv_out or args.profile:
        client = Client()
        client.force_login(manager)
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        response = client.get(url)
        content = b"".join(response.streaming_content)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
        if args.csv_out:
            args.csv_out.write_bytes(content)
            print(f"manager's CSV written to {args.csv_out} ({len(content)} bytes)")

    chosen = set(args.users.split(","))
    for who, user in (("manager", manager), ("fieldworker (blurring)", fieldworker)):
        if who.split()[0] not in chosen:
            continue
        client = Client()
        client.force_login(user)
        _stream(client, url, traced=False, tenth_rows=0)  # warm: imports, query plans
        runs = sorted((_stream(client, url, traced=False, tenth_rows=0) for _ in range(args.repeat)),
                      key=lambda run: run["seconds"])  # fmt: skip
        timed = runs[0]
        traced = _stream(client, url, traced=True, tenth_rows=expected_rows // 10)
        assert timed["rows"] == expected_rows, (timed["rows"], expected_rows)
        print(
            f"{who:<24} {timed['rows']} rows, {timed['mb']:.1f} MB; best of {args.repeat}: {timed['seconds']:.2f} s "
            f"wall, {timed['cpu_s']:.2f} s CPU (1-min load {timed['load']:.1f}), median "
            f"{runs[len(runs) // 2]['seconds']:.2f} s wall; first block after {timed['first_block_s'] * 1000:.0f} ms; "
            f"RSS {timed['rss_before_mb']:.0f} MB before, {max(r['rss_max_mb'] for r in runs):.0f} MB at most while "
            f"streaming; traced Python peak {traced['traced_peak_tenth_mb']:.1f} MB after the first tenth of the "
            f"rows, {traced['traced_peak_all_mb']:.1f} MB after all"
        )
    if args.no_summary:
        return
    client = Client()
    client.force_login(manager)
    rss_before = _rss_mb()
    started, cpu_started = time.perf_counter(), time.process_time()
    response = client.get(reverse("site_summary_csv", args=[site.pk]))
    print(f"nightly summary CSV: {len(response.content.splitlines()) - 1} rows in {time.perf_counter() - started:.2f} s"
          f" wall, {time.process_time() - cpu_started:.2f} s CPU (1-min load {os.getloadavg()[0]:.1f}); RSS "
          f"{rss_before:.0f} MB before, {_rss_mb():.0f} MB after")  # fmt: skip


if __name__ == "__main__":
    main()
