"""Token auth: every operation needs a live token of an active user; errors keep the API's shape."""

from __future__ import annotations

import pytest
from django.test import Client

from surveys.models import ApiToken
from surveys.tokens import api_token_create, api_token_user
from tests.api.conftest import API, assert_error

pytestmark = pytest.mark.django_db


def test_request_without_token_gets_401_with_the_error_shape_and_a_bearer_challenge(client, project):
    response = client.get(f"{API}/projects")
    body = assert_error(response, 401, "unauthorized", None)
    assert "Bearer" in body["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer bst_not-a-real-token", "Bearer ", "Token bst_x", "Basic dXNlcjpwYXNz", "bst_x"],
)
def test_bad_token_gets_401(client, project, header):
    response = client.get(f"{API}/projects", headers={"Authorization": header})
    assert_error(response, 401, "unauthorized")


def test_revoked_token_gets_401(api, fieldworker):
    assert api.get("/projects").status_code == 200
    ApiToken.objects.get(user=fieldworker).revoke()
    assert_error(api.get("/projects"), 401, "unauthorized")


def test_token_of_a_deactivated_user_gets_401(api, fieldworker):
    fieldworker.is_active = False
    fieldworker.save()
    assert_error(api.get("/projects"), 401, "unauthorized")


def test_session_login_alone_does_not_open_the_api(client, fieldworker):
    client.force_login(fieldworker)
    assert_error(client.get(f"{API}/projects"), 401, "unauthorized")


def test_token_post_needs_no_csrf_token(api_for, fieldworker, site):
    strict = Client(enforce_csrf_checks=True)
    api = api_for(fieldworker, client=strict)
    response = api.post_json(f"/sites/{site.pk}/visits", {"night": "2025-07-01"})
    assert response.status_code == 201, response.content


def test_only_the_hash_of_a_key_is_stored_and_the_key_finds_its_user(fieldworker):
    token, key = api_token_create(user=fieldworker, name="laptop")
    assert key.startswith("bst_") and len(key) > 40
    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert key not in str(stored)
    assert token.prefix == key[:12]
    assert api_token_user(key=key) == fieldworker
    assert api_token_user(key=key + "x") is None


def test_using_a_token_records_when_it_was_last_used(api, fieldworker):
    token = ApiToken.objects.get(user=fieldworker)
    assert token.last_used_at is None
    api.get("/projects")
    token.refresh_from_db()
    assert token.last_used_at is not None
