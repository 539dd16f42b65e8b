"""Dashboard, login and logout."""

from __future__ import annotations

import pytest
from django.urls import reverse

from surveys.models import RecordingStatus, Role
from tests.factories import TEST_PASSWORD, ProjectFactory, RecordingFactory, UserFactory, VisitFactory, member

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


def test_dashboard_shows_my_projects_recent_visits_and_waiting_count(client):
    mine = VisitFactory(site__project__name="Kromme Rijn", site__code="KR01")
    RecordingFactory(visit=mine, status=RecordingStatus.UPLOADED)
    RecordingFactory(visit=mine, status=RecordingStatus.UPLOADED)
    RecordingFactory(visit=mine, status=RecordingStatus.INGESTED)
    foreign = VisitFactory(site__project__name="Someone else's", site__code="XX99")
    RecordingFactory(visit=foreign, status=RecordingStatus.UPLOADED)
    client.force_login(member(mine.site.project, Role.FIELDWORKER))

    response = client.get(reverse("dashboard"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Kromme Rijn" in page and "KR01" in page
    assert "Someone else" not in page and "XX99" not in page
    assert response.context["waiting_count"] == 2
    assert "recordings waiting to be processed" in page


def test_dashboard_tells_a_user_without_projects_what_to_do(client):
    client.force_login(UserFactory())
    assert "Ask a project manager to add you." in client.get(reverse("dashboard")).content.decode()


def test_staff_see_every_project_and_the_admin_link(client):
    ProjectFactory(name="Alpha survey")
    client.force_login(UserFactory(is_staff=True))
    page = client.get(reverse("dashboard")).content.decode()
    assert "Alpha survey" in page and reverse("admin:index") in page and reverse("project_create") in page


def test_dashboard_hides_admin_link_from_members(client):
    client.force_login(member(ProjectFactory(), Role.MANAGER))
    assert reverse("admin:index") not in client.get(reverse("dashboard")).content.decode()


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_dashboard_refuses_post(client):
    client.force_login(UserFactory())
    assert client.post(reverse("dashboard")).status_code == 405


def test_page_carries_csrf_token_for_htmx_and_loads_htmx_from_our_static_files(client):
    client.force_login(UserFactory())
    page = client.get(reverse("dashboard")).content.decode()
    assert """hx-headers='{"X-CSRFToken": \"""" in page
    assert "/static/vendor/htmx-2.0.11.min.js" in page
    assert "//unpkg.com" not in page and "cdn" not in page.lower()


def test_login_page_renders_and_logs_in(client):
    user = UserFactory(username="ans")
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "ans", "password": TEST_PASSWORD})
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert client.get(reverse("dashboard")).context["user"] == user


def test_login_with_a_wrong_password_shows_a_message(client):
    UserFactory(username="ans")
    response = client.post(reverse("login"), {"username": "ans", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()


def test_logout_is_a_post_button_and_ends_the_session(client):
    client.force_login(UserFactory())
    page = client.get(reverse("dashboard")).content.decode()
    assert f'action="{reverse("logout")}" method="post"' in page
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 302
