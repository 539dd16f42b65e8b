"""Process helpers of the benchmarks that run the app as shipped (redis-server, gunicorn, Celery workers):
the environment they run in; start one in its own process group with its output in a log file, wait until it
answers, stop it with everything it forked; read from /proc what CPU a process tree has used."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def app_environment(redis_port: int, *, without: tuple[str, ...], **settings: str) -> dict[str, str]:
    """This process's environment less `without`, set for the app as shipped (batsite.settings, DEBUG off, no
    HTTPS, no static manifest, a private Redis on `redis_port` as broker, Celery not eager, this venv and repo
    first on the paths), with `settings` (database, folders, hosts) on top."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", *without)}
    env.update(
        DJANGO_SETTINGS_MODULE="batsite.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="false",
        HTTPS="false",
        STATIC_MANIFEST="false",  # no collectstatic: the benchmarks fetch no static files
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        CELERY_TASK_ALWAYS_EAGER="false",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join(p for p in [str(REPO), os.environ.get("PYTHONPATH", "")] if p),
    )
    env.update(settings)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(command: list[str], log: Path, env: dict[str, str], cwd: Path = REPO) -> subprocess.Popen:
    """`command` in a new session (its own process group), stdout and stderr into `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_redis(port: int, log: Path, env: dict[str, str], cwd: Path = REPO) -> subprocess.Popen:
    """A private redis-server on 127.0.0.1:`port` that keeps nothing on disk."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return spawn(command, log, env, cwd)


def terminate(process: subprocess.Popen | None, timeout_s: float = 20) -> None:
    """SIGTERM to the process group we started (worker pool children, gunicorn workers), then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def wait_for(
    check, what: str, timeout_s: float, process: subprocess.Popen | None = None, log: Path | None = None
) -> None:
    """Until `check()` is true (exceptions count as not yet); exits with the log's tail if `process` ends."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-4000:] if log else ""
            raise SystemExit(f"{what} exited with code {process.returncode}:\n{tail}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{what} was not ready within {timeout_s:.0f} s")


def descendants(root: int) -> list[int]:
    """`root` and its live descendants (from /proc)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents[ppid].append(int(entry.name))
    tree, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        tree.append(pid)
        frontier.extend(parents.get(pid, []))
    return tree


def tree_cpu_s(root: int) -> float:
    """CPU seconds (user + system) used so far by a process and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in descendants(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total
