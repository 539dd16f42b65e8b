"""Schemathesis against the schema the app serves: every operation, with a real token and real ids, a
bounded number of generated requests each (valid and invalid ones). No answer may be a 5xx, break the
documented schema, status codes or content types, or accept a request without a token.

Runs in-process through the WSGI app (no server), inside the test's database transaction. Derandomised,
so CI sees the same examples on every run; raise MAX_EXAMPLES locally to search harder.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client, override_settings
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from surveys.api.schemas import MAX_ID
from surveys.models import RecordingStatus
from tests.api.conftest import wav_bytes
from tests.factories import RecordingFactory

MAX_EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    ignored_auth,
]


def _served_schema() -> dict:
    """The schema exactly as the app serves it (fetched at collection: it needs no database)."""
    with override_settings(ROOT_URLCONF="tests.api.urls", ALLOWED_HOSTS=["testserver"]):
        response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200, response.content
    return response.json()


schema = schemathesis.openapi.from_dict(_served_schema())
schema.app = get_wsgi_application()  # every request, probes included, goes to the app in-process


@pytest.fixture
def wsgi_app():
    """The WSGI app, called in this thread; like Django's test client, requests must not close the
    database connection that holds the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schema.app
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(db, settings, api, visit, fake_model, wsgi_app):
    """A member's token and one of each object, so generated requests reach real data, not only 404s."""
    settings.API_ANALYSE_WAIT_S = 0  # no worker runs inside the test transaction: answer 202 at once
    recording = RecordingFactory(visit=visit, content=wav_bytes(), status=RecordingStatus.INGESTED)
    return {
        "key": api.key,
        "ids": {
            "project_id": visit.site.project_id,
            "site_id": visit.site_id,
            "visit_id": visit.pk,
            "recording_id": recording.pk,
        },
    }


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_api_answers_every_generated_request_as_documented(case, world):
    # Valid ids point at the member's own objects (other valid ids would only ever answer 404); the
    # invalid ones of negative cases stay as generated.
    for name, value in (case.path_parameters or {}).items():
        if name in world["ids"] and isinstance(value, int) and 1 <= value <= MAX_ID:
            case.path_parameters[name] = world["ids"][name]
    case.call_and_validate(headers={"Authorization": f"Bearer {world['key']}"}, checks=CHECKS)
