"""Every URL pattern of the site, walked as an outsider, a fieldworker, an expert and a manager.

The members belong to one project; every id in a URL names an object of ANOTHER project (or an id that
does not exist). Answers that pass:
- anonymous: a redirect to the login page (the admin: to its own login), 401 from the API;
- members: 404 for another project's objects (also on POST), 403 or the admin's login for staff pages;
- a public page on the allow-list may answer anything but a server error;
- any 200 must not show the other project's data (its names carry a marker), and nothing answers 5xx.
Patterns are read from the resolver at run time, so a new view is walked without editing this file; a
pattern this walker cannot fill fails the test instead of being skipped.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from classifier.models import Analysis, AnalysisJob, ModelVersion, SensitiveSpecies
from surveys.models import Membership, Role
from surveys.tokens import api_token_create
from tests.factories import ProjectFactory, RecordingFactory, SiteFactory, VisitFactory, member

MARKER = "ZQXFOREIGN"  # in every name of the other project's objects: must never show to outsiders
MISSING_ID = 987_654
LOGIN_PATH = "/accounts/login/"
ADMIN_LOGIN_PATH = "/admin/login/"

# Outside login on purpose (ARCHITECTURE.md, Access): answers may be anything but a server error.
PUBLIC_URL_NAMES = {
    "healthz",
    "login",
    "logout",  # POST-only; GET answers 405 to everyone
    "set_language",
    "api-v1:openapi-json",
    "api-v1:openapi-view",
    "api_home",
    "admin:login",  # the admin's own login page (non-staff are sent there)
    "admin:logout",
}
PUBLIC_ROUTES = {"api/v1/", "^api/(?P<rest>.*)$"}  # the API's redirect to its docs; its JSON 404


@dataclass(frozen=True)
class Pattern:
    route: str  # the full route, prefixes joined, e.g. "projects/<int:project_id>/"
    name: str | None  # with namespace, e.g. "api-v1:visit_upload"

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/v1/") and not self.is_public

    @property
    def is_admin(self) -> bool:
        return self.route.startswith("admin/")

    @property
    def is_staff_only(self) -> bool:
        return self.route.startswith("staff/")

    @property
    def is_public(self) -> bool:
        return self.name in PUBLIC_URL_NAMES or self.route in PUBLIC_ROUTES

    @property
    def has_params(self) -> bool:
        return "<" in self.route or "(?P" in self.route


def url_patterns(resolver: URLResolver | None = None, prefix: str = "", namespace: str = "") -> Iterator[Pattern]:
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from url_patterns(entry, route, inner)
        elif isinstance(entry, URLPattern):
            yield Pattern(route, f"{namespace}{entry.name}" if entry.name else None)


_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^)]*)\)")


def fill(pattern: Pattern, ids: dict[str, str]) -> str:
    """A concrete path for `pattern`, every parameter taken from `ids` (by name)."""

    def param(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in ids:
            raise KeyError(f"no value for <{name}> in {pattern.route}")
        return ids[name]

    def regex_group(match: re.Match[str]) -> str:
        body = match.group("body")
        if "|" in body and re.fullmatch(r"[\w|]+", body):
            return body.split("|")[0]  # e.g. the admin's app_label alternatives
        return ids.get(match.group("name"), "nothing-here")

    route = _PARAM.sub(param, pattern.route)
    route = _REGEX_GROUP.sub(regex_group, route)
    route = route.replace("^", "").replace("$", "").replace("\\", "")
    return "/" + route


@dataclass
class World:
    foreign_ids: dict[str, str]
    missing_ids: dict[str, str]
    users: dict[str, object]
    tokens: dict[str, str]


@pytest.fixture
def world(db, media_root) -> World:
    own = ProjectFactory(name="Own project")
    SiteFactory(project=own, name="Own site")
    users = {role: member(own, role) for role in (Role.FIELDWORKER, Role.EXPERT, Role.MANAGER)}

    foreign = ProjectFactory(name=f"{MARKER} project")
    site = SiteFactory(project=foreign, name=f"{MARKER} site", code="ZQX1")
    visit = VisitFactory(site=site)
    recording = RecordingFactory(visit=visit, original_name=f"{MARKER}.wav")
    outsider_member = member(foreign, Role.MANAGER, username=f"{MARKER.lower()}-user")
    membership = Membership.objects.get(user=outsider_member, project=foreign)
    version = ModelVersion.objects.create(name=f"{MARKER}-model", sha256="0" * 64)
    analysis = Analysis.objects.create(recording=recording, model_version=version)
    token, _key = api_token_create(user=outsider_member, name=MARKER)
    job = AnalysisJob.objects.create(id=uuid.uuid4(), user=outsider_member, original_name=f"{MARKER}.wav")
    sensitive = SensitiveSpecies.objects.create(project=foreign, species="Nyctalus noctula")

    foreign_ids = {
        "project_id": foreign.pk, "site_id": site.pk, "visit_id": visit.pk, "recording_id": recording.pk,
        "membership_id": membership.pk, "analysis_id": analysis.pk, "token_id": token.pk,
        "version_id": version.pk, "run_id": MISSING_ID, "job_id": MISSING_ID,
        "sensitive_species_id": sensitive.pk,
        "content_type_id": 1, "object_id": 1, "id": 1, "app_label": "surveys", "url": "nothing-here",
        "rest": "nothing-here",
    }  # fmt: skip
    missing_ids = {name: MISSING_ID for name in foreign_ids}
    missing_ids.update(app_label="surveys", url="nothing-here", rest="nothing-here")
    as_text = lambda ids: {k: str(v) for k, v in ids.items()}  # noqa: E731
    foreign_text, missing_text = as_text(foreign_ids), as_text(missing_ids)
    foreign_text["api_job_id"], missing_text["api_job_id"] = str(job.pk), str(uuid.UUID(int=MISSING_ID))
    tokens = {role: api_token_create(user=user, name="walk")[1] for role, user in users.items()}
    return World(foreign_text, missing_text, users, tokens)


def ids_for(pattern: Pattern, ids: dict[str, str]) -> dict[str, str]:
    # The API's analysis jobs are UUIDs; the staff pages' import jobs are integers.
    return {**ids, "job_id": ids["api_job_id"]} if pattern.is_api else ids


def body_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def verdict(pattern: Pattern, method: str, response, *, role: str | None) -> str | None:
    """None when the answer is right, else what is wrong with it."""
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if status == 200 and MARKER.encode() in body_of(response):
        return "200 showing the other project's data"
    if pattern.is_public:
        return None
    location = response.get("Location", "")
    if status == 405:
        return None  # a wrong method is refused before any lookup: it shows and changes nothing
    if role is None:  # anonymous
        if pattern.is_api:
            return None if status == 401 else f"{status}, expected 401"
        if pattern.is_admin:
            return None if status == 302 and ADMIN_LOGIN_PATH in location else f"{status} {location}"
        if status == 302 and location.startswith(LOGIN_PATH):
            return None
        return f"{status} {location}, expected a redirect to {LOGIN_PATH}"
    if pattern.is_admin:
        return None if status == 302 and ADMIN_LOGIN_PATH in location else f"{status} {location}"
    if pattern.is_staff_only:
        return None if status == 403 else f"{status}, expected 403 on a staff page"
    allowed = {404}
    if pattern.is_api and method == "POST":
        # An empty body is refused before the lookup (400/422) and shows nothing; the lookups behind these
        # endpoints get valid bodies in test_api_posts_with_valid_bodies_to_foreign_objects_answer_404.
        allowed |= {400, 422}
    if pattern.has_params:
        return None if status in allowed else f"{status}, expected 404 for another project's object"
    return None if status in (200, 302, 400, 403, 404, 422) else f"unexpected {status}"


def walk(world: World, *, role: str | None, ids_name: str) -> list[str]:
    client = Client()
    token = None
    if role is not None:
        client.force_login(world.users[role])
        token = world.tokens[role]
    ids = world.foreign_ids if ids_name == "foreign" else world.missing_ids
    problems: list[str] = []
    for pattern in url_patterns():
        try:
            path = fill(pattern, ids_for(pattern, ids))
        except KeyError as error:
            problems.append(f"{pattern.route}: cannot fill ({error})")
            continue
        headers = {"Authorization": f"Bearer {token}"} if (pattern.is_api and token) else {}
        methods = ("GET", "POST") if (pattern.has_params or role is None) else ("GET",)
        for method in methods:
            if method == "GET":
                response = client.get(path, headers=headers)
            else:
                response = client.post(path, {}, headers=headers)
            problem = verdict(pattern, method, response, role=role)
            if problem:
                problems.append(f"{method} {path} ({pattern.name}) as {role or 'anonymous'}: {problem}")
    return problems


@pytest.mark.parametrize("ids_name", ["foreign", "missing"])
@pytest.mark.parametrize("role", [None, Role.FIELDWORKER, Role.EXPERT, Role.MANAGER], ids=["anonymous", "fieldworker", "expert", "manager"])  # fmt: skip
def test_every_url_answers_outsiders_without_foreign_data_or_server_errors(world, role, ids_name):
    problems = walk(world, role=role, ids_name=ids_name)
    assert not problems, "\n".join(problems)


def test_the_walk_covers_the_site_and_the_api():
    routes = {p.route for p in url_patterns()}
    names = {p.name for p in url_patterns()}
    assert "visits/<int:visit_id>/upload/" in routes
    assert "api-v1:visit_upload" in names, "the API's upload endpoint is walked"
    assert len(routes) > 60


def test_filled_paths_resolve_to_their_own_pattern(world):
    from django.urls import resolve

    for pattern in url_patterns():
        if pattern.name and not pattern.is_admin:
            match = resolve(fill(pattern, ids_for(pattern, world.foreign_ids)))
            assert match.route == pattern.route, (pattern.route, match.route)


def test_the_walkers_are_plain_members_never_staff(world):
    # otherwise the staff-page checks would prove nothing
    assert not get_user_model().objects.filter(pk__in=[u.pk for u in world.users.values()], is_staff=True).exists()


@pytest.mark.parametrize("ids_name", ["foreign", "missing"])
def test_api_posts_with_valid_bodies_to_foreign_objects_answer_404(world, ids_name):
    ids = world.foreign_ids if ids_name == "foreign" else world.missing_ids
    headers = {"Authorization": f"Bearer {world.tokens[Role.MANAGER]}"}
    client = Client()
    posts = {
        f"/api/v1/sites/{ids['site_id']}/visits": {"night": "2025-06-12"},
        f"/api/v1/projects/{ids['project_id']}/recordings/lookup": {"sha256": ["0" * 64]},
    }
    for path, payload in posts.items():
        response = client.post(path, payload, content_type="application/json", headers=headers)
        assert response.status_code == 404, (path, response.content)
        assert MARKER.encode() not in response.content
