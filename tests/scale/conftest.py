"""Fixtures for the scale-out tests: an S3 server on 127.0.0.1 and Celery workers that share no disk.

- `s3_server` (package scope): moto's S3 server in a thread of the test process on a free loopback port, with
  one empty bucket; `s3_env` is the environment that points Batsite at it (MEDIA_STORAGE=s3 and the AWS_*
  variables batsite/settings.py reads). Nothing leaves the machine.
- `start_worker(name, queues, home)`: a real worker process (`scripts/entrypoint.sh worker`, as the image
  runs it) on the test database and broker, whose working directory, MEDIA_ROOT, BATSITE_VAR_DIR and TMPDIR
  are fresh folders under `home`, none of which holds any media: the worker can only reach recordings through
  the storage backend. Stopped after the module. The worker plumbing is the end-to-end tests' (tests/e2e).
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    REPO_ROOT,
    _log_tail,
    _purge_test_queues,
    _stop,
    _wait_until_ready,
    _worker_environment,
)

BUCKET = "batsite-scale-test"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str

    def env(self) -> dict[str, str]:
        return {
            "MEDIA_STORAGE": "s3",
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_ACCESS_KEY_ID": "scale-test-key",
            "AWS_SECRET_ACCESS_KEY": "scale-test-secret",
        }

    def client(self):
        import boto3

        env = self.env()
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )  # fmt: skip

    def keys(self) -> set[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}


@pytest.fixture(scope="package")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        s3 = S3Server(endpoint_url=f"http://{host}:{port}", bucket=BUCKET)
        s3.client().create_bucket(Bucket=BUCKET)
        yield s3
    finally:
        server.stop()


@pytest.fixture
def s3_media(s3_server: S3Server, settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Server:
    """This process (the web side) stores media in the bucket, configured as production is: by environment.

    MEDIA_ROOT points at an empty folder that the test checks stays empty.
    """
    from batsite.settings import media_storage_backend

    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    settings.MEDIA_ROOT = tmp_path / "web-media"
    settings.MEDIA_ROOT.mkdir()
    settings.STORAGES = {**settings.STORAGES, "default": media_storage_backend("s3")}
    return s3_server


@dataclass(frozen=True)
class Worker:
    nodename: str
    queues: tuple[str, ...]
    home: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def local_dirs(self) -> dict[str, Path]:
        return {name: self.home / name for name in ("cwd", "media", "tmp", "var")}

    def log_tail(self) -> str:
        return f"--- {self.nodename} ---\n{_log_tail(self.log)}"


@pytest.fixture(scope="module")
def start_worker(django_db_setup: None, s3_server: S3Server) -> Iterator[Callable[..., Worker]]:
    """`start_worker(name, queues, home) -> Worker`, returning at once: `wait_ready(worker)` is separate, so
    several workers import Django and torch side by side. All are stopped after the module."""
    started: list[Worker] = []
    _purge_test_queues()

    def _start(name: str, queues: tuple[str, ...], home: Path) -> Worker:
        for folder in ("cwd", "media", "tmp", "var"):
            (home / folder).mkdir(parents=True)
        nodename = f"scale-{name}-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
        env = _worker_environment()
        env.update(s3_server.env())
        env.update(
            MEDIA_ROOT=str(home / "media"),
            BATSITE_VAR_DIR=str(home / "var"),
            TMPDIR=str(home / "tmp"),
            CELERY_QUEUES=",".join(queues),
        )
        command = [
            "sh", str(REPO_ROOT / "scripts" / "entrypoint.sh"), "worker",
            "--hostname", nodename, "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        log = home / "worker.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=home / "cwd",
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: teardown stops the pool children too
            )
        worker = Worker(nodename=nodename, queues=queues, home=home, log=log, process=process)
        started.append(worker)
        return worker

    yield _start
    for worker in started:
        _stop(worker.process)


def wait_ready(worker: Worker) -> None:
    _wait_until_ready(worker.process, worker.nodename, worker.log)
