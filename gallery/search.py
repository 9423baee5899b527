"""The gallery's stored full-text search document (PostgreSQL only).

Each asset row carries ``search_document``, a tsvector with its name and namespace (weight
A), description and tags (B) and latest README (C), behind a GIN index. It is rebuilt when
an asset's latest version changes, so a search reads the index instead of re-parsing every
README of every asset on every query. On SQLite the column does not exist and the gallery
falls back to substring matching.
"""
from __future__ import annotations

from collections.abc import Iterable

from django.db import connection

DOCUMENT_SQL = """
    setweight(to_tsvector('english', registry_asset.name || ' ' ||
        coalesce((SELECT slug FROM accounts_team t WHERE t.id = registry_asset.namespace_id), '')), 'A')
    || setweight(to_tsvector('english', registry_asset.description || ' ' || registry_asset.tags::text), 'B')
    || setweight(to_tsvector('english', coalesce(
        (SELECT readme FROM registry_assetversion v WHERE v.id = registry_asset.latest_version_id), '')), 'C')
"""


def enabled() -> bool:
    return connection.vendor == "postgresql"


def search_documents_refresh(*, asset_ids: Iterable[int] | None = None) -> None:
    """Rebuild the search document of the given assets (all of them when None)."""
    if not enabled():
        return
    with connection.cursor() as cursor:
        if asset_ids is None:
            cursor.execute(f"UPDATE registry_asset SET search_document = {DOCUMENT_SQL}")
        else:
            cursor.execute(f"UPDATE registry_asset SET search_document = {DOCUMENT_SQL} WHERE id = ANY(%s)",
                           [list(asset_ids)])
