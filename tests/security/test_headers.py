"""Response headers and cookies: the Content-Security-Policy on every page, secure cookies with HTTPS on,
and CSRF enforced on every form POST and every HTMX POST that lacks the token."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from batsite.security import build_policy, tile_source
from surveys.models import Role
from tests.factories import RecordingFactory, SiteFactory, VisitFactory, member
from tests.security.test_url_walk import MISSING_ID, fill, url_patterns

REPO_ROOT = Path(__file__).resolve().parents[2]


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


@pytest.fixture
def visit(db, media_root):
    return VisitFactory(site=SiteFactory(time_zone="Europe/Amsterdam"))


@pytest.fixture
def manager(visit):
    return member(visit.site.project, Role.MANAGER)


@pytest.mark.parametrize("page", ["login", "dashboard", "visit", "missing", "api_docs"])
def test_pages_carry_a_strict_content_security_policy(client, manager, visit, page):
    client.force_login(manager)
    paths = {
        "login": reverse("login"),
        "dashboard": reverse("dashboard"),
        "visit": reverse("visit_detail", args=[visit.pk]),
        "missing": "/no/such/page/",
        "api_docs": "/api/v1/docs",
    }
    if page == "login":
        client.logout()
    response = client.get(paths[page])
    assert response.status_code < 500
    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"], "no inline or third-party scripts may run"
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert set(policy["img-src"]) >= {"'self'", "data:", "https://tile.openstreetmap.org"}
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


def test_map_tiles_from_another_host_are_allowed_as_images_only(client, settings, manager):
    settings.MAP_TILE_URL = "https://{s}.tiles.example.org/osm/{z}/{x}/{y}.png"
    client.force_login(manager)
    policy = directives(client.get(reverse("dashboard")))
    assert "https://*.tiles.example.org" in policy["img-src"]
    assert "https://*.tiles.example.org" not in policy["default-src"] + policy["script-src"]


def test_tile_source_of_a_relative_or_empty_tile_url_adds_no_host():
    assert tile_source("") is None
    assert tile_source("/tiles/{z}/{x}/{y}.png") is None
    assert "data:" in build_policy("")


def test_templates_hold_no_inline_scripts_or_event_handlers():
    """script-src 'self' holds only while no template runs code inline; move such code to static/js."""
    offenders = []
    for path in (REPO_ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text):
            if "src=" not in match.group(1):
                offenders.append(f"{path.relative_to(REPO_ROOT)}: inline <script>")
        for match in re.finditer(r"\s(on[a-z]+)\s*=\s*[\"']", text):
            offenders.append(f"{path.relative_to(REPO_ROOT)}: inline handler {match.group(1)}")
        if "javascript:" in text.lower() or "hx-on" in text:
            offenders.append(f"{path.relative_to(REPO_ROOT)}: javascript: URL or hx-on handler")
    assert not offenders, "\n".join(offenders)


def _settings_with_env(monkeypatch, **env: str):
    """batsite/settings.py evaluated afresh under `env` (settings are read from the environment once)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("batsite_settings_probe", REPO_ROOT / "batsite" / "settings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.pop("batsite_settings_probe", None)
    return module


def test_cookies_are_secure_and_http_only_with_https_on(monkeypatch):
    probe = _settings_with_env(monkeypatch, HTTPS="true", DEBUG="false", SECRET_KEY="x" * 60)
    assert probe.SESSION_COOKIE_SECURE is True
    assert probe.CSRF_COOKIE_SECURE is True
    assert probe.SESSION_COOKIE_HTTPONLY is True
    assert probe.SECURE_SSL_REDIRECT is True
    assert probe.SECURE_HSTS_SECONDS >= 31_536_000


def test_login_over_https_sets_a_secure_http_only_session_cookie(settings, manager):
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    client = Client()
    response = client.post(
        reverse("login"), {"username": manager.username, "password": "a-long-test-password-42"}, secure=True
    )
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] and cookie["httponly"]
    assert cookie["samesite"].lower() == "lax"


@pytest.fixture
def own_ids(visit, manager) -> dict[str, str]:
    recording = RecordingFactory(visit=visit)
    ids = {"project_id": visit.site.project_id, "site_id": visit.site_id, "visit_id": visit.pk,
           "recording_id": recording.pk}  # fmt: skip
    for name in ("membership_id", "analysis_id", "token_id", "version_id", "run_id", "job_id", "sensitive_species_id",
                 "content_type_id", "object_id", "id"):  # fmt: skip
        ids[name] = MISSING_ID
    ids.update(app_label="surveys", url="nothing-here", rest="nothing-here", api_job_id=str(MISSING_ID))
    return {k: str(v) for k, v in ids.items()}


def _csrf_checked_paths(own_ids: dict[str, str]) -> list[str]:
    # The JSON API is exempt by design: it takes a bearer token, which a browser never sends on its own.
    return [fill(p, own_ids) for p in url_patterns() if not p.route.startswith("api/")]


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_every_post_without_the_csrf_token_is_refused(manager, own_ids, htmx):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    headers = {"HX-Request": "true"} if htmx else {}
    accepted = []
    for path in _csrf_checked_paths(own_ids):
        response = client.post(path, {"name": "changed"}, headers=headers)
        if response.status_code != 403:
            accepted.append(f"{path}: {response.status_code}")
    assert not accepted, "POST accepted without a CSRF token:\n" + "\n".join(accepted)


def test_htmx_post_with_the_token_header_passes_the_csrf_check(manager, visit):
    """The positive control: base.html puts the token in hx-headers; with it the POST reaches the view."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    client.get(reverse("visit_detail", args=[visit.pk]))  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(
        reverse("set_language"), {"language": "nl", "next": "/"}, headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert response.status_code == 302


def test_base_template_sends_the_csrf_token_with_every_htmx_request():
    base = (REPO_ROOT / "templates" / "base.html").read_text()
    assert re.search(r"hx-headers=.*X-CSRFToken.*csrf_token", base), "hx-headers on <body> carries the token"
