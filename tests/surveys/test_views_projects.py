"""Project pages: list, detail, edit (managers), create (staff)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from surveys.models import Membership, Project, Role
from tests.factories import ProjectFactory, SiteFactory, UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return ProjectFactory(name="Vechtplassen", description="Water-rich survey area")


def test_project_list_shows_only_my_projects(client, project):
    ProjectFactory(name="Not mine")
    client.force_login(member(project))
    response = client.get(reverse("project_list"))
    assert response.status_code == 200
    assert "Vechtplassen" in response.content.decode() and "Not mine" not in response.content.decode()


def test_project_list_refuses_post(client, project):
    client.force_login(member(project))
    assert client.post(reverse("project_list")).status_code == 405


def test_project_page_lists_sites(client, project):
    SiteFactory(project=project, code="VP01", name="Oostelijke oever")
    client.force_login(member(project, Role.FIELDWORKER))
    response = client.get(reverse("project_detail", args=[project.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "VP01" in page and "Oostelijke oever" in page
    assert reverse("site_create", args=[project.pk]) not in page  # fieldworkers do not add sites
    assert reverse("project_members", args=[project.pk]) not in page


def test_project_page_offers_managers_sites_members_and_edit(client, project):
    client.force_login(member(project, Role.MANAGER))
    page = client.get(reverse("project_detail", args=[project.pk])).content.decode()
    for url in ("site_create", "project_members", "project_edit"):
        assert reverse(url, args=[project.pk]) in page


def test_outsider_gets_404_for_a_project(client, project):
    client.force_login(UserFactory())
    assert client.get(reverse("project_detail", args=[project.pk])).status_code == 404


def test_deleted_project_answers_404_even_to_its_members(client, project):
    user = member(project, Role.MANAGER)
    project.deleted_at = project.created_at
    project.save()
    client.force_login(user)
    assert client.get(reverse("project_detail", args=[project.pk])).status_code == 404


def test_project_page_refuses_post(client, project):
    client.force_login(member(project))
    assert client.post(reverse("project_detail", args=[project.pk])).status_code == 405


def test_manager_edits_project(client, project):
    client.force_login(member(project, Role.MANAGER))
    url = reverse("project_edit", args=[project.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"name": "Vechtplassen 2025", "description": ""})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.name == "Vechtplassen 2025"


def test_expert_is_refused_editing_the_project(client, project):
    client.force_login(member(project, Role.EXPERT))
    assert client.get(reverse("project_edit", args=[project.pk])).status_code == 403
    assert client.post(reverse("project_edit", args=[project.pk]), {"name": "Hijacked"}).status_code == 403
    project.refresh_from_db()
    assert project.name == "Vechtplassen"


def test_outsider_gets_404_for_project_edit(client, project):
    client.force_login(UserFactory())
    assert client.get(reverse("project_edit", args=[project.pk])).status_code == 404


def test_project_edit_refuses_put(client, project):
    client.force_login(member(project, Role.MANAGER))
    assert client.put(reverse("project_edit", args=[project.pk])).status_code == 405


def test_staff_create_a_project_and_name_its_managers(client):
    staff = UserFactory(is_staff=True)
    anna, bert = UserFactory(username="anna"), UserFactory(username="bert")
    client.force_login(staff)
    assert client.get(reverse("project_create")).status_code == 200
    response = client.post(
        reverse("project_create"), {"name": "Nieuw", "description": "", "managers": "anna, bert"}
    )
    project = Project.objects.get(name="Nieuw")
    assert response.status_code == 302 and response["Location"] == reverse(
        "project_detail", args=[project.pk]
    )
    assert project.created_by == staff
    assert {(m.user, m.role) for m in Membership.objects.filter(project=project)} == {
        (anna, Role.MANAGER),
        (bert, Role.MANAGER),
    }


def test_project_create_names_unknown_managers_and_saves_nothing(client):
    client.force_login(UserFactory(is_staff=True))
    response = client.post(reverse("project_create"), {"name": "Nieuw", "managers": "nobody"})
    assert response.status_code == 400
    assert "No active user called nobody." in response.content.decode()
    assert not Project.objects.filter(name="Nieuw").exists()


def test_non_staff_manager_is_refused_creating_projects(client, project):
    client.force_login(member(project, Role.MANAGER))
    assert client.get(reverse("project_create")).status_code == 403
    assert client.post(reverse("project_create"), {"name": "Mine now"}).status_code == 403
    assert not Project.objects.filter(name="Mine now").exists()


def test_project_create_refuses_delete(client):
    client.force_login(UserFactory(is_staff=True))
    assert client.delete(reverse("project_create")).status_code == 405
