"""The account calls of ``flowdeck.Client``: teams, members, quotas, tokens and the audit log."""
from __future__ import annotations

from typing import Any
from urllib.parse import quote


def _q(value: str) -> str:
    return quote(value, safe="")


class AccountsMixin:
    """Mixed into ``Client``; every method is one API call and returns its JSON."""

    def request(self, method: str, path: str, **kwargs) -> Any:  # provided by Client
        raise NotImplementedError

    # --- teams ---------------------------------------------------------------------------------
    def teams(self) -> list[dict]:
        return self.request("GET", "/api/v1/teams")

    def team(self, slug: str) -> dict:
        """A team with its members, quotas (own and effective) and usage."""
        return self.request("GET", f"/api/v1/teams/{_q(slug)}")

    def team_create(self, slug: str, *, display_name: str = "", description: str = "") -> dict:
        return self.request("POST", "/api/v1/teams",
                            json={"slug": slug, "display_name": display_name, "description": description})

    def member_set(self, team: str, username: str, role: str = "viewer") -> dict:
        """Add ``username`` to ``team`` with ``role``, or change their role (team admins)."""
        return self.request("POST", f"/api/v1/teams/{_q(team)}/members", json={"username": username, "role": role})

    def member_remove(self, team: str, username: str) -> None:
        self.request("DELETE", f"/api/v1/teams/{_q(team)}/members/{_q(username)}")

    def quota_set(self, team: str, **limits: int | None) -> dict:
        """Set ``max_concurrent_runs``, ``max_storage_bytes`` or ``max_run_duration_s``
        (None: the site default; 0: no limit)."""
        return self.request("PATCH", f"/api/v1/teams/{_q(team)}/quota", json=limits)

    # --- tokens --------------------------------------------------------------------------------
    def tokens(self, *, team: str | None = None) -> list[dict]:
        """Your personal tokens, or ``team``'s service tokens."""
        return self.request("GET", "/api/v1/tokens", params={"team": team} if team else None)

    def token_create(self, name: str, *, scopes: list[str] | None = None, expires_in_days: int | None = None,
                     team: str | None = None) -> dict:
        """A new token; its plaintext is in ``["token"]`` of this answer only."""
        body: dict[str, Any] = {"name": name}
        if scopes:
            body["scopes"] = scopes
        if expires_in_days:
            body["expires_in_days"] = expires_in_days
        if team:
            body["team"] = team
        return self.request("POST", "/api/v1/tokens", json=body)

    def token_revoke(self, token_id: int) -> dict:
        return self.request("DELETE", f"/api/v1/tokens/{int(token_id)}")

    # --- audit ---------------------------------------------------------------------------------
    def audit(self, team: str, *, limit: int = 50, offset: int = 0, **filters: str) -> dict:
        """A page of ``team``'s audit log: ``{"count", "results", ...}``; filters: action,
        actor, target, since, until."""
        params = {"limit": limit, "offset": offset, **{k: v for k, v in filters.items() if v}}
        return self.request("GET", f"/api/v1/teams/{_q(team)}/audit", params=params)

    def audit_export(self, team: str, *, fmt: str = "csv", **filters: str) -> bytes:
        params = {"format": fmt, **{k: v for k, v in filters.items() if v}}
        return self.request("GET", f"/api/v1/teams/{_q(team)}/audit/export", params=params)
