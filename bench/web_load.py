"""Benchmark (run by hand): the web app under load, against a minimal logged-in Django page.

Issue 10 target: gunicorn on loopback, wrk with 20 connections browsing projects, visits, recording pages
and the review queue as logged-in users: at least 150 requests/s with p95 under 300 ms and no errors on a
2-core machine, and at least 0.75 of what a minimal logged-in Django page (one 50-row query and a template)
serves in the same run.

    apt-get install -y wrk    # once
    .venv/bin/python bench/web_load.py [--duration 30] [--rounds 3] [--connections 20] [--recordings 600]
                                       [--work DIR] [--database-url postgres://.../EMPTY_DB]

One command, self-contained:
1. a fresh database (SQLite in WAL mode under a temporary BATSITE_VAR_DIR, or the empty database named by
   --database-url), migrated and seeded with bulk_create: 3 projects, 12 sites, 36 visits, `--recordings`
   analysed recordings with predictions, call detections and review queue entries (a fifth already reviewed),
   4 users with different roles; static files collected with the manifest storage, as the image does;
2. gunicorn started by `scripts/entrypoint.sh web` itself (same worker class, workers, threads), with
   production settings: DEBUG off, HTTPS behind a proxy (requests say X-Forwarded-Proto: https), database
   sessions, django-axes on. The settings module is bench.load_settings: batsite.settings plus the one
   URL of the baseline page (bench/load_urls.py), so the app itself has no bench URL;
3. every user logs in through the login form (a correct password, so axes counts nothing), and every URL
   of the rotation is fetched once and must answer 200;
4. wrk (`apt-get install -y wrk`) runs bench/web_load.lua: a warm-up of each, then the app's pages and
   `/bench/minimal/` with the same sessions and connections, in `--rounds` alternating rounds (default 3,
   `--duration` seconds of each in all), so that both see the same drift of the machine's speed. The app's rotation is a browsing session per
   user: pages with the fragments their HTML loads at once (hx-trigger="load"), as a browser asks for them:
   visit page + its results and protocol checks, recording page + its analysis panel, site page + protocol
   checks and species summary, project page + map, the review queue, the dashboard and the project list
   (the share of each is printed).

Prints for both runs requests/s, latency percentiles (wrk --latency), socket errors and non-2xx answers,
and gunicorn's CPU time per request (master and workers, from /proc): on a machine shared with other work
requests/s depend on what else runs, CPU per request less so. Then the ratio app / minimal (both
ways), the verdict against the targets and the machine load (os.getloadavg before and after). Exit status
0 when the run completed (targets met or not), 1 when setup failed (a page did not answer 200, ...).
WEB_CONCURRENCY and WEB_THREADS pass through to the entrypoint, to compare worker settings.

Without --work the temporary folder is deleted at the end; with --work DIR the database and static files
are kept there and reused by the next run (seeding is skipped when the database already holds the data).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = REPO / ".venv" / "bin"
PASSWORD = "bench-web-load-password"
TARGET_RPS = 150.0
TARGET_P95_MS = 300.0
TARGET_RATIO = 0.75
SPECIES = (  # (species present, share of recordings): a Dutch summer night
    (("Pipistrellus pipistrellus",), 0.55),
    (("Pipistrellus pipistrellus", "Nyctalus noctula"), 0.06),
    (("Nyctalus noctula",), 0.10),
    (("Eptesicus serotinus",), 0.07),
    (("Myotis daubentonii",), 0.07),
    (("Pipistrellus nathusii/kuhlii",), 0.05),
    (("Myotis sp.",), 0.04),
    (("Plecotus auritus/austriacus",), 0.03),
    (("Myotis dasycneme",), 0.01),
    (("noise",), 0.02),
)
# (user name, {project index: role}); the projects are made in this order.
USERS = (
    ("manager", {0: "manager", 1: "manager", 2: "manager"}),
    ("expert", {0: "expert", 1: "expert"}),
    ("expert2", {0: "expert", 2: "expert"}),
    ("fieldworker", {0: "fieldworker", 2: "fieldworker"}),
)
PROJECTS = (  # (name, sites)
    ("Bench: Utrecht flight routes", 6),
    ("Bench: Amsterdam parks", 3),
    ("Bench: Maastricht quarry", 3),
)
VISITS_PER_SITE = 3


# ------------------------------------------------------------------------------------------- environment


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(work: Path, port: int, database_url: str | None, settings_module: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DATABASE_URL", "SQLITE_PATH"):  # never the caller's own database
        env.pop(name, None)
    secret_file = work / "secret_key"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(50))
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        BATSITE_VAR_DIR=str(work / "var"),
        MEDIA_ROOT=str(work / "media"),
        STATIC_ROOT=str(work / "static"),
        SECRET_KEY=secret_file.read_text(),
        DEBUG="false",
        BEHIND_PROXY="true",  # HTTPS on, told by X-Forwarded-Proto as behind the TLS proxy
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        WEB_HOST="127.0.0.1",
        PORT=str(port),
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


# ------------------------------------------------------------------------------------------- seed


def _setup_database(*, recordings_wanted: int) -> None:
    """Migrate, collect static files and seed, in this process (gunicorn starts afterwards)."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
    call_command("migrate", verbosity=0)
    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        started = time.perf_counter()
        call_command("collectstatic", interactive=False, verbosity=0)
        print(f"static files collected in {time.perf_counter() - started:.0f} s")
    from surveys.models import Project

    if Project.objects.filter(name=PROJECTS[0][0]).exists():
        print("database already seeded: reused")
    else:
        _seed(recordings_wanted)
    connection.close()


def _seed(recordings_wanted: int) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from classifier import review
    from classifier.models import (
        Analysis, CallDetection, LabelDecision, ModelVersion, Prediction, QueueState, ReviewQueueEntry,
        ReviewStatus,
    )  # fmt: skip
    from ml.labels import group_of
    from surveys.models import Membership, Project, Recording, RecordingStatus, Site, Visit

    started = time.perf_counter()
    rng = random.Random(10)
    password = make_password(PASSWORD)
    users = {
        name: get_user_model().objects.create(username=name, password=password, email=f"{name}@example.org")
        for name, _ in USERS
    }
    projects = [
        Project.objects.create(name=name, description="Load benchmark project.", created_by=users["manager"])
        for name, _ in PROJECTS
    ]
    Membership.objects.bulk_create(
        Membership(user=users[name], project=projects[index], role=role)
        for name, roles in USERS
        for index, role in roles.items()
    )
    model = ModelVersion.objects.create(name="bench", file="models/bench.pt", sha256="0" * 64, is_active=True,
                                        label_set=[], call_types=[])  # fmt: skip
    sites = Site.objects.bulk_create(
        Site(project=project, code=f"S{p}{i:02d}", name=f"Site {i} of {project.name}",
             latitude=52.0 + i / 100, longitude=5.0 + p / 10, habitat="tree lane along a canal",
             notes="Flight route at dusk.")
        for p, (project, (_, n_sites)) in enumerate(zip(projects, PROJECTS))
        for i in range(n_sites)
    )  # fmt: skip
    first_night = dt.date(2025, 5, 1)
    visits = Visit.objects.bulk_create(
        Visit(site=site, night=first_night + dt.timedelta(days=14 * n + s % 5), start_time=dt.time(21, 30),
              end_time=dt.time(3, 0), detector_make="Elekon", detector_model="Batlogger M2",
              observers="Bench Fieldworker", created_by=users["fieldworker"], purpose="flight_route")
        for s, site in enumerate(sites)
        for n in range(VISITS_PER_SITE)
    )  # fmt: skip
    site_of = {site.pk: site for site in sites}
    # Nights differ in size, as real ones do: a few busy nights hold most recordings.
    weights = [rng.choice((1, 1, 2, 3, 8)) for _ in visits]
    visit_of_recording = rng.choices(visits, weights, k=recordings_wanted)
    now = timezone.now()
    recordings = Recording.objects.bulk_create(
        Recording(project_id=site_of[visit.site_id].project_id, visit=visit, file=f"recordings/bench/{i}.wav",
                  sha256=f"{i:064x}", original_name=f"{site_of[visit.site_id].code}_{i:05d}.wav",
                  size_bytes=3_840_000, duration_s=5.0, sample_rate_hz=384_000, header_sample_rate_hz=384_000,
                  time_expansion=1.0, channels=1, status=RecordingStatus.INGESTED, ingested_at=now,
                  recorded_at=dt.datetime.combine(visit.night, dt.time(20, 0), tzinfo=dt.UTC)
                  + dt.timedelta(seconds=rng.randrange(6 * 3600)),
                  metadata={"timestamp_source": "guano", "guano": {"Make": "Elekon", "Model": "Batlogger M2",
                                                                   "Samplerate": "384000"}},
                  uploaded_by=users["fieldworker"])
        for i, visit in enumerate(visit_of_recording)
    )  # fmt: skip
    analyses = Analysis.objects.bulk_create(
        Analysis(recording=r, model_version=model, state="done", attempts=1, started_at=now, finished_at=now)
        for r in recordings
    )
    choices = [present for present, _ in SPECIES]
    shares = [share for _, share in SPECIES]
    predictions, calls = [], []
    for recording, analysis in zip(recordings, analyses):
        present = rng.choices(choices, shares)[0]
        confidence = min(0.999, max(0.3, rng.betavariate(8, 2)))
        margin = confidence * rng.uniform(0.2, 1.0)
        buzzes = int(rng.random() < 0.05)
        social = int(rng.random() < 0.03)
        call_types = ["echolocation"] + ["feeding_buzz"] * buzzes + ["social_call"] * social
        n_calls = rng.randint(3, 12)
        predictions.append(Prediction(
            analysis=analysis, recording=recording, model_version=model, species=present[0],
            species_group=group_of(present[0]), species_present=list(present), call_type="echolocation",
            call_types=call_types, confidence=confidence, margin=margin,
            top=[[present[0], confidence], ["Nyctalus leisleri", confidence - margin]], n_calls=n_calls,
            n_passes=1 + n_calls // 8, feeding_buzzes=buzzes, social_calls=social,
        ))  # fmt: skip
        for k in range(n_calls):
            calls.append(CallDetection(
                analysis=analysis, start_s=0.09 * k, end_s=0.09 * k + 0.005, low_hz=42e3, high_hz=75e3,
                peak_hz=46e3, snr_db=18 + k % 7, species=present[0], call_type="echolocation",
                confidence=confidence, pass_index=k // 8,
            ))  # fmt: skip
    Prediction.objects.bulk_create(predictions)
    CallDetection.objects.bulk_create(calls, batch_size=5000)
    for project in projects:
        review.review_queue_sync(project=project)
        review.review_queue_refresh(project=project)
    reviewed = rng.sample(recordings, len(recordings) // 5)
    LabelDecision.objects.bulk_create(
        LabelDecision(recording=r, reviewer=users["expert"], status=ReviewStatus.CONFIRMED,
                      species_present=["Pipistrellus pipistrellus"], call_types=["echolocation"],
                      replaced_source="prediction")
        for r in reviewed
    )  # fmt: skip
    ReviewQueueEntry.objects.filter(recording__in=reviewed).update(state=QueueState.REVIEWED)
    if connection.vendor in ("sqlite", "postgresql"):
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        f"seeded {len(projects)} projects, {len(sites)} sites, {len(visits)} visits, {len(recordings)} "
        f"recordings ({len(calls)} calls, {len(reviewed)} reviewed), {len(users)} users in "
        f"{time.perf_counter() - started:.0f} s"
    )


@dataclass(frozen=True)
class UserPages:
    username: str
    requests: list[tuple[str, str]]  # (path, extra headers as `Name: value|Name: value`)


def _htmx(target: str) -> str:
    return f"HX-Request: true|HX-Target: {target}"


# Pages a person opens, with how often, and what the browser then loads by itself (hx-trigger="load").
PAGE_MIX = (("visit", 0.28), ("recording", 0.30), ("site", 0.12), ("project", 0.10), ("review queue", 0.14),
            ("dashboard", 0.03), ("project list", 0.03))  # fmt: skip
STEPS = 400  # pages per user in the rotation


def _rotation(rng: random.Random) -> list[UserPages]:
    """Per user, the requests of a browsing session: each page with the fragments its HTML loads at once
    (a visit page its results and protocol checks, a recording page its analysis panel, ...). Only pages
    the user may see: every one must answer 200."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.urls import reverse

    from surveys.models import Membership, Recording, Site, Visit

    kinds = [kind for kind, _ in PAGE_MIX]
    shares = [share for _, share in PAGE_MIX]
    pages = []
    names = [name for name, _ in USERS]
    bench_users = get_user_model().objects.filter(username__in=names).order_by("username")
    for user in bench_users:
        memberships = list(Membership.objects.filter(user=user))
        project_ids = [m.project_id for m in memberships]
        reviewer_projects = [m.project_id for m in memberships if m.role in ("expert", "manager")]
        site_ids = list(Site.objects.filter(project__in=project_ids).values_list("pk", flat=True))
        visit_ids = list(Visit.objects.filter(site__project__in=project_ids).values_list("pk", flat=True))
        recording_ids = list(Recording.objects.filter(project__in=project_ids).values_list("pk", flat=True))
        requests: list[tuple[str, str]] = []
        for _ in range(STEPS):
            kind = rng.choices(kinds, shares)[0]
            if kind == "review queue" and not reviewer_projects:
                kind = "visit"
            if kind == "visit":
                pk = rng.choice(visit_ids)
                requests += [(reverse("visit_detail", args=[pk]), ""),
                             (reverse("visit_protocol", args=[pk]), _htmx("visit-protocol")),
                             (reverse("visit_results", args=[pk]), _htmx("visit-results"))]  # fmt: skip
            elif kind == "recording":
                pk = rng.choice(recording_ids)
                requests += [(reverse("recording_detail", args=[pk]), ""),
                             (reverse("recording_analysis", args=[pk]), _htmx("analysis-panel"))]  # fmt: skip
            elif kind == "site":
                pk = rng.choice(site_ids)
                requests += [(reverse("site_detail", args=[pk]), ""),
                             (reverse("site_protocol", args=[pk]), _htmx("site-protocol")),
                             (reverse("site_species", args=[pk]), _htmx("site-species"))]  # fmt: skip
            elif kind == "project":
                pk = rng.choice(project_ids)
                requests += [(reverse("project_detail", args=[pk]), ""),
                             (reverse("project_map", args=[pk]), _htmx("project-map"))]  # fmt: skip
            elif kind == "review queue":
                requests.append((reverse("review_queue", args=[rng.choice(reviewer_projects)]), ""))
            else:
                requests.append((reverse("dashboard" if kind == "dashboard" else "project_list"), ""))
        pages.append(UserPages(user.username, requests))
    connection.close()
    return pages


# ------------------------------------------------------------------------------------------- HTTP


class Http:
    """Plain http.client requests to the local gunicorn, as the TLS proxy would forward them."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"https://127.0.0.1:{port}"

    def request(self, method: str, path: str, *, cookie: str = "", body: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, list[str]], str]:  # fmt: skip
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        all_headers = {"X-Forwarded-Proto": "https", "Accept": "text/html", **(headers or {})}
        if cookie:
            all_headers["Cookie"] = cookie
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            received: dict[str, list[str]] = {}
            for name, value in response.getheaders():
                received.setdefault(name.lower(), []).append(value)
            return response.status, received, response.read().decode("utf-8", "replace")
        finally:
            connection.close()

    def log_in(self, username: str) -> str:
        """Through the login form, as a person does; returns the Cookie header of the session."""
        status, headers, page = self.request("GET", "/accounts/login/")
        csrf_cookie = _cookies(headers).get("csrftoken")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or not csrf_cookie or not token:
            raise SystemExit(f"login page answered {status} without a CSRF token")
        body = urlencode({"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)})
        status, headers, _ = self.request(
            "POST", "/accounts/login/", cookie=f"csrftoken={csrf_cookie}", body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin,
                     "Referer": f"{self.origin}/accounts/login/"},
        )  # fmt: skip
        session = _cookies(headers).get("sessionid")
        if status != 302 or not session:
            raise SystemExit(f"log-in of {username} answered {status} without a session")
        return f"sessionid={session}; csrftoken={csrf_cookie}"


def _cookies(headers: dict[str, list[str]]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for value in headers.get("set-cookie", []):
        jar.load(value)
    return {name: morsel.value for name, morsel in jar.items()}


def _start_gunicorn(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`scripts/entrypoint.sh web`, exactly as the image runs it (it execs gunicorn)."""
    with open(log, "ab") as handle:
        return subprocess.Popen(
            ["sh", str(REPO / "scripts" / "entrypoint.sh"), "web"], cwd=REPO, env=env, stdout=handle,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def _wait_until_up(http_: Http, server: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if http_.request("GET", "/accounts/login/")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"gunicorn did not answer within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)  # its own session: gunicorn and its workers, nothing else
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# ------------------------------------------------------------------------------------------- wrk


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    error_statuses: int
    non2xx: int
    statuses: str
    latency_lines: str
    server_cpu_s: float = 0.0
    machine: str = ""  # how the machine's CPUs spent the run (/proc/stat): busy, idle, stolen

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non2xx

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.server_cpu_s / self.requests if self.requests else 0.0

    def line(self, name: str) -> str:
        return (
            f"{name:<14} {self.rps:7.1f} requests/s  server CPU {self.cpu_ms_per_request:5.1f} ms/request  "
            f"p50 {self.p50_ms:6.1f}  p95 {self.p95_ms:6.1f}  p99 {self.p99_ms:6.1f}  "
            f"max {self.max_ms:7.1f} ms  "
            f"requests {self.requests}  socket errors {self.socket_errors}  non-2xx {self.non2xx}"
            + (f" ({self.statuses})" if self.statuses else "")
            + (f"\n{'':<14} machine during the run: {self.machine}" if self.machine else "")
        )


def _wrk(wrk: str, port: int, requests_file: Path, *, connections: int, threads: int, seconds: int,
         server_pid: int) -> WrkResult:  # fmt: skip
    command = [wrk, "-c", str(connections), "-t", str(threads), "-d", f"{seconds}s", "--timeout", "10s",
               "--latency", "-s", str(REPO / "bench" / "web_load.lua"), f"http://127.0.0.1:{port}", "--",
               str(requests_file)]  # fmt: skip
    cpu_before, machine_before = _process_cpu_s(server_pid), _machine_ticks()
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu_after = _process_cpu_s(server_pid)
    per_process = {pid: cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after}
    server_cpu_s = sum(per_process.values())
    shares = sorted((100 * s / server_cpu_s for s in per_process.values() if s > 0), reverse=True)
    machine = _machine_share(machine_before, _machine_ticks()) + (
        "; gunicorn CPU by process: " + " / ".join(f"{share:.0f} %" for share in shares) if shares else ""
    )
    match = re.search(r"^WEB_LOAD_RESULT (.*)$", output, re.MULTILINE)
    if not match:
        raise SystemExit(f"wrk printed no summary:\n{output}")
    fields = dict(item.split("=", 1) for item in match.group(1).split())
    number = {k: int(v) for k, v in fields.items() if k != "statuses"}
    latency = re.search(r"Latency Distribution\n((?:\s+\d+%.*\n)+)", output)
    return WrkResult(
        requests=number["requests"],
        seconds=number["duration_us"] / 1e6,
        p50_ms=number["p50_us"] / 1000,
        p95_ms=number["p95_us"] / 1000,
        p99_ms=number["p99_us"] / 1000,
        max_ms=number["max_us"] / 1000,
        socket_errors=number["connect"] + number["read"] + number["write"] + number["timeout"],
        error_statuses=number["status"],
        non2xx=number["non2xx"],
        statuses=fields.get("statuses", "").strip(","),
        latency_lines=latency.group(1).rstrip() if latency else "",
        server_cpu_s=server_cpu_s,
        machine=machine,
    )


def _combined(rounds: list[WrkResult]) -> WrkResult:
    """Several runs as one: counts and times added, p50 weighted by requests, the tail from the worst run."""
    requests = sum(r.requests for r in rounds)
    return WrkResult(
        requests=requests,
        seconds=sum(r.seconds for r in rounds),
        p50_ms=sum(r.p50_ms * r.requests for r in rounds) / requests if requests else 0.0,
        p95_ms=max(r.p95_ms for r in rounds),
        p99_ms=max(r.p99_ms for r in rounds),
        max_ms=max(r.max_ms for r in rounds),
        socket_errors=sum(r.socket_errors for r in rounds),
        error_statuses=sum(r.error_statuses for r in rounds),
        non2xx=sum(r.non2xx for r in rounds),
        statuses=",".join(r.statuses for r in rounds if r.statuses),
        latency_lines="",
        server_cpu_s=sum(r.server_cpu_s for r in rounds),
        machine=" | ".join(r.machine for r in rounds),
    )


def _write_requests(path: Path, lines: list[tuple[str, str, str]]) -> None:
    path.write_text("".join(f"{cookie}\t{url}\t{extra}\n" for cookie, url, extra in lines))


def _headers(extra: str) -> dict[str, str]:
    return dict(item.split(": ", 1) for item in extra.split("|") if item)


def _process_cpu_s(master_pid: int) -> dict[int, float]:
    """CPU seconds (user + system) used so far by gunicorn's master and each live worker, by pid. On a
    shared machine requests/s depend on what else runs; CPU per request does not, so both are reported.
    Per process, because a worker that took most of the keep-alive connections serves them on one core
    while the other idles (the split is printed)."""
    pids = [master_pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master_pid:
                pids.append(int(entry.name))
    seconds: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return seconds


def _machine_ticks() -> list[int]:
    """The machine's CPU time so far (/proc/stat, all CPUs): user nice system idle iowait irq softirq steal."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def _machine_share(before: list[int], after: list[int]) -> str:
    """Busy, idle and stolen shares of the machine's CPU time between two readings. A run that leaves CPU
    idle while requests queue, or whose CPU the hypervisor gave to another guest (steal), is not a
    measurement of the app: this line says which."""
    delta = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(delta) or 1
    idle, steal = delta[3] + delta[4], delta[7]
    busy = total - idle - steal
    return f"busy {100 * busy / total:.0f} %, idle {100 * idle / total:.0f} %, stolen {100 * steal / total:.0f} %"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


# ------------------------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=30, help="seconds of each measured wrk run")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of each warm-up run")
    parser.add_argument(
        "--rounds", type=int, default=3,
        help="measure app and minimal page in this many alternating rounds (the machine's speed drifts)",
    )  # fmt: skip
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--recordings", type=int, default=600)
    parser.add_argument("--work", type=Path, default=None, help="keep (and reuse) the database here")
    parser.add_argument("--database-url", default=None, help="an empty database of yours instead of SQLite")
    parser.add_argument(
        "--settings", default="bench.load_settings",
        help="to try a settings change: a module (on PYTHONPATH) that imports bench.load_settings and changes it",
    )  # fmt: skip
    args = parser.parse_args()

    wrk = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
    if wrk is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 1
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-web-load-"))
    work.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    env = _environment(work, port, args.database_url, args.settings)
    os.environ.update({k: v for k, v in env.items() if k != "PATH"})
    for name in ("DATABASE_URL", "SQLITE_PATH"):
        if name not in env:
            os.environ.pop(name, None)
    sys.path.insert(0, str(REPO))

    server = None
    try:
        _setup_database(recordings_wanted=args.recordings)
        rotation = _rotation(random.Random(10))
        log = work / "gunicorn.log"
        server = _start_gunicorn(env, log)
        client = Http(port)
        _wait_until_up(client, server, log)
        cookies = {pages.username: client.log_in(pages.username) for pages in rotation}

        # Every distinct page once per user: all must answer 200 before anything is measured.
        failures = []
        for pages in rotation:
            for path, extra in dict.fromkeys(pages.requests):
                cookie = cookies[pages.username]
                status = client.request("GET", path, cookie=cookie, headers=_headers(extra))[0]
                if status != 200:
                    failures.append(f"{pages.username} {path} {extra}: {status}")
        status = client.request("GET", "/bench/minimal/", cookie=cookies[rotation[0].username])[0]
        if status != 200:
            failures.append(f"/bench/minimal/: {status}")
        if failures:
            print("pages that did not answer 200:\n  " + "\n  ".join(failures), file=sys.stderr)
            print(f"gunicorn log: {log}", file=sys.stderr)
            return 1

        # Interleave the users' sessions so every connection browses as several people.
        app_lines = [
            (cookies[pages.username], *pages.requests[i])
            for i in range(max(len(p.requests) for p in rotation))
            for pages in rotation
            if i < len(pages.requests)
        ]
        minimal_lines = [(cookies[pages.username], "/bench/minimal/", "") for pages in rotation]
        app_file, minimal_file = work / "app_requests.txt", work / "minimal_requests.txt"
        _write_requests(app_file, app_lines)
        _write_requests(minimal_file, minimal_lines)
        counts: dict[str, int] = {}
        for _, path, extra in app_lines:
            kind = re.sub(r"\d+", "N", path) + (" (htmx)" if extra else "")
            counts[kind] = counts.get(kind, 0) + 1

        options = {"connections": args.connections, "threads": args.threads, "server_pid": server.pid}
        print(f"gunicorn: scripts/entrypoint.sh web on 127.0.0.1:{port}, "
              f"WEB_CONCURRENCY={env.get('WEB_CONCURRENCY', '(default)')}, "
              f"WEB_THREADS={env.get('WEB_THREADS', '(default)')}; "
              f"database {'PostgreSQL' if args.database_url else 'SQLite'}")  # fmt: skip
        print(f"rotation: {len(app_lines)} requests over {len(rotation)} users:")
        for kind, n in sorted(counts.items(), key=lambda item: -item[1]):
            print(f"  {n / len(app_lines):5.1%}  {kind}")
        load_before = _load()
        _wrk(wrk, port, app_file, seconds=args.warmup, **options)
        _wrk(wrk, port, minimal_file, seconds=args.warmup, **options)
        # Alternating rounds: the same machine state for both, as far as it goes (CPU time per request on this
        # shared 2-core machine drifts by 10-20 % from one half-minute to the next).
        seconds = max(1, args.duration // max(1, args.rounds))
        app_rounds, minimal_rounds = [], []
        for _ in range(max(1, args.rounds)):
            app_rounds.append(_wrk(wrk, port, app_file, seconds=seconds, **options))
            minimal_rounds.append(_wrk(wrk, port, minimal_file, seconds=seconds, **options))
        app, minimal = _combined(app_rounds), _combined(minimal_rounds)
        load_after = _load()
    finally:
        if server is not None:
            _stop(server)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    ratio = app.rps / minimal.rps if minimal.rps else 0.0
    print(f"\nwrk -c {args.connections} -t {args.threads} --latency, {len(app_rounds)} alternating rounds of "
          f"{seconds} s each (after {args.warmup} s warm-up of each)")  # fmt: skip
    for index, (a, m) in enumerate(zip(app_rounds, minimal_rounds, strict=True), start=1):
        print(a.line(f"  round {index} app").split("\n")[0])
        print(m.line(f"  round {index} min").split("\n")[0])
    print("all rounds (p50: mean of the rounds weighted by requests; p95, p99, max: the worst round):")
    print(app.line("app pages"))
    print(minimal.line("minimal page"))
    cpu_ratio = minimal.cpu_ms_per_request / app.cpu_ms_per_request if app.cpu_ms_per_request else 0.0
    print(f"ratio app / minimal: {ratio:.2f} in requests/s, {cpu_ratio:.2f} in server CPU per request "
          "(the latter depends less on other load)")
    print(f"machine: before {load_before}; after {load_after}")
    checks = [
        (f"app pages >= {TARGET_RPS:.0f} requests/s", app.rps >= TARGET_RPS),
        (f"app pages p95 < {TARGET_P95_MS:.0f} ms", app.p95_ms < TARGET_P95_MS),
        ("no errors, every answer 2xx", app.errors == 0 and minimal.errors == 0),
        (f"app / minimal >= {TARGET_RATIO}", ratio >= TARGET_RATIO),
    ]
    for name, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
