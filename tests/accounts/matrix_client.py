"""Sending one cell's request as one role."""
from __future__ import annotations

from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.accounts.matrix_table import Row
from tests.accounts.matrix_world import World


def api_client(world: World, role: str) -> APIClient:
    client = APIClient()
    if role != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[role]}")
    return client


def web_client(world: World, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    return client


def send(row: Row, world: World, role: str, vis: str, *, api: bool):
    column = world.columns[vis]
    world.role = role
    path = reverse(row.route, kwargs=row.kwargs(column, world))
    query = row.query(column, world) if row.query else None
    body = row.body(column, world) if row.body else None
    method = row.method.lower()
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in (row.headers(column, world) if row.headers else {}).items()}
    if api:
        client = api_client(world, role)
        if method == "get":
            return client.get(path, query, **extra)
        if row.fmt == "raw":
            return getattr(client, method)(path, body, content_type="application/octet-stream", **extra)
        return getattr(client, method)(path, body, format=row.fmt, **extra)
    client = web_client(world, role)
    if method == "get":
        return client.get(path, query)
    return getattr(client, method)(path, body or {})
