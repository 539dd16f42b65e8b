"""Real processes for the fault tests: a throwaway PostgreSQL cluster, a throwaway redis-server, and Celery
worker and beat processes started with scripts/entrypoint.sh, each of which a test can kill or restart.

Nothing here imports Django: the test process only starts, stops and kills processes and reads the database
with psycopg; everything that needs the app runs in subprocesses pointed at these services. The shared
PostgreSQL and Redis of the machine are never touched: every service here has its own port and folder.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 60


class FaultSetupError(RuntimeError):
    """A service of the fault tests could not be started (its log tail is in the message)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log at {path}: {error})"


def wait_for(check: Callable[[], bool], *, timeout_s: float, every_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every_s)


def _stop_process(process: subprocess.Popen[bytes], *, grace_s: float = 15.0) -> None:
    """SIGTERM the process's own group, then SIGKILL what is left after `grace_s`."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace_s)
    except ProcessLookupError:
        process.wait(timeout=grace_s)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process and everything in its group (a Celery worker and its pool children)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


# --------------------------------------------------------------------------------------------- PostgreSQL


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin folder ($BATSITE_PG_BIN to choose another)."""
    chosen = os.environ.get("BATSITE_PG_BIN")
    candidates = (
        [chosen]
        if chosen
        else sorted(
            glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name.split(".")[0])
        )
    )
    for folder in reversed(candidates):
        if folder and (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    which = shutil.which("pg_ctl")
    if which and (Path(which).parent / "initdb").is_file():
        return Path(which).parent
    raise FaultSetupError(
        "the fault tests start a PostgreSQL cluster of their own and need initdb and pg_ctl: install the "
        "Debian package postgresql (.ci/run does), or point BATSITE_PG_BIN at PostgreSQL's bin folder"
    )


class PostgresCluster:
    """initdb into `root`, served on a free port on 127.0.0.1 with trust authentication.

    As root, the cluster belongs to the `postgres` user (PostgreSQL refuses to run as root). fsync is off:
    the tests restart the server, they do not crash the machine, so what was committed survives anyway.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.log = root / "postgres.log"
        self.bin = postgres_bin_dir()
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
        command = list(args)
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)

    def init(self) -> None:
        self.sockets.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        done = self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--no-sync", "--locale=C",
        )  # fmt: skip
        if done.returncode != 0:
            raise FaultSetupError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=60"
        )
        done = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
                         "-w", "-t", "120", "start")  # fmt: skip
        if done.returncode != 0:
            raise FaultSetupError(
                f"pg_ctl start failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{log_tail(self.log)}"
            )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; mode `immediate` is an abrupt stop (crash recovery on the next start)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status").returncode == 0

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database} connect_timeout=5"

    def create_database(self, name: str, *, template: str | None = None) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            suffix = f" TEMPLATE {template}" if template else ""
            conn.execute(f'CREATE DATABASE "{name}"{suffix}')

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------------------------- Redis


class RedisServer:
    """redis-server on a free port, data and log in `root`; no persistence unless asked."""

    def __init__(self, root: Path, *, appendonly: bool = False) -> None:
        if shutil.which("redis-server") is None:
            raise FaultSetupError("the fault tests start a redis-server of their own: install redis-server")
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.log = root / "redis.log"
        self.port = free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.root),
            "--logfile", str(self.log), "--save", "", "--appendonly", "yes" if self.appendonly else "no",
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        if not wait_for(self.answers, timeout_s=20):
            raise FaultSetupError(f"redis-server did not answer on port {self.port}:\n{log_tail(self.log)}")

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: the server goes away at once, with whatever it held only in memory."""
        if self.process is not None:
            _kill_group(self.process)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            _stop_process(self.process, grace_s=10)
            self.process = None


# --------------------------------------------------------------------------------------------- Celery


class CeleryProcess:
    """`scripts/entrypoint.sh worker|beat ...` in its own process group, output to `log`."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.name, self.args, self.env, self.log = name, args, dict(env), log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> CeleryProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                ["sh", str(REPO_ROOT / "scripts" / "entrypoint.sh"), *self.args],
                cwd=REPO_ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def group_pids(self) -> set[int]:
        """The pids of this process group (the worker and its pool children)."""
        pids = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) == self.pid:
                        pids.add(int(entry.name))
                except (ProcessLookupError, PermissionError):
                    continue
        return pids

    def kill(self) -> None:
        if self.process is not None:
            _kill_group(self.process)

    def stop(self) -> None:
        if self.process is not None:
            _stop_process(self.process)

    def tail(self) -> str:
        return log_tail(self.log)
