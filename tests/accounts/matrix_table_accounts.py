"""The permission matrix's rows for accounts: teams, members, quotas, the audit log, tokens,
sign-up and the password change.

The team rows run against each column's namespace: ``eddie`` (a personal namespace, eddie
its only member and admin) for ``private``, ``lab`` for ``team`` and ``public``. The rules
(accounts/access.py, README "Teams, roles and tokens"): a team is seen by its members (404
for anyone else, so its name does not leak); its admins manage members, settings, quotas and
service tokens and read the audit log (403 for its other members); a member may leave; a
personal namespace takes no members (400). A token is managed by its owner, a service token
by its team's admins (404 for anyone else).
"""
from __future__ import annotations

from tests.accounts.matrix_rows import A401, W302, Row, always, expect, member, owner_only
from tests.accounts.matrix_world import Column, World, team_admin


def slug_kw(c: Column, w: World) -> dict:
    return {"slug": c.namespace.slug}


def vera_kw(c: Column, w: World) -> dict:
    return {**slug_kw(c, w), "username": "vera"}


TEAM_READ = {"anon": A401, "see": member}
TEAM_ADMIN = {"anon": A401, "see": member, "change": team_admin}


def in_lab(rule_lab, *, personal: int, anon: int = A401):
    """``rule_lab`` for lab's columns; on eddie's personal namespace eddie gets ``personal``
    (a rule of the personal namespace, e.g. it takes no members) and everyone else 404."""

    def rule(role: str, vis: str) -> int:
        if vis != "private":
            return rule_lab(role, vis)
        return anon if role == "anonymous" else (personal if role == "editor" else 404)

    return rule


def leave_or_admin(role: str, vis: str) -> int:
    """DELETE vera from lab: the admin removes her, she may leave, the editor may not."""
    return {"anonymous": A401, "outsider": 404, "viewer": 204, "editor": 403, "admin": 204}[role]


def audit_query(c: Column, w: World) -> dict:
    return {"format": "csv"}


ACCOUNTS_API_ROWS: list[Row] = [
    Row("api:teams", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:teams", "POST", expect(201, anon=A401), body=lambda c, w: {"slug": "newteam"}, per_visibility=False),
    Row("api:team", "GET", expect(200, **TEAM_READ), kwargs=slug_kw),
    Row("api:team", "PATCH", expect(200, **TEAM_ADMIN), kwargs=slug_kw, body=lambda c, w: {"description": "m"}),
    Row("api:team-members", "GET", expect(200, **TEAM_READ), kwargs=slug_kw),
    Row("api:team-members", "POST", in_lab(expect(201, **TEAM_ADMIN), personal=400), kwargs=slug_kw,
        body=lambda c, w: {"username": "otto", "role": "viewer"}, note="a personal namespace takes no members"),
    Row("api:team-member", "PATCH", in_lab(expect(200, **TEAM_ADMIN), personal=400), kwargs=vera_kw,
        body=lambda c, w: {"role": "editor"}),
    Row("api:team-member", "DELETE", in_lab(leave_or_admin, personal=404), kwargs=vera_kw,
        note="vera is not in eddie's namespace: 404 to its admin"),
    Row("api:team-quota", "GET", expect(200, **TEAM_READ), kwargs=slug_kw),
    Row("api:team-quota", "PATCH", expect(200, **TEAM_ADMIN), kwargs=slug_kw,
        body=lambda c, w: {"max_concurrent_runs": 5}),
    Row("api:team-audit", "GET", expect(200, **TEAM_ADMIN), kwargs=slug_kw),
    Row("api:team-audit-export", "GET", expect(200, **TEAM_ADMIN), kwargs=slug_kw, query=audit_query),
    Row("api:tokens", "GET", expect(200, anon=A401), per_visibility=False, id="personal"),
    Row("api:tokens", "GET", expect(200, **TEAM_ADMIN), query=lambda c, w: {"team": c.namespace.slug}, id="service"),
    Row("api:tokens", "POST", expect(201, anon=A401), body=lambda c, w: {"name": "m", "scopes": ["read"]},
        per_visibility=False, id="personal"),
    Row("api:tokens", "POST", in_lab(expect(201, **TEAM_ADMIN), personal=400), id="service",
        body=lambda c, w: {"name": "svc", "scopes": ["read"], "team": c.namespace.slug},
        note="service tokens belong to teams, not to a personal namespace"),
    Row("api:token", "GET", owner_only(200, anon=A401), kwargs=lambda c, w: {"token_id": w.spare_token_id},
        per_visibility=False, id="personal", note="eddie's own"),
    Row("api:token", "DELETE", owner_only(200, anon=A401), kwargs=lambda c, w: {"token_id": w.spare_token_id},
        per_visibility=False, id="personal"),
    Row("api:token", "GET", expect(200, anon=A401, see=lambda r, v: r == "admin"),
        kwargs=lambda c, w: {"token_id": w.service_token_id}, per_visibility=False, id="service",
        note="lab's service token: its admins only; 404 to anyone else"),
    Row("api:token", "DELETE", expect(200, anon=A401, see=lambda r, v: r == "admin"),
        kwargs=lambda c, w: {"token_id": w.service_token_id}, per_visibility=False, id="service"),
]

# A team page's forms go back to the team page (302) with the outcome as a message, a
# refusal included; whoever may not see the team gets 404.
W_TEAM = {"anon": W302, "see": member}
PASSWORDS = {"new_password1": "a-much-longer-Passw0rd", "new_password2": "a-much-longer-Passw0rd"}

ACCOUNTS_WEB_ROWS: list[Row] = [
    Row("signup", "GET", lambda r, v: 200 if r == "anonymous" else 302, per_visibility=False, login_redirect=False,
        note="signed in: to the workspace"),
    Row("signup", "POST", always(302), per_visibility=False, login_redirect=False, body=lambda c, w: {
        "username": "newbie", "email": "newbie@example.com", "password1": PASSWORDS["new_password1"],
        "password2": PASSWORDS["new_password1"]}, note="anonymous: the account is made and signed in"),
    Row("password_change", "GET", expect(200, anon=W302), per_visibility=False),
    Row("password_change", "POST", expect(200, anon=W302), per_visibility=False,
        body=lambda c, w: {"old_password": "wrong", **PASSWORDS}, note="wrong old password: the form again"),
    Row("password_change_done", "GET", expect(200, anon=W302), per_visibility=False),
    Row("tokens", "GET", expect(200, anon=W302), per_visibility=False),
    Row("tokens", "POST", expect(200, anon=W302), per_visibility=False,
        body=lambda c, w: {"name": "m", "scopes": ["read"]}, note="the page with the new token, once"),
    Row("token-revoke", "POST", owner_only(302, anon=W302), kwargs=lambda c, w: {"token_id": w.spare_token_id},
        per_visibility=False, body=lambda c, w: {}, id="personal"),
    Row("token-revoke", "POST", expect(302, anon=W302, see=lambda r, v: r == "admin"), per_visibility=False,
        kwargs=lambda c, w: {"token_id": w.service_token_id}, body=lambda c, w: {}, id="service"),
    Row("teams", "GET", expect(200, anon=W302), per_visibility=False),
    Row("teams", "POST", expect(302, anon=W302), per_visibility=False, body=lambda c, w: {"slug": "newteam"}),
    Row("team", "GET", expect(200, **W_TEAM), kwargs=slug_kw),
    Row("team-member-add", "POST", expect(302, **W_TEAM), kwargs=slug_kw,
        body=lambda c, w: {"username": "otto", "role": "viewer"}),
    Row("team-member", "POST", expect(302, **W_TEAM), kwargs=vera_kw, body=lambda c, w: {"role": "editor"}),
    Row("team-quota", "POST", expect(302, **W_TEAM), kwargs=slug_kw, body=lambda c, w: {"max_concurrent_runs": "5"}),
    Row("team-settings", "POST", expect(302, **W_TEAM), kwargs=slug_kw, body=lambda c, w: {"description": "m"}),
    Row("team-token-create", "POST", in_lab(expect(200, anon=W302, see=member, change=team_admin, denied=302),
                                            personal=302, anon=W302), kwargs=slug_kw,
        body=lambda c, w: {"svc-name": "svc", "svc-scopes": ["read"]},
        note="the team page with the new token once; a refusal goes back to the team page"),
    Row("team-audit", "GET", expect(200, anon=W302, see=member, change=team_admin), kwargs=slug_kw),
]
