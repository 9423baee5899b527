"""Everything issue 4 adds to the API is in the OpenAPI schema, with the right methods."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

BASE = "/api/v1/workflows/{namespace}/{name}"
EXPECTED = {
    "/api/v1/workflows": {"get"},
    "/api/v1/workflows/publish": {"post"},
    BASE: {"get"},
    f"{BASE}/versions/{{version}}": {"get"},
    f"{BASE}/versions/{{version}}/yank": {"post", "delete"},
    f"{BASE}/versions/{{version}}/deprecate": {"post"},
    f"{BASE}/diff": {"get"},
    f"{BASE}/subscription": {"get", "put", "delete"},
    f"{BASE}/star": {"put", "delete"},
    f"{BASE}/fork": {"post"},
    "/api/v1/notifications": {"get"},
    "/api/v1/notifications/read": {"post"},
}


def test_the_schema_has_every_registry_and_gallery_operation(api_client):
    paths = api_client.get("/api/schema/", {"format": "json"}).json()["paths"]
    for path, methods in EXPECTED.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, sorted(paths[path]))
        for method in methods:
            assert paths[path][method].get("summary") or paths[path][method].get("description"), (path, method)


def test_gallery_results_document_their_counts(api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    listing = schema["paths"]["/api/v1/workflows"]["get"]
    names = {p["name"] for p in listing.get("parameters", [])}
    assert {"q", "tag", "namespace", "subscribed", "sort"} <= names
    text = str(schema["components"]["schemas"])
    for field in ("runs_30d", "stars", "subscribers", "forked_from"):
        assert field in text, field
