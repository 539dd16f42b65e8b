"""The profile page: a user makes API tokens (each shown once) and revokes their own."""

from __future__ import annotations

import pytest
from django.urls import reverse

from surveys.models import ApiToken
from surveys.tokens import MAX_LIVE_TOKENS, api_token_create, api_token_user
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_profile_page_lists_the_users_tokens_but_never_a_key(client, fieldworker):
    token, key = api_token_create(user=fieldworker, name="field laptop")
    client.force_login(fieldworker)
    response = client.get(reverse("profile"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "field laptop" in page and token.prefix in page
    assert key not in page


def test_new_token_is_shown_once_and_works(client, fieldworker):
    client.force_login(fieldworker)
    response = client.post(reverse("profile"), {"name": "upload script"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    key = response.context["new_key"]
    assert key in response.content.decode()
    assert api_token_user(key=key) == fieldworker
    assert key not in client.get(reverse("profile")).content.decode()


def test_token_without_a_name_is_refused(client, fieldworker):
    client.force_login(fieldworker)
    response = client.post(reverse("profile"), {"name": ""})
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_a_user_cannot_hold_more_than_the_limit_of_live_tokens(client, fieldworker):
    for n in range(MAX_LIVE_TOKENS):
        api_token_create(user=fieldworker, name=f"t{n}")
    client.force_login(fieldworker)
    response = client.post(reverse("profile"), {"name": "one too many"})
    assert response.status_code == 400
    assert "Revoke one" in response.content.decode()
    assert ApiToken.objects.filter(user=fieldworker).count() == MAX_LIVE_TOKENS


def test_owner_revokes_a_token_and_it_stops_working(client, fieldworker):
    token, key = api_token_create(user=fieldworker, name="old laptop")
    client.force_login(fieldworker)
    response = client.post(reverse("api_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.is_revoked
    assert api_token_user(key=key) is None


def test_revoking_someone_elses_token_is_404_and_changes_nothing(client, fieldworker):
    token, key = api_token_create(user=UserFactory(), name="not yours")
    client.force_login(fieldworker)
    assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    assert api_token_user(key=key) is not None


def test_revoke_needs_post(client, fieldworker):
    token, _key = api_token_create(user=fieldworker, name="x")
    client.force_login(fieldworker)
    assert client.get(reverse("api_token_revoke", args=[token.pk])).status_code == 405


def test_profile_needs_login(client):
    response = client.get(reverse("profile"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]
