"""Fault tests (issue 10): real workers, killed; a real PostgreSQL and a real Redis, restarted.

Every test here runs against services of its own, never the machine's shared ones:

- `fault_postgres` (session): a PostgreSQL cluster initdb'd under /tmp on a free port, with a template
  database migrated once by `scripts/entrypoint.sh migrate`; each test gets a fresh copy of the template.
- `faults` (per test): that database, a fresh redis-server on a free port (no persistence: a restart loses
  every queued message, the worst case), media and var folders, and helpers to start `entrypoint.sh worker`
  and `entrypoint.sh beat` processes on them, run `tests.faults.actions` in a subprocess, and read tables
  with psycopg. Everything started is stopped at teardown; a failing test shows every process's log tail.

The test process itself never uses Django's database here (pytest-django's test database is another one);
the app runs only in the subprocesses, with short windows set through the environment (FAULT_WINDOWS).
Every test in this folder is marked `faults`.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.faults.processes import (
    REPO_ROOT,
    CeleryProcess,
    FaultSetupError,
    PostgresCluster,
    RedisServer,
    log_tail,
)

FAULTS_DIR = Path(__file__).resolve().parent
TEMPLATE_DB = "faults_template"
WORKER_START_TIMEOUT_S = 240.0  # Django + torch imports on two busy cores
ACTION_TIMEOUT_S = 240.0

# Short windows so a lost worker or message is found in seconds, not minutes. The invariants of the
# settings hold: the stale window is longer than the analysis's hard time limit.
FAULT_WINDOWS = {
    "ANALYSIS_SOFT_TIME_LIMIT_S": "12",
    "ANALYSIS_TIME_LIMIT_S": "15",
    "STALE_ANALYSIS_AFTER_S": "20",
    "LOST_QUEUED_ANALYSIS_AFTER_S": "8",
    "LOST_UPLOAD_AFTER_S": "8",
    "STALE_JOB_AFTER_S": "12",
    "SWEEP_EVERY_S": "1",
    "TRAINING_SWEEP_EVERY_S": "1",
    "CELERY_UNACKED_RESTORE_INTERVAL_S": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
}

_databases = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: fault tests with real worker processes on a throwaway PostgreSQL and Redis"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(FAULTS_DIR):
            item.add_marker(pytest.mark.faults)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    site = getattr(item, "funcargs", {}).get("faults")
    if report.failed and isinstance(site, FaultSite):
        for title, text in site.log_tails():
            report.sections.append((title, text))
    return report


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        CELERY_TASK_ALWAYS_EAGER="false",
        CELERY_QUEUES="analysis,training",
        CELERY_CONCURRENCY="1",
        LOG_LEVEL="INFO",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p),
        PYTHONUNBUFFERED="1",
        **FAULT_WINDOWS,
    )
    return env


@pytest.fixture(scope="session")
def fault_postgres() -> Iterator[PostgresCluster]:
    """A throwaway cluster with the migrated template database; removed after the last fault test.

    Its folder is a fresh one directly under the temporary directory: as root the server runs as the
    `postgres` user, who may not enter pytest's private (mode 700) temporary folders.
    """
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="batsite-faults-postgres-")))
    cluster.root.chmod(0o755)
    failure = ""
    try:
        cluster.init()
        cluster.start()
        cluster.create_database(TEMPLATE_DB)
        env = _base_env() | {"DATABASE_URL": cluster.url(TEMPLATE_DB), "REDIS_URL": "redis://127.0.0.1:1/0"}
        done = subprocess.run(["sh", str(REPO_ROOT / "scripts" / "entrypoint.sh"), "migrate"], cwd=REPO_ROOT,
                              env=env, capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
        if done.returncode != 0:
            failure = f"migrate failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    except FaultSetupError as error:
        failure = str(error)
    if failure:
        cluster.destroy()
        pytest.fail(failure, pytrace=False)
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real checkpoint with random weights: the analyses run the whole engine, their answers do not matter."""
    from tests.faults.actions import write_model  # ml only: no Django, no database

    path = Path(tmp_path_factory.mktemp("faults-model")) / "untrained.pt"
    write_model(path)
    return path


@dataclass
class Action:
    """A running `python -m tests.faults.actions ...`; `result()` waits for its JSON."""

    args: tuple[str, ...]
    process: subprocess.Popen[str]

    def result(self, timeout_s: float = ACTION_TIMEOUT_S) -> dict[str, Any]:
        try:
            out, err = self.process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, err = self.process.communicate()
            pytest.fail(
                f"action {self.args} did not finish in {timeout_s:.0f} s:\n{err[-3000:]}", pytrace=False
            )
        if self.process.returncode != 0:
            pytest.fail(
                f"action {self.args} failed ({self.process.returncode}):\n{err[-3000:]}", pytrace=False
            )
        return json.loads(out.strip().splitlines()[-1])


@dataclass
class FaultSite:
    """One test's database, broker, folders and processes (module docstring)."""

    root: Path
    postgres: PostgresCluster
    database: str
    redis: RedisServer
    model: Path
    processes: list[CeleryProcess] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        return (
            _base_env()
            | {
                "DATABASE_URL": self.postgres.url(self.database),
                "REDIS_URL": self.redis.url,
                "MEDIA_ROOT": str(self.root / "media"),
                "BATSITE_VAR_DIR": str(self.root / "var"),
            }
            | overrides
        )

    # --- app actions and processes

    def start_action(self, *args: str) -> Action:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.actions", *args], cwd=REPO_ROOT, env=self.env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        return Action(args, process)

    def worker(self, name: str, **env: str) -> CeleryProcess:
        """A worker (concurrency 1, both queues) started now; `wait_ready` before relying on it."""
        args = [
            "worker", "--hostname", f"{name}@%h", "--include", "tests.faults.worker_hooks",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        process = CeleryProcess(f"worker {name}", args, self.env(**env), self.root / f"worker-{name}.log")
        self.processes.append(process.start())
        return process

    def beat(self) -> CeleryProcess:
        (self.root / "var").mkdir(parents=True, exist_ok=True)
        process = CeleryProcess("beat", ["beat"], self.env(), self.root / "beat.log")
        self.processes.append(process.start())
        return process

    def wait_ready(self, *workers: CeleryProcess) -> None:
        for worker in workers:
            self.wait_until(
                lambda w=worker: "ready." in w.log.read_text(errors="replace") or not w.alive(),
                timeout_s=WORKER_START_TIMEOUT_S,
                what=f"{worker.name} to start",
            )
            if not worker.alive():
                pytest.fail(f"{worker.name} exited before it was ready:\n{worker.tail()}", pytrace=False)

    # --- the database, read with psycopg (a new connection each time: the server may have restarted)

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.postgres.dsn(self.database)) as conn:
            return conn.execute(sql, params).fetchall()

    def value(self, sql: str, *params: object) -> Any:
        return self.rows(sql, *params)[0][0]

    def wait_until(
        self, check: Callable[[], bool], *, timeout_s: float, what: str, every_s: float = 0.5
    ) -> None:
        """Poll `check` (database errors count as "not yet") until it holds, or fail saying `what`."""
        import psycopg

        deadline = time.monotonic() + timeout_s
        last_error = ""
        while True:
            try:
                if check():
                    return
            except psycopg.Error as error:  # the server is restarting
                last_error = f" (last database error: {error})"
            if time.monotonic() >= deadline:
                pytest.fail(
                    f"timed out after {timeout_s:.0f} s waiting for {what}{last_error}", pytrace=False
                )
            time.sleep(every_s)

    # --- teardown and failure reports

    def kill_all(self) -> None:
        """Everything of this test goes at once: the services are thrown away, nothing needs a clean stop."""
        for process in self.processes:
            process.kill()
        self.redis.kill()

    def log_tails(self) -> list[tuple[str, str]]:
        tails = [(f"{p.name} log (tail)", p.tail()) for p in self.processes]
        tails.append(("redis log (tail)", log_tail(self.redis.log, 20)))
        tails.append(("postgres log (tail)", log_tail(self.postgres.log, 20)))
        return tails


@pytest.fixture
def faults(fault_postgres: PostgresCluster, untrained_model: Path, tmp_path: Path) -> Iterator[FaultSite]:
    database = f"faults_{next(_databases)}"
    try:
        if not fault_postgres.running():  # a test that restarts the server failed half-way
            fault_postgres.start()
        fault_postgres.create_database(database, template=TEMPLATE_DB)
        redis = RedisServer(tmp_path / "redis")
        redis.start()
    except FaultSetupError as error:
        pytest.fail(str(error), pytrace=False)
    site = FaultSite(
        root=tmp_path, postgres=fault_postgres, database=database, redis=redis, model=untrained_model
    )
    try:
        yield site
    finally:
        site.kill_all()
