"""Login throttling (django-axes): ten failed log-ins for one user name from one address lock that pair
out with a clear page and status 429; the right password then fails too until the cool-off ends; other
users, other addresses and API tokens are not affected; a success resets the count."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import TEST_PASSWORD, UserFactory

LIMIT = 10


@pytest.fixture(autouse=True)
def axes_on(settings) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=15)


@pytest.fixture
def user(db):
    return UserFactory(username="fieldworker")


def log_in(username: str, password: str, *, ip: str = "192.0.2.10", client: Client | None = None):
    return (client or Client()).post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def fail(times: int, username: str = "fieldworker", ip: str = "192.0.2.10") -> None:
    for attempt in range(1, times + 1):
        expected = 429 if attempt >= LIMIT and settings.AXES_ENABLED else 200  # the form again, with an error
        assert log_in(username, "wrong password", ip=ip).status_code == expected, attempt


def test_ten_failures_lock_the_user_out_with_a_clear_message(user):
    fail(LIMIT - 1)
    response = log_in("fieldworker", "wrong password")
    assert response.status_code == 429
    assert "Too many failed log-ins" in response.content.decode()
    assert "Content-Security-Policy" in response  # the lockout page is a normal page


def test_locked_out_user_cannot_log_in_even_with_the_right_password(user):
    fail(LIMIT)
    response = log_in("fieldworker", TEST_PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in response.wsgi_request.session


def test_nine_failures_still_let_the_right_password_in_and_reset_the_count(user):
    fail(LIMIT - 1)
    assert log_in("fieldworker", TEST_PASSWORD).status_code == 302
    fail(LIMIT - 1)  # counting starts again after a success
    assert log_in("fieldworker", TEST_PASSWORD).status_code == 302


def test_lockout_is_per_user_and_address(user):
    UserFactory(username="colleague")
    fail(LIMIT)
    assert log_in("colleague", TEST_PASSWORD).status_code == 302, "another user from the same office"
    assert log_in("fieldworker", TEST_PASSWORD, ip="198.51.100.7").status_code == 302, "the user elsewhere"


def test_lockout_ends_after_the_cool_off(user, settings):
    fail(LIMIT)
    assert log_in("fieldworker", TEST_PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    assert log_in("fieldworker", TEST_PASSWORD).status_code == 302


def test_api_tokens_keep_working_for_a_locked_out_user(user):
    from surveys.tokens import api_token_create

    fail(LIMIT)
    _token, key = api_token_create(user=user, name="laptop")
    response = Client().get("/api/v1/projects", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200


def test_throttling_is_switched_off_for_the_test_suite_by_default(user, settings):
    settings.AXES_ENABLED = False
    fail(LIMIT + 5)
    assert log_in("fieldworker", TEST_PASSWORD).status_code == 302
