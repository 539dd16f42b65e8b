"""Site pages: detail for every member, create and edit for managers."""

from __future__ import annotations

import pytest
from django.urls import reverse

from surveys.models import Role, Site
from tests.factories import ProjectFactory, SiteFactory, UserFactory, VisitFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def site():
    return SiteFactory(code="KW02", name="Kasteel Wijk", habitat="castle moat")


def _site_form(**overrides):
    data = {
        "code": "NB03",
        "name": "Nieuwe brug",
        "latitude": "52.1",
        "longitude": "5.2",
        "time_zone": "Europe/Amsterdam",
        "habitat": "",
        "notes": "",
    }
    data.update(overrides)
    return data


def test_site_page_lists_visits_and_flags_nights_without_recordings(client, site):
    VisitFactory(site=site, observers="Ria en Sem")
    client.force_login(member(site.project, Role.FIELDWORKER))
    response = client.get(reverse("site_detail", args=[site.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Kasteel Wijk" in page and "castle moat" in page and "Ria en Sem" in page
    assert "no recordings" in page
    assert reverse("visit_create", args=[site.pk]) in page  # every member adds visits
    assert reverse("site_edit", args=[site.pk]) not in page


def test_outsider_gets_404_for_a_site(client, site):
    client.force_login(UserFactory())
    assert client.get(reverse("site_detail", args=[site.pk])).status_code == 404


def test_site_page_refuses_post(client, site):
    client.force_login(member(site.project))
    assert client.post(reverse("site_detail", args=[site.pk])).status_code == 405


def test_manager_creates_a_site_with_the_default_time_zone_offered(client, site):
    project = site.project
    client.force_login(member(project, Role.MANAGER))
    form_page = client.get(reverse("site_create", args=[project.pk]))
    assert form_page.status_code == 200
    assert '<option value="Europe/Amsterdam" selected>' in form_page.content.decode()
    response = client.post(reverse("site_create", args=[project.pk]), _site_form())
    created = Site.objects.get(code="NB03")
    assert response.status_code == 302 and response["Location"] == reverse("site_detail", args=[created.pk])
    assert created.project == project and created.latitude == 52.1


def test_site_code_must_be_unique_within_the_project(client, site):
    client.force_login(member(site.project, Role.MANAGER))
    response = client.post(reverse("site_create", args=[site.project.pk]), _site_form(code="kw02"))
    assert response.status_code == 400
    assert "This project already has a site with code kw02." in response.content.decode()
    assert Site.objects.count() == 1


def test_same_site_code_is_fine_in_another_project(client, site):
    other = ProjectFactory()
    client.force_login(member(other, Role.MANAGER))
    assert client.post(reverse("site_create", args=[other.pk]), _site_form(code="KW02")).status_code == 302


def test_site_form_rejects_bad_coordinates_and_unknown_time_zone(client, site):
    client.force_login(member(site.project, Role.MANAGER))
    response = client.post(
        reverse("site_create", args=[site.project.pk]), _site_form(latitude="95", time_zone="Mars/Olympus")
    )
    assert response.status_code == 400
    assert Site.objects.count() == 1


def test_fieldworker_is_refused_creating_and_editing_sites(client, site):
    client.force_login(member(site.project, Role.FIELDWORKER))
    assert client.get(reverse("site_create", args=[site.project.pk])).status_code == 403
    assert client.post(reverse("site_create", args=[site.project.pk]), _site_form()).status_code == 403
    assert client.post(reverse("site_edit", args=[site.pk]), _site_form(name="Renamed")).status_code == 403
    site.refresh_from_db()
    assert site.name == "Kasteel Wijk" and Site.objects.count() == 1


def test_manager_edits_a_site(client, site):
    client.force_login(member(site.project, Role.MANAGER))
    assert client.get(reverse("site_edit", args=[site.pk])).status_code == 200
    response = client.post(
        reverse("site_edit", args=[site.pk]), _site_form(code="KW02", name="Kasteel Wijk (gracht)")
    )
    assert response.status_code == 302
    site.refresh_from_db()
    assert site.name == "Kasteel Wijk (gracht)"


def test_outsider_gets_404_for_site_create_and_edit(client, site):
    client.force_login(UserFactory())
    assert client.get(reverse("site_create", args=[site.project.pk])).status_code == 404
    assert client.get(reverse("site_edit", args=[site.pk])).status_code == 404


def test_site_forms_refuse_put(client, site):
    client.force_login(member(site.project, Role.MANAGER))
    assert client.put(reverse("site_create", args=[site.project.pk])).status_code == 405
    assert client.put(reverse("site_edit", args=[site.pk])).status_code == 405
