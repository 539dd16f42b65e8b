"""Deleting a project: managers only, after typing its name; soft (rows and files stay), staff restore it."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from surveys.models import Project, Recording, Role
from tests.factories import ProjectFactory, RecordingFactory, SiteFactory, UserFactory, VisitFactory, member
from tests.surveys.conftest import make_wav, upload_file

pytestmark = pytest.mark.django_db

NAME = "Vechtplassen 2025"


@pytest.fixture
def project(media_root):
    return ProjectFactory(name=NAME)


@pytest.fixture
def recording(project):
    return RecordingFactory(visit=VisitFactory(site=SiteFactory(project=project, name="Oostelijke oever")))


@pytest.fixture
def manager(project):
    return member(project, Role.MANAGER)


def _url(project: Project) -> str:
    return reverse("project_delete", args=[project.pk])


def _delete(client, project: Project, name: str):
    return client.post(_url(project), {"name": name})


# --------------------------------------------------------------------------------------------------- the page


def test_manager_gets_the_confirmation_page_asking_for_the_name(client, project, manager, recording, english):
    client.force_login(manager)

    response = client.get(_url(project))

    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page
    assert f"Delete {NAME}" in page
    assert "To confirm, type the project's name" in page and f"<strong>{NAME}</strong>" in page
    assert 'name="name"' in page
    assert "Its 1 recording" in page and "is kept on the server" in page
    Project.objects.get(pk=project.pk, deleted_at__isnull=True)  # looking changes nothing


@pytest.mark.parametrize("role", [Role.FIELDWORKER, Role.EXPERT])
def test_members_below_manager_get_403_and_cannot_delete(client, project, role):
    client.force_login(member(project, role))

    assert client.get(_url(project)).status_code == 403
    assert _delete(client, project, NAME).status_code == 403

    project.refresh_from_db()
    assert project.deleted_at is None


def test_outsider_gets_404_and_cannot_delete(client, project):
    client.force_login(member(ProjectFactory(), Role.MANAGER))  # a manager, but of another project

    assert client.get(_url(project)).status_code == 404
    assert _delete(client, project, NAME).status_code == 404

    project.refresh_from_db()
    assert project.deleted_at is None


def test_anonymous_is_sent_to_the_login_page(client, project):
    response = _delete(client, project, NAME)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    project.refresh_from_db()
    assert project.deleted_at is None


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_methods_get_405(client, project, manager, method):
    client.force_login(manager)

    assert getattr(client, method)(_url(project)).status_code == 405
    project.refresh_from_db()
    assert project.deleted_at is None


def test_project_page_and_edit_page_link_managers_to_the_delete_page(client, project, manager):
    client.force_login(manager)

    assert _url(project) in client.get(reverse("project_detail", args=[project.pk])).content.decode()
    assert _url(project) in client.get(reverse("project_edit", args=[project.pk])).content.decode()


@pytest.mark.parametrize("role", [Role.FIELDWORKER, Role.EXPERT])
def test_project_page_has_no_delete_link_for_other_members(client, project, role):
    client.force_login(member(project, role))

    assert _url(project) not in client.get(reverse("project_detail", args=[project.pk])).content.decode()


# ------------------------------------------------------------------------------------------------- confirming


def test_the_right_name_deletes_softly_and_goes_to_the_project_list(
    client, project, manager, recording, english
):
    client.force_login(manager)

    response = _delete(client, project, NAME)

    assert response.status_code == 302
    assert response["Location"] == reverse("project_list")
    project.refresh_from_db()
    assert project.deleted_at is not None
    assert project.deleted_by == manager
    listing = client.get(reverse("project_list")).content.decode()
    assert f"Project {NAME} deleted." in listing  # the message, once
    assert reverse("project_detail", args=[project.pk]) not in listing
    # Soft: the rows and the stored file are all still there.
    assert Recording.objects.filter(pk=recording.pk).exists()
    assert Path(recording.file.path).is_file()


def test_surrounding_spaces_in_the_typed_name_are_forgiven(client, project, manager):
    client.force_login(manager)

    assert _delete(client, project, f"  {NAME} ").status_code == 302
    project.refresh_from_db()
    assert project.is_deleted


@pytest.mark.parametrize("typed", ["", "vechtplassen 2025", "Vechtplassen", "Another project"])
def test_a_wrong_name_shows_the_form_again_with_an_error_and_deletes_nothing(
    client, project, manager, typed, english
):
    client.force_login(manager)

    response = _delete(client, project, typed)

    assert response.status_code == 400
    page = response.content.decode()
    assert "<form" in page and 'name="name"' in page
    if typed:
        assert f"That is not this project&#x27;s name. Type {NAME} exactly to delete it." in page
    else:
        assert "This field is required." in page
    project.refresh_from_db()
    assert project.deleted_at is None and project.deleted_by is None


def test_a_post_without_the_field_is_refused_with_400(client, project, manager):
    client.force_login(manager)

    assert client.post(_url(project), {}).status_code == 400
    project.refresh_from_db()
    assert project.deleted_at is None


def test_staff_may_delete_any_project(client, project):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)

    assert _delete(client, project, NAME).status_code == 302
    project.refresh_from_db()
    assert project.deleted_by == staff


def test_deleting_twice_keeps_who_deleted_it_first(project, manager):
    project.mark_deleted(by=manager)
    first = project.deleted_at

    project.mark_deleted(by=UserFactory())

    project.refresh_from_db()
    assert (project.deleted_at, project.deleted_by) == (first, manager)


# --------------------------------------------------------------------------------------------- after deleting


def test_a_deleted_project_vanishes_from_every_page_of_its_members(client, project, manager, recording):
    fieldworker = member(project, Role.FIELDWORKER)
    site, visit = recording.visit.site, recording.visit
    project.mark_deleted(by=manager)

    for user in (manager, fieldworker):
        client.force_login(user)
        assert NAME not in client.get(reverse("project_list")).content.decode()
        assert NAME not in client.get(reverse("dashboard")).content.decode()
        for name, pk in [
            ("project_detail", project.pk),
            ("project_edit", project.pk),
            ("project_delete", project.pk),
            ("project_members", project.pk),
            ("site_detail", site.pk),
            ("visit_detail", visit.pk),
            ("recording_detail", recording.pk),
            ("recording_download", recording.pk),
        ]:
            assert client.get(reverse(name, args=[pk])).status_code == 404, name
    assert _delete(client, project, NAME).status_code == 404


def test_an_upload_to_a_deleted_projects_visit_gets_404_and_stores_nothing(
    client, project, manager, recording, media_root
):
    visit = recording.visit
    project.mark_deleted(by=manager)
    client.force_login(manager)
    before = set(media_root.rglob("*.wav"))

    response = client.post(
        reverse("visit_upload", args=[visit.pk]), {"files": [upload_file("a.wav", make_wav())]}
    )

    assert response.status_code == 404
    assert Recording.objects.count() == 1
    assert set(media_root.rglob("*.wav")) == before


# -------------------------------------------------------------------------------------------------- restoring


@pytest.fixture
def admin_client_logged_in(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_staff_see_deleted_projects_in_the_admin_and_restore_them(
    admin_client_logged_in, project, manager, english
):
    project.mark_deleted(by=manager)
    changelist = reverse("admin:surveys_project_changelist")

    listing = admin_client_logged_in.get(changelist, {"deleted": "yes"}).content.decode()
    assert NAME in listing

    response = admin_client_logged_in.post(
        changelist, {"action": "restore", ACTION_CHECKBOX_NAME: [project.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "1 project restored." in response.content.decode()
    project.refresh_from_db()
    assert project.deleted_at is None and project.deleted_by is None
    assert Project.objects.for_user(manager).filter(pk=project.pk).exists()


def test_restoring_a_live_project_changes_nothing(admin_client_logged_in, project, english):
    changelist = reverse("admin:surveys_project_changelist")

    response = admin_client_logged_in.post(
        changelist, {"action": "restore", ACTION_CHECKBOX_NAME: [project.pk]}, follow=True
    )

    assert "0 projects restored." in response.content.decode()


def test_the_admin_offers_no_hard_delete_of_projects(admin_client_logged_in, project):
    # A hard delete would drop the recording rows and leave their files on disk with nothing pointing at them.
    page = admin_client_logged_in.get(reverse("admin:surveys_project_changelist")).content.decode()
    assert "delete_selected" not in page
    response = admin_client_logged_in.post(
        reverse("admin:surveys_project_delete", args=[project.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()
