"""End-to-end fixtures: pytest-django's live server, a real Celery worker process and headless Chromium.

- `celery_worker_process` (package scope: started once for tests/e2e, stopped after its last test):
  `scripts/entrypoint.sh worker`, the command the Docker image runs, pointed at the test database
  (PostgreSQL: pytest-django's test database; SQLite: the test database file) and at the test broker
  (REDIS_URL). Tests that use the live server run in `transactional_db`,
  so what the live server writes is committed and the worker sees it. The fixture waits until the worker
  answers a ping, and a failing test shows the tail of the worker's log.
- `browser` (package) and `page`: Debian's chromium at $BATSITE_CHROMIUM (default /usr/bin/chromium)
  driven by Playwright; no browser is ever downloaded. A missing chromium fails the tests, never skips.
- `log_in(page, user)` and `logged_in_page`: log in through the real login form.

Every test in this folder is marked `e2e`.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from playwright.sync_api import Browser, Page

E2E_DIR = Path(__file__).resolve().parent
REPO_ROOT = E2E_DIR.parents[1]
ARTIFACTS_DIR = REPO_ROOT / "var" / "test" / "e2e-artifacts"
CHROMIUM_PATH = Path(os.environ.get("BATSITE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WORKER_START_TIMEOUT_S = 180.0  # Django + torch imports on two busy cores
WORKER_STOP_TIMEOUT_S = 20.0
WORKER_QUEUES = ("analysis", "training")
PAGE_TIMEOUT_MS = 15_000
WORKER_LOG_TAIL_LINES = 80

_report_key = pytest.StashKey[dict[str, pytest.TestReport]]()
_worker_log: dict[str, Path] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    item.stash.setdefault(_report_key, {})[report.when] = report
    uses_worker = "celery_worker_process" in getattr(item, "fixturenames", ())
    if report.failed and uses_worker and "log" in _worker_log:
        report.sections.append(("celery worker log (tail)", _log_tail(_worker_log["log"])))
    return report


def _log_tail(path: Path, lines: int = WORKER_LOG_TAIL_LINES) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no worker log: {error})"


def _test_failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_report_key, {})
    return any(report.failed for report in reports.values())


# --- the worker ------------------------------------------------------------------------------------


def _database_url_with_name(url: str, name: str) -> str:
    return urlsplit(url)._replace(path="/" + quote(name)).geturl()


def _worker_environment() -> dict[str, str]:
    """The pytest process's settings, pointed at the test database that pytest-django created."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            pytest.fail(f"the e2e worker needs a SQLite test database in a file, not {name!r}", pytrace=False)
        env["SQLITE_PATH"] = name  # after set-up NAME is the TEST NAME file
        env.pop("DATABASE_URL", None)
    else:
        env["DATABASE_URL"] = _database_url_with_name(os.environ["DATABASE_URL"], str(db["NAME"]))
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        REDIS_URL=settings.CELERY_BROKER_URL,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        BATSITE_VAR_DIR=str(settings.VAR_DIR),
        CELERY_TASK_ALWAYS_EAGER="false",
        CELERY_QUEUES=",".join(WORKER_QUEUES),
        CELERY_CONCURRENCY="1",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join(p for p in [str(REPO_ROOT), env.get("PYTHONPATH", "")] if p),
        PYTHONUNBUFFERED="1",
    )
    return env


def _purge_test_queues() -> None:
    """Drop messages a killed earlier run left on the test broker, so this run starts clean."""
    from batsite.celery import app

    with app.connection_for_write() as conn:
        for queue in WORKER_QUEUES:
            conn.default_channel.queue_purge(queue)


def _wait_until_ready(process: subprocess.Popen[bytes], nodename: str, log_path: Path) -> None:
    from batsite.celery import app

    deadline = time.monotonic() + WORKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the Celery worker exited with code {process.returncode} before it was ready; its log:\n"
                + _log_tail(log_path),
                pytrace=False,
            )
        if app.control.ping(destination=[nodename], timeout=1.0):
            return
        time.sleep(0.5)
    pytest.fail(
        f"the Celery worker did not answer a ping within {WORKER_START_TIMEOUT_S:.0f} s; its log:\n"
        + _log_tail(log_path),
        pytrace=False,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Warm shutdown of the worker and its pool children (its own process group), then kill."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=WORKER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=WORKER_STOP_TIMEOUT_S)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="package")
def celery_worker_process(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker process on the test database and broker, stopped before the test database is dropped."""
    nodename = f"e2e-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    log_path = tmp_path_factory.mktemp("celery-worker") / "worker.log"
    _worker_log["log"] = log_path
    _purge_test_queues()
    command = [
        "sh", str(REPO_ROOT / "scripts" / "entrypoint.sh"), "worker",
        "--hostname", nodename,
        "--include", "tests.e2e.worker_probe",
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=_worker_environment(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: teardown stops the pool children too
        )
    try:
        _wait_until_ready(process, nodename, log_path)
        yield process
    finally:
        _stop(process)


# --- the browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_executable() -> Path:
    if not (CHROMIUM_PATH.is_file() and os.access(CHROMIUM_PATH, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM_PATH}. End-to-end tests use Debian's chromium and never "
            "download a browser: install it with `apt-get install chromium` (.ci/run does), or point "
            "BATSITE_CHROMIUM at another chromium binary.",
            pytrace=False,
        )
    return CHROMIUM_PATH


@pytest.fixture(scope="package")
def browser(chromium_executable: Path) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, and Django refuses ORM calls
    # while one runs. The tests' ORM calls are plain synchronous code, so the check does not apply;
    # package scope closes the browser (and restores the check) after the last e2e test.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=str(chromium_executable), headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def make_page(browser: Browser, live_server, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """`make_page(locale="en-GB") -> Page`: a fresh browser context (own cookies) on the live server.

    On a failed test each page leaves a screenshot in var/test/e2e-artifacts/.
    """
    contexts = []

    def _make_page(locale: str = "en-GB") -> Page:
        context = browser.new_context(base_url=live_server.url, locale=locale, timezone_id="Europe/Amsterdam")
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield _make_page
    failed = _test_failed(request)
    for number, context in enumerate(contexts):
        if failed:
            ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
            for page_number, open_page in enumerate(context.pages):
                path = ARTIFACTS_DIR / f"{name}-{number}-{page_number}.png"
                open_page.screenshot(path=str(path), full_page=True)
                print(f"screenshot of {open_page.url}: {path}")
        context.close()


@pytest.fixture
def page(make_page: Callable[..., Page]) -> Page:
    """A page in English on the live server (relative URLs such as page.goto("/") work)."""
    return make_page()


# --- logging in ------------------------------------------------------------------------------------


@pytest.fixture
def log_in() -> Callable[..., Page]:
    """`log_in(page, user, password=TEST_PASSWORD) -> Page`: log in through the login form."""
    from playwright.sync_api import expect

    from tests.factories import TEST_PASSWORD

    def _log_in(page: Page, user: AbstractBaseUser, password: str = TEST_PASSWORD) -> Page:
        login_url = reverse("login")
        page.goto(login_url)
        page.locator("input[name=username]").fill(user.get_username())
        page.locator("input[name=password]").fill(password)
        page.locator("input[name=password]").press("Enter")
        expect(page).not_to_have_url(re.compile(re.escape(login_url)))
        return page

    return _log_in


@pytest.fixture
def e2e_user(live_server) -> AbstractBaseUser:
    """The user `logged_in_page` logs in as; override this fixture for another user."""
    from tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def logged_in_page(page: Page, log_in: Callable[..., Page], e2e_user: AbstractBaseUser) -> Page:
    return log_in(page, e2e_user)
