"""The permission matrix: every endpoint x {anonymous, outsider, viewer, editor, admin} x
{private, team, public}, each cell asserting the exact status (see matrix_table.py)."""
from __future__ import annotations

import pytest

from tests.accounts.matrix_client import send
from tests.accounts.matrix_table import API_ROWS, WEB_ROWS, Row
from tests.accounts.matrix_world import ROLES, VISIBILITIES

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _s3_runs_cleanup():
    """Overrides the suite's per-test emptying of ``runs/``: the world's logs and artifacts
    must live through every cell; the world's teardown removes them."""
    yield


def cells(rows: list[Row]) -> list:
    found = []
    for row in rows:
        for vis in VISIBILITIES if row.per_visibility else ("team",):
            for role in ROLES:
                found.append(pytest.param(row, role, vis, id=f"{row.label}-{role}-{vis if row.per_visibility else 'any'}"))
    return found


API_CELLS = cells(API_ROWS)
WEB_CELLS = cells(WEB_ROWS)


def check(row: Row, world, role: str, vis: str, *, api: bool) -> None:
    response = send(row, world, role, vis, api=api)
    expected = row.rule(role, vis)
    body = b"" if getattr(response, "streaming", False) else response.content[:400]
    assert response.status_code == expected, f"{row.label} as {role} on {vis}: {response.status_code} {body!r}"
    if api and response.status_code >= 400 and response.get("Content-Type", "").startswith("application/json"):
        assert set(response.json()) == {"error"}, response.json()  # the one error shape, never a traceback
    if not api and expected == 302 and role == "anonymous" and row.login_redirect:
        assert response["Location"].startswith("/login/"), response["Location"]


@pytest.mark.parametrize(("row", "role", "vis"), API_CELLS)
def test_api_cell(world, row: Row, role: str, vis: str) -> None:
    check(row, world, role, vis, api=True)


@pytest.mark.parametrize(("row", "role", "vis"), WEB_CELLS)
def test_web_cell(world, row: Row, role: str, vis: str) -> None:
    check(row, world, role, vis, api=False)
