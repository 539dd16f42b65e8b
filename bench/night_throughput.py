"""Benchmark (run by hand): one night of recordings ingested and analysed by one Celery worker.

Issue 5 target: a night of 500 five-second recordings at 384 kHz is ingested and analysed by one worker (its
default concurrency: one pool process per core) in under 2 minutes, with the visit page responsive meanwhile.

    .venv/bin/python bench/night_throughput.py [--recordings 500] [--model PATH] [--night-dir DIR] [--keep]

What it does, all in a fresh temporary folder (nothing of var/ or the usual Redis is touched):
1. a throwaway SQLite database (batsite.settings with BATSITE_VAR_DIR / SQLITE_PATH / MEDIA_ROOT pointed
   there, DEBUG off), migrated; a private `redis-server` on a free port as the broker;
2. the model: `--model PATH`, else the demo model trained here (`manage.py ensure_demo_model`: `quick` preset
   on synthetic calls of the default label set, a few minutes); registered and activated;
3. the night: `--recordings` synthetic 5 s, 384 kHz, 16-bit files made with ml.synth (two processes, before
   the clock starts), each named with a detector time stamp spread over the night: mostly passes of the
   common species (common pipistrelle first), some rarer ones, 15 % noise only (insects, rain, clicks, wind
   or just background); 70 % easy, 30 % hard. `--night-dir` keeps them for the next run;
4. `celery -A batsite worker -Q analysis` (default concurrency unless `--concurrency`) and the web app
   (`scripts/entrypoint.sh web`: gunicorn, as shipped) as subprocesses;
5. the clock starts; the files go in through `surveys.services.recordings_upload` in batches of 25 (as a
   multi-file upload would; every file commits on its own and queues its ingest, so the worker starts at
   once); meanwhile a simulated browser on the visit page asks over HTTP, every 2 s, for what the page polls
   (the progress bar fragment, the recordings fragment and the results table fragment) and every 6 s for
   the whole visit page; the clock stops when every recording is analysed, failed or unusable.

Prints the wall time (from the first upload to the last analysis), recordings/s, the real-time factor
(seconds of audio per second of wall time), the page latencies (p50 / p95 / max) during the run, the load
average, and a sanity check of the answers against what was synthesised.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from night_files import NOISE, SAMPLE_RATE_HZ, NightFile
from night_files import make_night as make_night_files
from processes import app_environment, free_port, spawn, start_redis, terminate, tree_cpu_s, wait_for

REPO = Path(__file__).resolve().parents[1]
DURATION_S = 5.0
UPLOAD_BATCH = 25
POLL_EVERY_S = 2.0  # what the visit page's htmx polls use
FULL_PAGE_EVERY = 3  # a whole visit page every third poll round


# --------------------------------------------------------------------------------------------- the night


def make_night(folder: Path, count: int, seed: int) -> list[NightFile]:
    """The night's files in `folder`; reused when a previous run left the same night there."""
    return make_night_files(folder, count, seed, duration_s=DURATION_S, manifest=folder / "night.json")


# --------------------------------------------------------------------------------------------- latency


@dataclass(frozen=True)
class Sample:
    endpoint: str
    started: float  # time.monotonic()
    seconds: float
    status: int


class PagePoller(threading.Thread):
    """A browser tab on the visit page: what its htmx polls ask for every 2 s, and the whole page now and then."""

    def __init__(self, base_url: str, session_cookie: str, visit_id: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.requests = [
            ("progress bar fragment", f"/visits/{visit_id}/results/", {"HX-Target": "visit-progress"}),
            ("recordings fragment", f"/visits/{visit_id}/", {"HX-Target": "recordings"}),
            ("results table fragment", f"/visits/{visit_id}/results/", {"HX-Target": "visit-recordings"}),
        ]
        self.page = ("visit page (full)", f"/visits/{visit_id}/", {})
        self.base_url = base_url
        self.cookie = f"sessionid={session_cookie}"
        self.stop_event = stop
        self.samples: list[Sample] = []

    def fetch(self, endpoint: str, path: str, headers: dict[str, str]) -> None:
        request = urllib.request.Request(self.base_url + path, headers={"Cookie": self.cookie, **headers})
        if headers:
            request.add_header("HX-Request", "true")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as error:  # 286 (stop polling) is a success for htmx
            error.read()
            status = error.code
        except OSError:
            status = 0
        self.samples.append(Sample(endpoint, started, time.monotonic() - started, status))

    def run(self) -> None:
        round_number = 0
        while not self.stop_event.is_set():
            started = time.monotonic()
            batch = self.requests + ([self.page] if round_number % FULL_PAGE_EVERY == 0 else [])
            for endpoint, path, headers in batch:
                self.fetch(endpoint, path, headers)
            round_number += 1
            self.stop_event.wait(max(0.0, POLL_EVERY_S - (time.monotonic() - started)))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# --------------------------------------------------------------------------------------------- the run


def _environment(work: Path, redis_port: int) -> dict[str, str]:
    return app_environment(
        redis_port,
        without=("DATABASE_URL",),  # SQLite
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        BATSITE_VAR_DIR=str(work / "var"),
        SQLITE_PATH=str(work / "batsite.sqlite3"),
        MEDIA_ROOT=str(work / "media"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--recordings", type=int, default=500)
    parser.add_argument(
        "--model", type=Path, help="a checkpoint to use (default: train the quick demo model)"
    )
    parser.add_argument("--night-dir", type=Path, help="keep the synthetic night here and reuse it next time")
    parser.add_argument("--concurrency", type=int, help="worker pool size (default: Celery's, one per core)")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--timeout-s", type=float, default=900.0)
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (database, logs, model)"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-night-"))
    (work / "var").mkdir()
    redis_port, web_port = free_port(), free_port()
    env = _environment(work, redis_port)
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    processes: dict[str, subprocess.Popen] = {}
    print(f"work folder {work}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    try:
        processes["redis"] = start_redis(redis_port, work / "redis.log", env)
        night = make_night(args.night_dir or work / "night", args.recordings, args.seed)
        run(args, work, env, night, processes, redis_port=redis_port, web_port=web_port)
    finally:
        for name in ("web", "worker", "redis"):
            terminate(processes.get(name))
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def run(
    args: argparse.Namespace,
    work: Path,
    env: dict[str, str],
    night: list[NightFile],
    processes: dict[str, subprocess.Popen],
    *,
    redis_port: int,
    web_port: int,
) -> None:
    import django

    django.setup()
    import redis
    from django.core.files.uploadedfile import UploadedFile
    from django.core.management import call_command
    from django.db.models import Count
    from django.test import Client
    from django.utils import timezone

    from batsite.celery import app
    from classifier import services
    from classifier.models import Analysis, AnalysisState, ModelVersion, Prediction
    from surveys.models import Recording, RecordingStatus, Role
    from surveys.services import recordings_upload
    from tests.factories import SiteFactory, VisitFactory, member

    wait_for(lambda: redis.Redis(port=redis_port).ping(), "redis", 30, processes["redis"], work / "redis.log")
    call_command("migrate", verbosity=0)
    started = time.monotonic()
    if args.model:
        services.model_version_register(path=args.model, activate=True)
    else:
        call_command("ensure_demo_model")
        print(f"demo model trained in {time.monotonic() - started:.0f} s")
    model = ModelVersion.objects.active()
    print(f"model: {model.name} ({len(model.label_set)} classes)")

    visit = VisitFactory(site=SiteFactory(code="KR01", name="Kromme Rijn", time_zone="Europe/Amsterdam"))
    user = member(visit.site.project, Role.FIELDWORKER)
    client = Client()
    client.force_login(user)
    session_cookie = client.cookies["sessionid"].value

    worker_command = ["celery", "-A", "batsite", "worker", "-Q", "analysis", "--loglevel", "WARNING",
                      "--hostname", "bench-night@%h", "--without-gossip", "--without-mingle"]  # fmt: skip
    if args.concurrency:
        worker_command += ["--concurrency", str(args.concurrency)]
    processes["worker"] = spawn(worker_command, work / "worker.log", env)
    web_env = {**env, "PORT": str(web_port), "WEB_HOST": "127.0.0.1"}
    processes["web"] = spawn(
        ["sh", "scripts/entrypoint.sh", "web", "--access-logfile", "/dev/null"], work / "web.log", web_env
    )
    base_url = f"http://127.0.0.1:{web_port}"
    wait_for(
        lambda: urllib.request.urlopen(base_url + "/healthz", timeout=5).status == 200,
        "gunicorn",
        120,
        processes["web"],
        work / "web.log",
    )
    hostname = f"bench-night@{socket.gethostname()}"
    wait_for(
        lambda: app.control.ping(destination=[hostname], timeout=1.0),
        "celery worker",
        180,
        processes["worker"],
        work / "worker.log",
    )
    stats = app.control.inspect(destination=[hostname], timeout=5).stats() or {}
    pool = next(iter(stats.values()), {}).get("pool", {}).get("max-concurrency", "?")
    print(f"worker ready: pool of {pool} processes; web at {base_url}; load average {os.getloadavg()[0]:.2f}")

    # A server that has been up a while has served these pages before: warm every endpoint once.
    stop = threading.Event()
    poller = PagePoller(base_url, session_cookie, visit.pk, stop)
    for endpoint, path, headers in [*poller.requests, poller.page]:
        poller.fetch(endpoint, path, headers)
    poller.samples.clear()

    # The clock starts: upload, then wait until every recording is settled.
    loads = [os.getloadavg()[0]]
    cpu_before = {name: tree_cpu_s(processes[name].pid) for name in ("worker", "web")}
    cpu_before["bench"] = time.process_time()
    t0 = time.monotonic()
    t0_wall = timezone.now()
    poller.start()
    outcomes = Counter()
    for first in range(0, len(night), UPLOAD_BATCH):
        handles = [(f, open(f.path, "rb")) for f in night[first : first + UPLOAD_BATCH]]
        try:
            uploads = [
                UploadedFile(h, name=f.name, content_type="audio/wav", size=f.path.stat().st_size)
                for f, h in handles
            ]
            outcomes.update(o.status for o in recordings_upload(visit=visit, user=user, files=uploads))
        finally:
            for _f, h in handles:
                h.close()
    upload_s = time.monotonic() - t0
    print(f"uploaded in {upload_s:.1f} s: {dict(outcomes)}")

    total = len(night)
    settled = 0
    last_report = 0.0
    while time.monotonic() - t0 < args.timeout_s:
        states = dict(
            Analysis.objects.filter(recording__visit=visit, model_version=model)
            .values_list("state").annotate(n=Count("pk")).values_list("state", "n")
        )  # fmt: skip
        set_aside = Recording.objects.filter(
            visit=visit, status__in=[RecordingStatus.UNUSABLE, RecordingStatus.FAILED]
        ).count()
        settled = states.get(AnalysisState.DONE, 0) + states.get(AnalysisState.FAILED, 0) + set_aside
        if settled >= total:
            break
        if time.monotonic() - last_report > 10:
            last_report = time.monotonic()
            loads.append(os.getloadavg()[0])
            print(
                f"  {time.monotonic() - t0:5.0f} s: {states.get(AnalysisState.DONE, 0)} analysed, {settled}/{total} settled"
            )
        time.sleep(0.25)
    wall_s = time.monotonic() - t0
    cpu = {name: tree_cpu_s(processes[name].pid) - cpu_before[name] for name in ("worker", "web")}
    cpu["bench"] = time.process_time() - cpu_before["bench"]
    stop.set()
    poller.join(timeout=70)
    loads.append(os.getloadavg()[0])

    done = Analysis.objects.filter(
        recording__visit=visit, model_version=model, state=AnalysisState.DONE
    ).count()
    failed = list(
        Analysis.objects.filter(
            recording__visit=visit, model_version=model, state=AnalysisState.FAILED
        ).values_list("error", flat=True)[:3]
    )
    print()
    print(
        f"recordings                 {total} x {DURATION_S:g} s at {SAMPLE_RATE_HZ // 1000} kHz ({total * DURATION_S / 60:.1f} min of audio)"
    )
    print(f"analysed / failed          {done} / {len(failed)}{'  e.g. ' + failed[0][:200] if failed else ''}")
    if settled < total:
        print(f"TIMED OUT after {args.timeout_s:.0f} s with {settled}/{total} settled")
    print(f"wall, first upload to last analysis   {wall_s:6.1f} s   (target < 120 s)")
    print(f"  of which uploading (in this process)  {upload_s:6.1f} s")
    print(f"recordings/s               {total / wall_s:6.2f}")
    print(f"real-time factor           {total * DURATION_S / wall_s:6.1f}x")
    print(f"worker pool                {pool} processes")
    runs = sorted(
        (a.started_at, a.finished_at)
        for a in Analysis.objects.filter(recording__visit=visit, state=AnalysisState.DONE).only(
            "started_at", "finished_at"
        )
    )
    if runs:
        task_ms = [(end - start).total_seconds() * 1000 for start, end in runs]
        first = min(end for _start, end in runs) - t0_wall
        ends = sorted(end for _start, end in runs)
        steady = ends[len(ends) // 10 :]  # after the pool's children loaded torch and the model
        rate = (
            (len(steady) - 1) / max((steady[-1] - steady[0]).total_seconds(), 1e-9)
            if len(steady) > 1
            else 0.0
        )
        print(
            f"analysis task (claim to stored) p50 {statistics.median(task_ms):.0f} ms, p95 {_percentile(task_ms, 95):.0f} ms"
        )
        print(
            f"first analysis stored after {first.total_seconds():.1f} s (torch + model load in each pool process)"
        )
        print(f"steady rate after the first 10 %: {rate:.2f} recordings/s")
    print(f"load average (1 min) during the run: {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores")
    print(
        f"CPU used during the run: worker {cpu['worker']:.0f} s ({cpu['worker'] / total * 1000:.0f} ms per recording),"
        f" web {cpu['web']:.0f} s, uploads + polls in this process {cpu['bench']:.0f} s"
    )
    # What the same work needs from idle cores: no process can finish before its own CPU time is spent.
    cores = os.cpu_count() or 1
    print(f"  -> on {cores} idle cores at least {sum(cpu.values()) / cores:.0f} s of wall time")
    print("page latency during the run (gunicorn, HTTP, one polling browser tab):")
    during = [s for s in poller.samples if s.started <= t0 + wall_s]
    for endpoint in dict.fromkeys(s.endpoint for s in during):
        ms = [s.seconds * 1000 for s in during if s.endpoint == endpoint]
        bad = [s.status for s in during if s.endpoint == endpoint and s.status not in (200, 286)]
        print(
            f"  {endpoint:<26} n={len(ms):<4} p50 {statistics.median(ms):7.1f} ms  p95 {_percentile(ms, 95):7.1f} ms"
            f"  max {max(ms):7.1f} ms{'  non-200: ' + str(Counter(bad)) if bad else ''}"
        )
    _answer_check(
        night,
        Prediction.objects.filter(recording__visit=visit, model_version=model).values_list(
            "recording__original_name", "species", "species_present"
        ),
    )


def _answer_check(night: list[NightFile], predictions) -> None:
    """A sanity check that the worker really ran the model: main class among the species found, per kind."""
    truth = {f.name: f.species for f in night}
    hits: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for name, species, present in predictions:
        kind = "noise-only" if truth[name] == NOISE else "bat"
        seen[kind] += 1
        if (truth[name] == NOISE and species == NOISE) or (
            truth[name] != NOISE and truth[name] in (present or [species])
        ):
            hits[kind] += 1
    parts = [f"{kind} files {hits[kind]}/{seen[kind]}" for kind in ("bat", "noise-only") if seen[kind]]
    print("answers (main class found / noise-only called noise): " + ", ".join(parts))


if __name__ == "__main__":
    main()
