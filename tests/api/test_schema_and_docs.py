"""The OpenAPI schema and the browsable docs: served by the app without a token, docs from our own static
files (no CDN)."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_schema_is_openapi_3_with_bearer_auth_and_every_endpoint(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["TokenAuth"] == {"type": "http", "scheme": "bearer"}
    assert {
        "/api/v1/projects",
        "/api/v1/projects/{project_id}/sites",
        "/api/v1/projects/{project_id}/recordings/lookup",
        "/api/v1/sites/{site_id}/visits",
        "/api/v1/visits/{visit_id}/recordings",
        "/api/v1/recordings/{recording_id}/prediction",
        "/api/v1/recordings/{recording_id}/calls",
        "/api/v1/recordings/{recording_id}/label",
        "/api/v1/sites/{site_id}/reports/recordings.csv",
        "/api/v1/sites/{site_id}/reports/summary.csv",
        "/api/v1/analyse",
        "/api/v1/analyse/{job_id}",
    } <= set(schema["paths"])
    error = schema["components"]["schemas"]["ErrorOut"]
    assert set(error["properties"]) == {"code", "message", "field"}


def test_every_operation_documents_401_in_the_error_shape(client):
    schema = client.get("/api/v1/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            answer = operation["responses"]["401"]["content"]["application/json"]["schema"]
            assert answer == {"$ref": "#/components/schemas/ErrorOut"}, (method, path)


def test_docs_page_loads_swagger_ui_from_our_static_files_only(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(assets) == 3  # the stylesheet, the bundle and our initialiser
    for url in assets:
        assert url.startswith("/static/"), url
        assert finders.find(url.removeprefix("/static/")), f"{url} is not among the static files"
    assert "https://" not in page and "http://" not in page
    assert 'data-openapi-url="/api/v1/openapi.json"' in page


def test_api_root_leads_to_the_docs(client):
    for path in ("/api/", "/api/v1/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"] == "/api/v1/docs"
