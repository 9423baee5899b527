"""The permission matrix's rows for the compare app: the compare API and page, artifacts side
by side, saved comparisons and a workflow's trend.

The rules (accounts/access.py): comparing needs runs one may see; runs one may not see are
left out as if never asked for, so a caller who sees fewer than two of them gets the same 400
as for run ids that do not exist. A saved comparison is seen by its owner and, shared with a
team, by that team's members; only its owner deletes it. The trend is the workflow's page:
whoever sees the workflow sees it (with only the runs they may see).
"""
from __future__ import annotations

from tests.accounts.matrix_rows import (
    A401,
    SEE_ASSET,
    W302,
    W_SEE_ASSET,
    Row,
    asset_kw,
    expect,
    member,
)
from tests.accounts.matrix_world import Column, World, comparison_owner


def two_runs(c: Column, w: World) -> str:
    return f"{c.run.pk},{c.tracked.pk}"


def slug_kw(c: Column, w: World) -> dict:
    return {"slug": c.comparison.slug}


def sees_comparison(role: str, vis: str) -> bool:
    """The world's comparisons: ``private`` is eddie's own, the others are shared with lab."""
    return member(role, vis)


def owns_comparison(role: str, vis: str) -> bool:
    return role == comparison_owner(vis)


# Who sees fewer than 2 of the runs asked for gets the 400 of "choose at least 2 runs".
COMPARE = {"anon": A401, "see": member, "hidden": 400}

COMPARE_API_ROWS: list[Row] = [
    Row("api:compare", "GET", expect(200, **COMPARE), query=lambda c, w: {"runs": two_runs(c, w)},
        note="runs one may not see are dropped: fewer than 2 left is a 400, as for unknown ids"),
    Row("api:compare-artifact", "GET", expect(200, **COMPARE),
        query=lambda c, w: {"runs": two_runs(c, w), "path": "model.txt"}),
    Row("api:comparisons", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:comparisons", "POST", expect(201, **COMPARE), body=lambda c, w: {"runs": [c.run.pk, c.tracked.pk]},
        id="own", note="into the caller's own namespace"),
    Row("api:comparisons", "POST", expect(201, anon=A401, see=member, hidden=403),
        body=lambda c, w: {"runs": [c.run.pk, c.tracked.pk], "namespace": c.namespace.slug, "visibility": "team"},
        id="shared", note="sharing with a team needs a membership (403 whether the team exists or not)"),
    Row("api:comparison", "GET", expect(200, anon=A401, see=sees_comparison), kwargs=slug_kw),
    Row("api:comparison", "DELETE", expect(204, anon=A401, see=sees_comparison, change=owns_comparison),
        kwargs=slug_kw),
    Row("api:trend", "GET", expect(200, **SEE_ASSET), kwargs=asset_kw, query=lambda c, w: {"metric": "loss"}),
]

W_COMPARE = {"anon": W302, "see": member, "hidden": 400}

COMPARE_WEB_ROWS: list[Row] = [
    Row("compare:page", "GET", expect(200, **W_COMPARE), query=lambda c, w: {"runs": two_runs(c, w)}),
    Row("compare:save", "POST", expect(302, **W_COMPARE), body=lambda c, w: {"query": f"runs={two_runs(c, w)}",
        "title": "matrix", "visibility": "private"}, note="then to the saved view"),
    Row("compare:saved", "GET", expect(200, anon=W302, see=sees_comparison), kwargs=slug_kw),
    Row("compare:trend", "GET", expect(200, **W_SEE_ASSET), kwargs=asset_kw),
]
