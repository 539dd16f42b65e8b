"""Django admin: every model of our apps is registered, and each changelist opens for staff."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.factories import UserFactory

OUR_MODELS = [model for model in apps.get_models() if model._meta.app_label in ("surveys", "classifier")]


def test_every_model_of_our_apps_is_in_the_admin() -> None:
    missing = [model._meta.label for model in OUR_MODELS if model not in admin.site._registry]
    assert missing == []


@pytest.mark.django_db
@pytest.mark.parametrize("model", OUR_MODELS, ids=lambda model: model._meta.label)
def test_staff_opens_each_changelist(client, model) -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")

    assert client.get(url).status_code == 200
