"""The map of a project's sites: markers in the page (HTML and JSON), Leaflet from our static files."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from surveys.models import Role
from tests.factories import ProjectFactory, SiteFactory, member

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def project(db):
    project = ProjectFactory(name="Kromme Rijn 2025")
    SiteFactory(project=project, code="KR01", name="Rietveld <brug>", latitude=52.0907, longitude=5.1214)
    SiteFactory(project=project, code="KR02", name="Amelisweerd", latitude=52.0781, longitude=5.1552)
    return project


def url(project) -> str:
    return reverse("project_map", args=[project.pk])


def markers(page: str) -> list[dict]:
    start = page.index('<script id="site-markers-data" type="application/json">') + len(
        '<script id="site-markers-data" type="application/json">'
    )
    return json.loads(page[start : page.index("</script>", start)])


def test_map_page_carries_a_marker_per_site_and_leaflet_from_static_files(client, project, settings):
    settings.MAP_TILE_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
    client.force_login(member(project, Role.FIELDWORKER))

    response = client.get(url(project))

    page = response.content.decode()
    assert response.status_code == 200 and "<html" in page
    found = {m["code"]: m for m in markers(page)}
    assert set(found) == {"KR01", "KR02"}
    assert found["KR01"]["name"] == "Rietveld <brug>" and found["KR01"]["lat"] == pytest.approx(52.0907)
    assert found["KR02"]["url"] == reverse("site_detail", args=[found["KR02"]["id"]])
    assert 'data-site-code="KR01"' in page and "Rietveld &lt;brug&gt;" in page  # the list beside the map
    assert "/static/vendor/leaflet/leaflet.js" in page and "/static/vendor/leaflet/leaflet.css" in page
    assert 'data-tile-url="https://tiles.example.org/{z}/{x}/{y}.png"' in page
    assert "unpkg.com" not in page and "cdn" not in page.lower()


def test_project_page_fragment_is_the_map_only(client, project):
    client.force_login(member(project, Role.FIELDWORKER))

    page = client.get(url(project), **HTMX).content.decode()

    assert "<html" not in page and page.lstrip().startswith('<section id="project-map"')
    assert len(markers(page)) == 2


def test_a_project_without_sites_says_so(client):
    project = ProjectFactory()
    client.force_login(member(project, Role.MANAGER))

    page = client.get(url(project), **HTMX).content.decode()

    assert "No sites yet." in page and "site-markers-data" not in page


def test_outsider_gets_404(client, project):
    client.force_login(member(ProjectFactory(), Role.MANAGER))
    assert client.get(url(project)).status_code == 404


def test_map_answers_only_get(client, project):
    client.force_login(member(project, Role.FIELDWORKER))
    assert client.post(url(project)).status_code == 405


def test_leaflet_and_the_map_script_are_in_the_static_files():
    from django.contrib.staticfiles import finders

    for name in (
        "vendor/leaflet/leaflet.js",
        "vendor/leaflet/leaflet.css",
        "vendor/leaflet/images/marker-icon.png",
        "vendor/leaflet/images/marker-shadow.png",
        "js/site_map.js",
        "js/player.js",
    ):
        assert finders.find(name), name
