"""Smoke tests in a real browser: log in, see the dashboard, health check, and a worker on the same data."""

from __future__ import annotations

import re
import time

from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

from batsite.celery import app
from surveys.models import Role
from tests.e2e.worker_probe import PROBE_TASK
from tests.factories import ProjectFactory, UserFactory, member

WORKER_ROUND_TRIP_TIMEOUT_S = 60.0


def test_member_logs_in_and_sees_their_project_on_the_dashboard(page: Page, log_in) -> None:
    project = ProjectFactory(name="Kromme Rijn 2025")
    user = member(project, Role.FIELDWORKER)

    log_in(page, user)

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_text("Kromme Rijn 2025").first).to_be_visible()


def test_wrong_password_keeps_the_visitor_on_the_login_page(page: Page, log_in) -> None:
    user = UserFactory()

    page.goto("/accounts/login/")
    page.locator("input[name=username]").fill(user.username)
    page.locator("input[name=password]").fill("not-the-password")
    page.locator("input[name=password]").press("Enter")

    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_anonymous_visitor_is_sent_to_the_login_page(page: Page) -> None:
    page.goto("/")

    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    expect(page.locator("input[name=password]")).to_be_visible()


def test_healthz_reports_database_and_broker_up(page: Page) -> None:
    response = page.request.get("/healthz")

    assert response.status == 200
    assert response.json() == {"status": "ok", "database": True, "broker": True}


def test_worker_reads_what_the_live_server_wrote(page: Page, log_in, celery_worker_process) -> None:
    user = UserFactory()
    log_in(page, user)  # the live server records last_login
    last_login = get_user_model().objects.get(pk=user.pk).last_login
    assert last_login is not None

    app.send_task(PROBE_TASK, args=[user.username])

    deadline = time.monotonic() + WORKER_ROUND_TRIP_TIMEOUT_S
    seen = ""
    while time.monotonic() < deadline:
        seen = get_user_model().objects.get(pk=user.pk).last_name
        if seen:
            break
        time.sleep(0.2)
    assert seen == last_login.isoformat()
