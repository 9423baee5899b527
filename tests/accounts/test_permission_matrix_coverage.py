"""Every endpoint is in the matrix: the routes come from the URL resolver, so a new API
route, a new handler method on an API view, or a new web page fails here until it has
rows in ``matrix_table.py``."""
from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.accounts.matrix_client import web_client
from tests.accounts.matrix_table import API_ROWS, WEB_ROWS
from tests.accounts.matrix_world import ROLES, VISIBILITIES

HANDLERS = ("get", "post", "put", "patch", "delete")


def _walk(patterns, prefix: str = ""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            namespace = f"{prefix}{entry.namespace}:" if entry.namespace else prefix
            yield from _walk(entry.url_patterns, namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield f"{prefix}{entry.name}", entry


def routes() -> dict[str, URLPattern]:
    """Every named route of config/api_urls.py ("api:...") and config/web_urls.py (the rest),
    leaving out config/urls.py's own: healthz and the OpenAPI schema and docs."""
    import config.api_urls
    import config.web_urls

    found = dict(_walk(get_resolver().url_patterns))
    names_in = {"api": {p.name for p in config.api_urls.urlpatterns},
                "web": {name for name, _ in _walk(config.web_urls.urlpatterns)}}
    return {name: p for name, p in found.items()
            if (name.startswith("api:") and name[4:] in names_in["api"]) or name in names_in["web"]}


def api_methods(pattern: URLPattern) -> set[str]:
    view = pattern.callback.cls  # DRF's as_view() keeps the class
    return {m.upper() for m in HANDLERS if hasattr(view, m)}


def test_every_api_route_and_method_has_rows():
    table = {(row.route, row.method) for row in API_ROWS}
    wanted = {(name, m) for name, p in routes().items() if name.startswith("api:") for m in api_methods(p)}
    assert wanted - table == set(), "API endpoints missing from the permission matrix (add rows to matrix_table.py)"
    assert table - wanted == set(), "rows for endpoints that no longer exist"


def test_every_web_page_has_rows():
    table = {row.route for row in WEB_ROWS}
    wanted = {name for name in routes() if not name.startswith("api:")}
    assert wanted - table == set(), "web pages missing from the permission matrix (add rows to matrix_table.py)"
    assert table - wanted == set(), "rows for pages that no longer exist"


@pytest.mark.django_db
def test_a_web_method_the_table_does_not_list_is_refused(world):
    """The table lists each page's methods; any other one answers 405 (so none goes untested)."""
    from django.urls import reverse

    listed: dict[str, set[str]] = {}
    for row in WEB_ROWS:
        listed.setdefault(row.route, set()).add(row.method)
    client = web_client(world, "admin")
    column = world.columns["team"]
    kwargs = {row.route: row.kwargs(column, world) for row in WEB_ROWS}
    for route, methods in listed.items():
        path = reverse(route, kwargs=kwargs[route])
        for method in {"GET", "POST"} - methods:
            assert getattr(client, method.lower())(path).status_code == 405, (route, method)


def matrix_cells(rows) -> int:
    return sum(len(ROLES) * (len(VISIBILITIES) if r.per_visibility else 1) for r in rows)


def test_the_number_of_cells():
    """The count the closing note gives: status cells (routes x methods x roles x visibilities,
    one visibility for rows that have none)."""
    assert matrix_cells(API_ROWS) + matrix_cells(WEB_ROWS) > 1000
