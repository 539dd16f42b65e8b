"""Settings, health check and deployment files: what an operator relies on before the first request.

The Docker engine does not run here, so the Dockerfile and compose.yaml are checked statically, and the
commands they run (scripts/entrypoint.sh) are run for real by .ci/run and by these tests.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import reverse

from surveys.models import Membership, Project, Role, Site, Visit

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE = REPO_ROOT / "compose.yaml"
CI_RUN = REPO_ROOT / ".ci" / "run"
ENTRYPOINT = REPO_ROOT / "scripts" / "entrypoint.sh"
SUBPROCESS_TIMEOUT_S = 120
# Set by tests/settings.py for the test run; a production-like subprocess must not inherit them.
TEST_ONLY_VARIABLES = (
    "SECRET_KEY", "DEBUG", "HTTPS", "STATIC_MANIFEST", "DJANGO_SETTINGS_MODULE", "BEHIND_PROXY",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set while the e2e browser runs; check --deploy rightly rejects it
)  # fmt: skip


def production_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY_VARIABLES}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["DJANGO_SETTINGS_MODULE"] = "batsite.settings"
    env.update(overrides)
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S
    )


# --- settings --------------------------------------------------------------------------------------


def test_check_deploy_reports_no_warnings_with_debug_off_a_real_secret_and_allowed_hosts() -> None:
    env = production_env(
        DEBUG="false", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="bats.example.org"
    )

    result = run(["sh", str(ENTRYPOINT), "check"], env)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNING" not in output


@pytest.mark.parametrize(
    "command",
    [["manage.py", "check"], ["-c", "import batsite.wsgi"]],
    ids=["manage.py", "wsgi"],
)
def test_app_refuses_to_start_on_the_development_secret_with_debug_off(command: list[str]) -> None:
    result = run([sys.executable, *command], production_env(DEBUG="false"))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "development secret" in result.stderr


def test_development_secret_is_accepted_with_debug_on() -> None:
    result = run([sys.executable, "manage.py", "check"], production_env(DEBUG="true"))

    assert result.returncode == 0, result.stderr


# --- /healthz --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_answers_200_without_login_when_database_and_broker_answer(client) -> None:
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "broker": True}


@pytest.mark.django_db
def test_healthz_answers_503_when_the_broker_is_unreachable(client, settings) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json() == {"status": "unhealthy", "database": True, "broker": False}


@pytest.mark.django_db
def test_healthz_refuses_post(client) -> None:
    assert client.post(reverse("healthz")).status_code == 405


def test_docker_healthcheck_script_follows_healthz(live_server, settings) -> None:
    port = live_server.url.rsplit(":", 1)[1]
    env = production_env(PORT=port, ALLOWED_HOSTS="localhost")
    healthcheck = [sys.executable, "scripts/healthcheck.py"]

    assert run(healthcheck, env).returncode == 0

    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    failing = run(healthcheck, env)
    assert failing.returncode == 1
    assert "503" in failing.stderr


# --- demo data -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_creates_each_role_sites_in_the_netherlands_and_a_visit_and_can_run_twice() -> None:
    call_command("seed_demo", stdout=io.StringIO())
    call_command("seed_demo", stdout=io.StringIO())

    project = Project.objects.get()
    roles = set(Membership.objects.filter(project=project).values_list("role", flat=True))
    assert roles == {Role.FIELDWORKER, Role.EXPERT, Role.MANAGER}
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser
    sites = Site.objects.filter(project=project)
    assert sites.count() == 3
    for site in sites:  # inside the Netherlands' bounding box
        assert 50.7 < site.latitude < 53.6 and 3.3 < site.longitude < 7.3, site
    assert Visit.objects.filter(site__project=project).count() == 1
    assert get_user_model().objects.count() == 4


@pytest.mark.django_db
def test_seed_demo_keeps_a_changed_password() -> None:
    call_command("seed_demo", stdout=io.StringIO())
    manager = get_user_model().objects.get(username="manager")
    manager.set_password("my-own-password-123")
    manager.save()

    call_command("seed_demo", stdout=io.StringIO())

    assert get_user_model().objects.get(username="manager").check_password("my-own-password-123")


# --- Dockerfile ------------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def dockerfile_arg_defaults() -> dict[str, str]:
    """Build arguments declared before the first FROM, with their defaults."""
    head = DOCKERFILE.read_text().split("\nFROM ", 1)[0]
    return dict(re.findall(r"^ARG (\w+)=(\S+)", head, re.MULTILINE))


def instructions(stage: list[str], keyword: str) -> list[str]:
    return [line[len(keyword) :].strip() for line in stage if line.upper().startswith(keyword + " ")]


def test_dockerfile_builds_in_a_builder_stage_and_runs_from_a_slim_python_311_stage() -> None:
    stages = dockerfile_stages()

    assert len(stages) >= 2
    assert re.search(r"\bAS builder\b", stages[0][0], re.IGNORECASE)
    runtime = stages[-1]
    arguments = dockerfile_arg_defaults()
    base_image = re.sub(r"\$\{(\w+)\}", lambda m: arguments[m.group(1)], runtime[0].split()[1])
    assert base_image.startswith("python:3.11") and "slim" in base_image
    assert any("--from=builder" in copy for copy in instructions(runtime, "COPY"))
    assert not any("pip install" in command for command in instructions(runtime, "RUN"))


def test_dockerfile_runs_as_a_non_root_user() -> None:
    users = instructions(dockerfile_stages()[-1], "USER")

    assert users, "the runtime stage sets no USER"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerfile_collects_static_files_at_build_time() -> None:
    runs = [run for stage in dockerfile_stages() for run in instructions(stage, "RUN")]

    assert any("manage.py collectstatic --noinput" in command for command in runs)


def test_dockerfile_health_check_asks_healthz() -> None:
    (healthcheck,) = instructions(dockerfile_stages()[-1], "HEALTHCHECK")

    assert "scripts/healthcheck.py" in healthcheck
    assert "/healthz" in (REPO_ROOT / "scripts" / "healthcheck.py").read_text()


def test_dockerfile_starts_gunicorn_through_the_shared_entrypoint() -> None:
    runtime = dockerfile_stages()[-1]

    assert "scripts/entrypoint.sh" in instructions(runtime, "ENTRYPOINT")[-1]
    assert instructions(runtime, "CMD")[-1] == '["web"]'
    web_branch = ENTRYPOINT.read_text().split("web)", 1)[1].split(";;", 1)[0]
    assert "exec gunicorn batsite.wsgi:application" in web_branch


# --- compose.yaml ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_runs_web_worker_redis_and_postgres(compose: dict) -> None:
    assert {"web", "worker", "redis", "postgres"} <= set(compose["services"])


def test_compose_web_and_worker_share_a_media_volume_at_media_root(compose: dict) -> None:
    mounts = {}
    for name in ("web", "worker"):
        service = compose["services"][name]
        media_root = service["environment"]["MEDIA_ROOT"]
        volumes = [v for v in service["volumes"] if isinstance(v, str) and v.endswith(":" + media_root)]
        assert volumes, f"{name} mounts nothing at MEDIA_ROOT={media_root}"
        mounts[name] = volumes[0].split(":")[0]
    assert mounts["web"] == mounts["worker"]
    assert mounts["web"] in compose["volumes"]


def test_compose_worker_can_run_as_many_replicas(compose: dict) -> None:
    worker = compose["services"]["worker"]

    assert "container_name" not in worker and "ports" not in worker
    assert worker.get("deploy", {}).get("replicas", 1) >= 1


def test_compose_points_app_services_at_postgres_and_redis_with_debug_off(compose: dict) -> None:
    for name in ("web", "worker"):
        env = compose["services"][name]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        assert env["DEBUG"] == "false"
        assert "SECRET_KEY:?" in env["SECRET_KEY"], "compose must refuse to start without a SECRET_KEY"


def test_compose_sets_only_variables_the_app_reads(compose: dict) -> None:
    read = (REPO_ROOT / "batsite" / "settings.py").read_text() + ENTRYPOINT.read_text()
    for name in ("web", "worker"):
        for variable in compose["services"][name]["environment"]:
            assert re.search(rf"\b{variable}\b", read), f"{name} sets {variable}, which nothing reads"


def test_compose_app_services_use_the_image_entrypoint_commands(compose: dict) -> None:
    entry_commands = re.findall(r"^\s{4}(\w+)\)", ENTRYPOINT.read_text(), re.MULTILINE)
    for name in ("web", "worker", "worker-training", "beat", "migrate"):
        command = compose["services"][name]["command"]
        assert command[0] in entry_commands, f"{name} runs {command}, not an entrypoint command"


# --- CI runs the same commands ---------------------------------------------------------------------


def test_ci_runs_every_entry_command_the_image_uses_and_then_make_test(compose: dict) -> None:
    ci = CI_RUN.read_text()
    app_services = [name for name, service in compose["services"].items() if "build" in service]
    used = {"web"} | {compose["services"][name]["command"][0] for name in app_services}

    for command in sorted(used | {"check"}):
        assert re.search(rf"scripts/entrypoint\.sh {command}\b", ci), f".ci/run never runs `{command}`"
    assert "manage.py collectstatic --noinput" in ci
    assert re.search(r"^\s*make test\b", ci, re.MULTILINE)
