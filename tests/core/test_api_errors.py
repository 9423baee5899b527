"""The API's one error shape, and its OpenAPI schema."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/nothing/here", "/api/v1/runs/1/nope", "/api/"])
def test_it_answers_unknown_api_paths_with_the_json_error_shape(api_client, path):
    response = api_client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"error": {"code": "not_found", "message": "Not found.", "field": None}}


def test_it_serves_an_openapi_schema_with_the_main_paths(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in ("/api/v1/runs", "/api/v1/workflows/publish", "/api/v1/runs/{run_id}/log-batch"):
        assert path in schema["paths"], path


def test_it_serves_the_schema_as_yaml_by_default(api_client):
    response = api_client.get("/api/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "/api/v1/runs:" in text
    assert "/api/v1/workflows/publish:" in text


def test_it_serves_the_api_docs(api_client):
    response = api_client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_it_answers_healthz(api_client):
    response = api_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
