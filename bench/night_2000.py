"""Benchmark (run by hand): a night of 2,000 one-second 384 kHz recordings, uploaded with the API client,
stored, ingested and analysed by two Celery workers, every recording accounted for.

Issue 10 target: "A night of 2,000 one-second recordings at 384 kHz uploaded with the API client is stored,
ingested and analysed by two workers, every recording accounted for, each worker under 800 MB peak RSS."

    .venv/bin/python bench/night_2000.py [--files 2000] [--model PATH] [--cache-dir DIR] [--keep]
                                         [--worker-env NAME=VALUE ...]   (e.g. CELERY_SKIP_CHECKS=1)

Everything runs as it would in production, on this one machine, in a fresh temporary folder:
1. its own PostgreSQL database (`createdb bench_night2000_<pid>` on 127.0.0.1:5432, dropped at the end) and
   a private `redis-server` on a free port as the broker (the shared Redis is never touched); migrated;
   seeded with a project, site, visit, a fieldworker, an API token and the active model (`--model PATH`,
   else the demo model of `manage.py ensure_demo_model`, trained once and kept under --cache-dir);
2. the night: `--files` distinct one-second 384 kHz 16-bit WAVs made with ml.synth (mixed species as on a
   Dutch summer night, 15 % noise only; two processes, before the clock starts; kept under --cache-dir and
   reused by the next run);
3. the web app as shipped (`scripts/entrypoint.sh web`: gunicorn, gthread) and TWO workers
   (`scripts/entrypoint.sh worker`, queue analysis, `--concurrency 1`, own hostname, own working directory
   and var folder as if on two hosts sharing database, broker and media; `-E` so the bench can tell from
   the task events which worker ran what);
4. the clock starts: `python -m batsite.client upload --visit ID DIR` with the token (the real client:
   hashes, lookup, batches of 10 files); then waits until every recording is analysed or set aside
   (unusable / failed, with its reason) or its analysis failed;
5. checks: one Recording row per file; its stored file present with the sha256 of the row and of the file
   that was sent; one done analysis each (states counted); analyses split over both workers; no duplicate
   rows or runs; peak RSS per worker (VmHWM of the main process and of the pool child, from
   /proc/<pid>/status, plus the summed RSS and PSS of the worker's process tree sampled every 0.5 s).
   The limit is checked on the tree's peak with shared pages counted once: the pool child's VmHWM (which
   holds every page it shares with the main process since the fork) plus the main process's private
   pages. The plain sum of both VmHWM counts the shared pages twice; it is printed as a note.
   Also printed: CPU seconds of the workers, web and client during the run (load-independent).

Prints a table and, last, one JSON line with every number. Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from night_files import NOISE, SAMPLE_RATE_HZ, NightFile
from night_files import make_night as make_night_files
from processes import (
    app_environment,
    descendants,
    free_port,
    spawn,
    start_redis,
    terminate,
    tree_cpu_s,
    wait_for,
)

REPO = Path(__file__).resolve().parents[1]
DURATION_S = 1.0
RSS_LIMIT_MB = 800
SAMPLE_EVERY_S = 0.5
WORKERS = ("night-w1", "night-w2")


# --------------------------------------------------------------------------------------------- the night


def make_night(folder: Path, count: int, seed: int) -> list[NightFile]:
    """`count` files in `folder` (only WAVs of this night: the client uploads the whole folder); reused
    when a previous run left the same night there."""
    manifest = folder.parent / f"{folder.name}.json"  # beside the folder, not in it
    describe = {"duration_s": DURATION_S, "rate_hz": SAMPLE_RATE_HZ}
    night = make_night_files(
        folder,
        count,
        seed,
        duration_s=DURATION_S,
        manifest=manifest,
        describe=describe,
        hashed=True,
        chunksize=16,
    )
    hashes = {f.sha256 for f in night}
    if len(hashes) != count:
        copies = count - len(hashes)
        raise SystemExit(f"the night holds {copies} files with the same content; change --seed")
    return night


# --------------------------------------------------------------------------------------------- memory


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process in kB ({} once it is gone)."""
    values: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return {}
    return values


def _smaps_kb(pid: int) -> tuple[int, int]:
    """(PSS, private) in kB. PSS splits shared pages (those a forked pool child shares with its parent)
    among the processes mapping them; private pages are mapped by this process alone."""
    pss = private = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
            elif line.startswith(("Private_Clean:", "Private_Dirty:")):
                private += int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return pss, private


@dataclass
class TreeMemory:
    """What one worker's process tree used: per-process peaks and the tree's summed peaks."""

    root: int
    hwm_kb: dict[int, int] = field(default_factory=dict)  # VmHWM per pid (the kernel's own peak)
    rss_max_kb: dict[int, int] = field(default_factory=dict)  # highest sampled VmRSS per pid
    tree_rss_max_kb: int = 0  # highest sampled sum of VmRSS over the tree
    tree_pss_max_kb: int = 0  # highest sampled sum of PSS over the tree
    main_private_max_kb: int = 0  # highest sampled private memory of the main process
    samples: int = 0

    def sample(self) -> None:
        rss_sum = pss_sum = 0
        for pid in descendants(self.root):
            status = _proc_status(pid)
            if not status:
                continue
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), status.get("VmHWM", 0))
            self.rss_max_kb[pid] = max(self.rss_max_kb.get(pid, 0), status.get("VmRSS", 0))
            rss_sum += status.get("VmRSS", 0)
            pss, private = _smaps_kb(pid)
            pss_sum += pss
            if pid == self.root:
                self.main_private_max_kb = max(self.main_private_max_kb, private)
        self.tree_rss_max_kb = max(self.tree_rss_max_kb, rss_sum)
        self.tree_pss_max_kb = max(self.tree_pss_max_kb, pss_sum)
        self.samples += 1

    def summary(self) -> dict[str, float]:
        children = [pid for pid in self.hwm_kb if pid != self.root]
        main_hwm = self.hwm_kb.get(self.root, 0)
        child_hwm = max((self.hwm_kb[pid] for pid in children), default=0)
        return {
            "main_hwm_mb": round(main_hwm / 1024, 1),
            "pool_child_hwm_mb": round(child_hwm / 1024, 1),
            "pool_children_seen": len(children),
            # An upper bound: both peaks at once, the pages the child shares with its parent counted twice.
            "hwm_sum_mb": round((main_hwm + child_hwm) / 1024, 1),
            # The tree's peak with every page counted once (what a container's memory limit sees, less
            # page cache): the child's peak holds every page it shares with the main process, so only the
            # main process's private pages come on top.
            "tree_peak_mb": round((child_hwm + self.main_private_max_kb) / 1024, 1),
            "main_private_max_mb": round(self.main_private_max_kb / 1024, 1),
            "tree_rss_max_mb": round(self.tree_rss_max_kb / 1024, 1),
            "tree_pss_max_mb": round(self.tree_pss_max_kb / 1024, 1),
            "samples": self.samples,
        }


class MemoryMonitor(threading.Thread):
    def __init__(self, roots: dict[str, int], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.trees = {name: TreeMemory(pid) for name, pid in roots.items()}
        self.stop_event = stop

    def run(self) -> None:
        while not self.stop_event.is_set():
            for tree in self.trees.values():
                tree.sample()
            self.stop_event.wait(SAMPLE_EVERY_S)


# --------------------------------------------------------------------------------------------- task events


class TaskEvents(threading.Thread):
    """Listens to the workers' task events (-E): which worker received, finished or failed which task."""

    def __init__(self, app) -> None:
        super().__init__(daemon=True)
        self.app = app
        self.args: dict[str, str] = {}  # task uuid -> argsrepr
        self.names: dict[str, str] = {}  # task uuid -> task name
        self.succeeded: list[tuple[str, str]] = []  # (uuid, hostname), one per run
        self.failed: list[tuple[str, str, str]] = []  # (uuid, hostname, exception)
        self.heartbeats: set[str] = set()
        self.lock = threading.Lock()
        self.should_stop = False

    def _received(self, event: dict) -> None:
        with self.lock:
            self.args[event["uuid"]] = event.get("args", "")
            self.names[event["uuid"]] = event.get("name", "")

    def _succeeded(self, event: dict) -> None:
        with self.lock:
            self.succeeded.append((event["uuid"], event["hostname"]))

    def _failed(self, event: dict) -> None:
        with self.lock:
            self.failed.append((event["uuid"], event["hostname"], event.get("exception", "")))

    def _heartbeat(self, event: dict) -> None:
        self.heartbeats.add(event["hostname"])

    def run(self) -> None:
        handlers = {"task-received": self._received, "task-succeeded": self._succeeded,
                    "task-failed": self._failed, "worker-heartbeat": self._heartbeat}  # fmt: skip
        with self.app.connection() as connection:
            receiver = self.app.events.Receiver(connection, handlers=handlers)
            receiver.should_stop = False
            self.receiver = receiver
            receiver.capture(limit=None, timeout=None, wakeup=False)

    def stop(self) -> None:
        receiver = getattr(self, "receiver", None)
        if receiver is not None:
            receiver.should_stop = True

    def runs_by_worker(self, task_name: str) -> tuple[Counter, Counter]:
        """Per hostname: successful runs of `task_name`; and per first argument: how many runs it had."""
        with self.lock:
            per_host: Counter[str] = Counter()
            per_arg: Counter[str] = Counter()
            for uuid, host in self.succeeded:
                if self.names.get(uuid) == task_name:
                    per_host[host.split("@")[0]] += 1
                    per_arg[self.args.get(uuid, "?")] += 1
            return per_host, per_arg

    def analysis_hosts(self) -> dict[int, str]:
        """Analysis id -> the worker whose run of analyse_recording succeeded (last one wins)."""
        hosts: dict[int, str] = {}
        with self.lock:
            for uuid, host in self.succeeded:
                if self.names.get(uuid) == "classifier.tasks.analyse_recording":
                    try:
                        hosts[int(self.args[uuid].strip("()[], "))] = host.split("@")[0]
                    except (KeyError, ValueError):
                        pass
        return hosts


# --------------------------------------------------------------------------------------------- the run


def _environment(work: Path, database_url: str, redis_port: int, var_dir: Path) -> dict[str, str]:
    return app_environment(
        redis_port,
        without=("SQLITE_PATH",),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=database_url,
        BATSITE_VAR_DIR=str(var_dir),
        MEDIA_ROOT=str(work / "media"),  # shared by web and both workers, as on a shared volume
    )


def _psql(*args: str) -> None:
    subprocess.run([*args, "-h", "127.0.0.1", "-U", "postgres"], check=True, capture_output=True, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=2000, help="recordings in the night (default 2000)")
    parser.add_argument("--model", type=Path, help="a checkpoint to use (default: the demo model)")
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "batsite-bench-cache",
                        help="keeps the night and the trained demo model for the next run")  # fmt: skip
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--batch-files", type=int, default=10, help="the client's --batch-files")
    parser.add_argument("--timeout-s", type=float, default=3600.0)
    parser.add_argument("--worker-env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment variable of both workers (to try a setting)")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, media)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress lines show at once, also in a log file

    work = Path(tempfile.mkdtemp(prefix="bench-night2000-"))
    database = f"bench_night2000_{os.getpid()}"
    redis_port, web_port = free_port(), free_port()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    # This process's var folder is the cache: ensure_demo_model keeps its trained file there.
    env = _environment(work, f"postgres://postgres@127.0.0.1:5432/{database}", redis_port, args.cache_dir)
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    processes: dict[str, subprocess.Popen] = {}
    print(f"work folder {work}; database {database}; {os.cpu_count()} cores; load {_load()}")
    created = False
    try:
        night = make_night(args.cache_dir / f"night-{args.files}-{args.seed}", args.files, args.seed)
        _psql("createdb", database)
        created = True
        processes["redis"] = start_redis(redis_port, work / "redis.log", env, cwd=work)
        return run(args, work, env, night, processes, redis_port=redis_port, web_port=web_port)
    finally:
        for name in ("client", "web", *WORKERS, "redis"):
            terminate(processes.get(name), timeout_s=30)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if created:
            _psql("dropdb", "--force", database)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def run(
    args: argparse.Namespace,
    work: Path,
    env: dict[str, str],
    night: list[NightFile],
    processes: dict[str, subprocess.Popen],
    *,
    redis_port: int,
    web_port: int,
) -> int:
    import django

    django.setup()
    import redis
    from django.core.management import call_command

    from batsite.celery import app
    from classifier import services
    from classifier.models import ModelVersion
    from surveys.models import Role
    from surveys.tokens import api_token_create
    from tests.factories import SiteFactory, VisitFactory, member

    redis_ping = redis.Redis(port=redis_port).ping
    wait_for(redis_ping, "redis", 30, processes["redis"], work / "redis.log")
    call_command("migrate", verbosity=0)
    started = time.monotonic()
    if args.model:
        services.model_version_register(path=args.model, activate=True)
    else:
        call_command("ensure_demo_model")
        print(f"demo model ready in {time.monotonic() - started:.0f} s")
    model = ModelVersion.objects.active()
    problem = _model_problem(model, night)
    if problem and not args.model:
        # The cached demo model was trained by older code (e.g. another set of context features): retrain.
        print(f"the cached demo model does not fit this code ({problem}); training it again")
        # Unregistered first (nothing refers to it yet): the new file may carry the same version name.
        model.file.delete(save=False)
        model.delete()
        (args.cache_dir / "demo-model" / "demo-quick.pt").unlink(missing_ok=True)
        call_command("ensure_demo_model")
        model = ModelVersion.objects.active()
        problem = _model_problem(model, night)
    if problem:
        raise SystemExit(f"model {model.name} cannot analyse the night: {problem}")
    visit = VisitFactory(
        site=SiteFactory(code="KR01", name="Kromme Rijn", time_zone="Europe/Amsterdam"),
        end_time=dt.time(5, 30),
    )
    user = member(visit.site.project, Role.FIELDWORKER)
    _token, key = api_token_create(user=user, name="night_2000 bench")
    print(f"model {model.name}; visit {visit.pk}; load {_load()}")

    # The web app and two workers, each worker as on its own host: own cwd, var folder and model cache.
    web_env = {**env, "PORT": str(web_port), "WEB_HOST": "127.0.0.1",
               "BATSITE_VAR_DIR": str(work / "web-var")}  # fmt: skip
    entrypoint = str(REPO / "scripts" / "entrypoint.sh")
    web_command = ["sh", entrypoint, "web", "--access-logfile", "/dev/null"]
    processes["web"] = spawn(web_command, work / "web.log", web_env)
    for name in WORKERS:
        home = work / name
        (home / "var").mkdir(parents=True)
        worker_env = {**env, "BATSITE_VAR_DIR": str(home / "var"), "TMPDIR": str(home),
                      "CELERY_QUEUES": "analysis", "CELERY_CONCURRENCY": "1",
                      "LOG_LEVEL": "INFO"}  # fmt: skip
        worker_env.update(item.split("=", 1) for item in args.worker_env)
        command = ["sh", entrypoint, "worker", "--hostname", f"{name}@%h", "--events",
                   "--without-gossip", "--without-mingle"]  # fmt: skip
        processes[name] = spawn(command, work / f"{name}.log", worker_env, cwd=home)
    base_url = f"http://127.0.0.1:{web_port}"
    wait_for(lambda: urllib.request.urlopen(base_url + "/healthz", timeout=5).status == 200, "gunicorn", 120,
             processes["web"], work / "web.log")  # fmt: skip
    events = TaskEvents(app)
    events.start()
    for name in WORKERS:
        hostname = f"{name}@{socket.gethostname()}"
        ping = functools.partial(app.control.ping, destination=[hostname], timeout=1.0)
        wait_for(ping, name, 180, processes[name], work / f"{name}.log")
    # Heartbeats from both workers reach the receiver: it is subscribed before the first task event.
    deadline = time.monotonic() + 30
    hostnames = {f"{n}@{socket.gethostname()}" for n in WORKERS}
    while not hostnames <= events.heartbeats and time.monotonic() < deadline:
        time.sleep(0.2)
    stop = threading.Event()
    monitor = MemoryMonitor({name: processes[name].pid for name in WORKERS}, stop)
    monitor.start()
    print(f"web at {base_url}; workers {', '.join(WORKERS)} ready (concurrency 1 each); load {_load()}")

    # The clock starts: the real client uploads the folder, then every recording has to settle.
    loads = [os.getloadavg()[0]]
    cpu_names = ("web", *WORKERS)
    cpu_before = {name: tree_cpu_s(processes[name].pid) for name in cpu_names}
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    client_env = {**env, "BATSITE_URL": base_url, "BATSITE_TOKEN": key}
    client_command = [sys.executable, "-m", "batsite.client", "upload", "--visit", str(visit.pk),
                      str(night[0].path.parent), "--batch-files", str(args.batch_files)]  # fmt: skip
    client_log = work / "client.log"
    uploader = processes["client"] = spawn(client_command, client_log, client_env)
    upload_s: float | None = None
    settled, last_report = _counts(visit, model), 0.0
    while time.monotonic() - t0 < args.timeout_s:
        if upload_s is None and uploader.poll() is not None:
            upload_s = time.monotonic() - t0
            loads.append(os.getloadavg()[0])
            last_line = (client_log.read_text(errors="replace").strip().splitlines() or [""])[-1]
            print(f"  client exited {uploader.returncode} after {upload_s:.1f} s: {last_line}")
        settled = _counts(visit, model)
        if upload_s is not None and settled["settled"] >= len(night) and settled["recordings"] >= len(night):
            break
        if upload_s is not None and uploader.returncode == 2 and settled["recordings"] == 0:
            break  # nothing was uploaded: no point waiting
        for name in WORKERS:
            if processes[name].poll() is not None:
                print(f"  worker {name} exited with {processes[name].returncode}")
        if time.monotonic() - last_report > 15:
            last_report = time.monotonic()
            loads.append(os.getloadavg()[0])
            print(f"  {time.monotonic() - t0:6.0f} s: {settled}")
        time.sleep(0.5)
    if upload_s is None:
        terminate(uploader, timeout_s=30)
        upload_s = time.monotonic() - t0
    client_output = client_log.read_text(errors="replace")
    upload = subprocess.CompletedProcess(client_command, uploader.returncode, client_output)
    wall_s = time.monotonic() - t0
    loads.append(os.getloadavg()[0])
    cpu = {name: tree_cpu_s(processes[name].pid) - cpu_before[name] for name in cpu_names}
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the client, reaped by poll()
    cpu["client"] = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    for tree in monitor.trees.values():
        tree.sample()  # the pool children's VmHWM, read while they are still alive
    stop.set()
    monitor.join(timeout=10)
    time.sleep(1.0)  # the last task events
    events.stop()
    timing = {"upload_s": upload_s, "wall_s": wall_s, "loads": loads, "cpu_s": cpu}
    return _report(args, night, visit, model, events, monitor, upload, timing, settled)


def _model_problem(model, night: list[NightFile]) -> str:
    """Why the model cannot analyse a file of this night ("" when it can), found before any clock runs."""
    from classifier import model_cache
    from ml.infer import analyse

    try:
        loaded = model_cache.loaded_model(model)
        for item in [f for f in night if f.species != NOISE][:2]:
            analyse(item.path, loaded)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    finally:
        model_cache.forget()
    return ""


def _counts(visit, model) -> dict[str, int]:
    from django.db.models import Count

    from classifier.models import Analysis, AnalysisState
    from surveys.models import Recording, RecordingStatus

    statuses = dict(Recording.objects.filter(visit=visit).values_list("status").annotate(n=Count("pk")))
    states = dict(
        Analysis.objects.filter(recording__visit=visit, model_version=model)
        .values_list("state").annotate(n=Count("pk"))
    )  # fmt: skip
    aside = statuses.get(RecordingStatus.UNUSABLE, 0) + statuses.get(RecordingStatus.FAILED, 0)
    return {
        "recordings": sum(statuses.values()),
        "uploaded": statuses.get(RecordingStatus.UPLOADED, 0),
        "ingested": statuses.get(RecordingStatus.INGESTED, 0),
        "set_aside": aside,
        "analysed": states.get(AnalysisState.DONE, 0),
        "analysis_failed": states.get(AnalysisState.FAILED, 0),
        "settled": aside + states.get(AnalysisState.DONE, 0) + states.get(AnalysisState.FAILED, 0),
    }


def _report(args, night, visit, model, events, monitor, upload, timing, settled) -> int:
    from django.core.files.storage import default_storage
    from django.db.models import Count

    from classifier.models import Analysis, AnalysisState, Prediction
    from surveys.models import Recording, RecordingStatus

    total = len(night)
    upload_s, wall_s, loads, cpu = timing["upload_s"], timing["wall_s"], timing["loads"], timing["cpu_s"]
    by_name = {f.path.name: f for f in night}
    rows = list(
        Recording.objects.filter(visit=visit).values_list(
            "pk", "original_name", "sha256", "file", "status", "reason"
        )
    )
    problems: list[str] = []

    # Storage: one row per file sent, its stored file whole (the row's hash, and the hash of what was sent).
    names = Counter(name for _pk, name, *_rest in rows)
    missing_rows = sorted(set(by_name) - set(names))
    if missing_rows:
        problems.append(f"{len(missing_rows)} files have no Recording row, e.g. {missing_rows[:3]}")
    if any(n > 1 for n in names.values()) or len({sha for _pk, _n, sha, *_r in rows}) != len(rows):
        problems.append("duplicate Recording rows")
    stored_ok = 0
    for _pk, name, sha, file_name, _status, _reason in rows:
        try:
            with default_storage.open(file_name, "rb") as f:
                digest = hashlib.sha256()
                for block in iter(lambda f=f: f.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() == sha == (by_name[name].sha256 if name in by_name else None):
                stored_ok += 1
            else:
                problems.append(f"{name}: stored content differs from what was sent")
        except FileNotFoundError:
            problems.append(f"{name}: stored file {file_name} missing")
    statuses = Counter(status for *_rest, status, _reason in rows)
    aside = [(name, reason) for _pk, name, _sha, _f, status, reason in rows
             if status in (RecordingStatus.UNUSABLE, RecordingStatus.FAILED)]  # fmt: skip
    if any(not reason for _name, reason in aside):
        problems.append("a recording was set aside without a reason")

    # Analyses: one per recording and model, done, each run once; spread over both workers.
    analyses = Analysis.objects.filter(recording__visit=visit, model_version=model)
    states = Counter(analyses.values_list("state", flat=True))
    done = states.get(AnalysisState.DONE, 0)
    failed = list(
        analyses.filter(state=AnalysisState.FAILED).values_list("recording__original_name", "error")[:5]
    )
    per_recording = analyses.values("recording").annotate(n=Count("pk")).filter(n__gt=1).count()
    predictions = Prediction.objects.filter(recording__visit=visit, model_version=model).count()
    retried = analyses.filter(attempts__gt=1).count()
    accounted = done + states.get(AnalysisState.FAILED, 0) + len(aside)
    if accounted != total or len(rows) != total:
        problems.append(f"only {accounted} of {total} recordings accounted for ({len(rows)} rows)")
    if done + len(aside) != total:
        problems.append(f"{total - done - len(aside)} recordings without a done analysis")
    if per_recording or predictions != done:
        problems.append(
            f"duplicates: {per_recording} recordings with >1 analysis, "
            f"{predictions} predictions for {done} done"
        )
    analyse_hosts, analyse_runs = events.runs_by_worker("classifier.tasks.analyse_recording")
    ingest_hosts, ingest_runs = events.runs_by_worker("surveys.tasks.ingest_recording")
    twice = sum(1 for n in analyse_runs.values() if n > 1) + sum(1 for n in ingest_runs.values() if n > 1)
    if twice:
        problems.append(f"{twice} tasks ran more than once")
    if len([h for h in WORKERS if analyse_hosts.get(h)]) < 2:
        problems.append(f"analyses not split across both workers: {dict(analyse_hosts)}")
    if sum(analyse_hosts.values()) < done:
        seen = sum(analyse_hosts.values())
        problems.append(f"task events saw {seen} analyses for {done} done (events lost?)")
    worker_field = Counter(analyses.values_list("worker", flat=True))

    memory = {name: tree.summary() for name, tree in monitor.trees.items()}
    notes: list[str] = []
    for name, m in memory.items():
        if m["tree_peak_mb"] >= RSS_LIMIT_MB:
            problems.append(f"{name}: worker tree peak {m['tree_peak_mb']} MB >= {RSS_LIMIT_MB} MB")
        if m["hwm_sum_mb"] >= RSS_LIMIT_MB:
            notes.append(f"{name}: main VmHWM + pool child VmHWM = {m['hwm_sum_mb']} MB >= {RSS_LIMIT_MB} MB "
                         "(pages shared after the fork counted twice)")  # fmt: skip
    if upload.returncode != 0:
        problems.append(f"client exit status {upload.returncode}")

    mb = sum(f.path.stat().st_size for f in night) / 1e6
    spans = list(analyses.filter(state=AnalysisState.DONE).values_list("finished_at", flat=True))
    print()
    print(f"{'recordings':<44}{total} x {DURATION_S:g} s at {SAMPLE_RATE_HZ // 1000} kHz, {mb:.0f} MB")
    print(f"{'client upload (hash, lookup, batches)':<44}{upload_s:8.1f} s  ({total / upload_s:.1f} files/s, "
          f"{mb / upload_s:.1f} MB/s), exit {upload.returncode}")  # fmt: skip
    print(f"{'wall, upload start to last settled':<44}{wall_s:8.1f} s  ({total / wall_s:.2f} files/s, "
          f"real-time x{total * DURATION_S / wall_s:.1f})")  # fmt: skip
    if spans:
        print(f"{'  after the upload finished':<44}{wall_s - upload_s:8.1f} s")
    print(f"{'Recording rows / stored files hash-checked':<44}{len(rows)} / {stored_ok}")
    print(f"{'recording status':<44}{dict(statuses)}")
    print(f"{'analysis state':<44}{dict(states)}; {predictions} predictions; "
          f"{retried} claimed more than once")  # fmt: skip
    for name, reason in aside[:5]:
        print(f"  set aside {name}: {reason[:160]}")
    for name, error in failed:
        print(f"  analysis failed {name}: {error[:160]}")
    print(f"{'analyses per worker (task events)':<44}{dict(analyse_hosts)}")
    print(f"{'ingests per worker (task events)':<44}{dict(ingest_hosts)}")
    print(f"{'Analysis.worker column':<44}{dict(worker_field)}")
    print(f"worker memory, MB    {'main HWM':>9}{'child HWM':>10}{'sum HWM':>8}{'tree RSS':>9}{'tree PSS':>9}"
          f"{'main priv':>10}{'tree peak':>10}{'children':>9}")  # fmt: skip
    for name, m in memory.items():
        print(f"  {name:<18}{m['main_hwm_mb']:>9.0f}{m['pool_child_hwm_mb']:>10.0f}{m['hwm_sum_mb']:>8.0f}"
              f"{m['tree_rss_max_mb']:>9.0f}{m['tree_pss_max_mb']:>9.0f}{m['main_private_max_mb']:>10.0f}"
              f"{m['tree_peak_mb']:>10.0f}{m['pool_children_seen']:>9}")  # fmt: skip
    print("  (HWM: VmHWM, the kernel's peak per process; tree RSS / PSS: highest 0.5 s sample of the")
    print("   tree's sum; tree peak = child HWM + main private: shared pages counted once; the limit)")
    worker_cpu = sum(cpu[name] for name in WORKERS)
    per_recording_ms = worker_cpu / total * 1000
    print(f"{'CPU during the run (all cores)':<44}workers {worker_cpu:.0f} s ({per_recording_ms:.0f} ms per "
          f"recording), web {cpu['web']:.0f} s, client {cpu['client']:.0f} s")  # fmt: skip
    print(f"{'load average (1 min) during the run':<44}{min(loads):.1f}-{max(loads):.1f} "
          f"on {os.cpu_count()} cores")  # fmt: skip
    print("RESULT: " + ("PASS" if not problems else "FAIL"))
    for problem in problems[:20]:
        print(f"  - {problem}")
    for note in notes:
        print(f"  note: {note}")
    print(json.dumps({
        "bench": "night_2000", "files": total, "megabytes": round(mb, 1), "upload_s": round(upload_s, 1),
        "wall_s": round(wall_s, 1), "files_per_s": round(total / wall_s, 2),
        "upload_files_per_s": round(total / upload_s, 1), "client_exit": upload.returncode,
        "rows": len(rows), "stored_ok": stored_ok, "status": dict(statuses), "analysis": dict(states),
        "analyses_per_worker": dict(analyse_hosts), "ingests_per_worker": dict(ingest_hosts),
        "memory_mb": memory, "cpu_s": {k: round(v, 1) for k, v in cpu.items()}, "rss_limit_mb": RSS_LIMIT_MB,
        "load": [round(x, 2) for x in loads],
        "cores": os.cpu_count(), "worker_env": args.worker_env, "settled": settled,
        "passed": not problems, "problems": problems[:20], "notes": notes,
    }))  # fmt: skip
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
