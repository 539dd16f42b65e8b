"""Membership management: managers add people, change roles and remove them; nobody else may."""

from __future__ import annotations

import pytest
from django.urls import reverse

from surveys.models import Membership, Role
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    return ProjectFactory()


@pytest.fixture
def manager(project):
    return member(project, Role.MANAGER, username="manon")


@pytest.fixture
def fieldworker_membership(project):
    return MembershipFactory(project=project, role=Role.FIELDWORKER, user=UserFactory(username="fenna"))


def test_members_page_lists_members_with_roles(client, project, manager, fieldworker_membership):
    client.force_login(manager)
    response = client.get(reverse("project_members", args=[project.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "manon" in page and "fenna" in page
    assert 'hx-post="' + reverse("membership_update", args=[project.pk, fieldworker_membership.pk]) in page


def test_members_page_fragment_for_htmx(client, project, manager):
    client.force_login(manager)
    response = client.get(reverse("project_members", args=[project.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section id="members"') and "<html" not in fragment


def test_manager_adds_a_member_by_username(client, project, manager):
    newcomer = UserFactory(username="noor")
    client.force_login(manager)
    response = client.post(
        reverse("project_members", args=[project.pk]), {"username": "noor", "role": Role.EXPERT}
    )
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=newcomer).role == Role.EXPERT


def test_adding_an_unknown_or_existing_member_answers_400_with_a_message(client, project, manager):
    client.force_login(manager)
    url = reverse("project_members", args=[project.pk])
    response = client.post(url, {"username": "ghost", "role": Role.EXPERT})
    assert response.status_code == 400 and "No active user called ghost." in response.content.decode()
    response = client.post(url, {"username": "manon", "role": Role.EXPERT})
    assert (
        response.status_code == 400
        and "manon is already a member of this project." in response.content.decode()
    )
    assert Membership.objects.filter(project=project).count() == 1


def test_manager_changes_a_role_through_htmx(client, project, manager, fieldworker_membership):
    client.force_login(manager)
    response = client.post(
        reverse("membership_update", args=[project.pk, fieldworker_membership.pk]),
        {"role": Role.EXPERT},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<section id="members"')
    assert "fenna is now expert." in response.content.decode()
    fieldworker_membership.refresh_from_db()
    assert fieldworker_membership.role == Role.EXPERT


def test_role_change_without_htmx_redirects_back(client, project, manager, fieldworker_membership):
    client.force_login(manager)
    response = client.post(
        reverse("membership_update", args=[project.pk, fieldworker_membership.pk]), {"role": Role.MANAGER}
    )
    assert response.status_code == 302 and response["Location"] == reverse(
        "project_members", args=[project.pk]
    )
    fieldworker_membership.refresh_from_db()
    assert fieldworker_membership.role == Role.MANAGER


def test_last_manager_can_neither_be_demoted_nor_removed(client, project, manager):
    own = Membership.objects.get(user=manager, project=project)
    client.force_login(manager)
    client.post(reverse("membership_update", args=[project.pk, own.pk]), {"role": Role.FIELDWORKER})
    client.post(reverse("membership_delete", args=[project.pk, own.pk]))
    own.refresh_from_db()
    assert own.role == Role.MANAGER
    page = client.get(reverse("project_members", args=[project.pk])).content.decode()
    assert "A project needs at least one manager" in page


def test_manager_removes_a_member(client, project, manager, fieldworker_membership):
    client.force_login(manager)
    response = client.post(
        reverse("membership_delete", args=[project.pk, fieldworker_membership.pk]),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "fenna removed from the project." in response.content.decode()
    assert not Membership.objects.filter(pk=fieldworker_membership.pk).exists()


def test_fieldworker_and_expert_are_refused_member_management(client, project, fieldworker_membership):
    expert = member(project, Role.EXPERT)
    for user in (fieldworker_membership.user, expert):
        client.force_login(user)
        assert client.get(reverse("project_members", args=[project.pk])).status_code == 403
        assert (
            client.post(
                reverse("project_members", args=[project.pk]), {"username": user.username}
            ).status_code
            == 403
        )
        update = reverse("membership_update", args=[project.pk, fieldworker_membership.pk])
        assert client.post(update, {"role": Role.MANAGER}).status_code == 403
        assert (
            client.post(
                reverse("membership_delete", args=[project.pk, fieldworker_membership.pk])
            ).status_code
            == 403
        )
    fieldworker_membership.refresh_from_db()
    assert fieldworker_membership.role == Role.FIELDWORKER


def test_outsider_gets_404(client, project, fieldworker_membership):
    client.force_login(UserFactory())
    assert client.get(reverse("project_members", args=[project.pk])).status_code == 404
    assert (
        client.post(reverse("membership_delete", args=[project.pk, fieldworker_membership.pk])).status_code
        == 404
    )
    assert Membership.objects.filter(pk=fieldworker_membership.pk).exists()


def test_membership_of_another_project_answers_404_even_to_a_manager(client, project, manager):
    other = MembershipFactory(role=Role.FIELDWORKER)
    client.force_login(manager)
    assert client.post(reverse("membership_delete", args=[project.pk, other.pk])).status_code == 404
    assert (
        client.post(
            reverse("membership_update", args=[project.pk, other.pk]), {"role": "manager"}
        ).status_code
        == 404
    )
    other.refresh_from_db()
    assert other.role == Role.FIELDWORKER


def test_membership_views_refuse_get_and_members_page_refuses_put(
    client, project, manager, fieldworker_membership
):
    client.force_login(manager)
    assert (
        client.get(reverse("membership_update", args=[project.pk, fieldworker_membership.pk])).status_code
        == 405
    )
    assert (
        client.get(reverse("membership_delete", args=[project.pk, fieldworker_membership.pk])).status_code
        == 405
    )
    assert client.put(reverse("project_members", args=[project.pk])).status_code == 405
