"""The permission matrix's building blocks: a row, the rules that give each cell's status,
and the helpers that fill in a row's URL and body from a column of the world
(``matrix_world.Column``). The rows themselves are in matrix_table*.py."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core import storage
from tests.accounts.matrix_world import (
    USERNAMES,
    Column,
    World,
    member,
    sees_asset,
    writer,
)
from tests.factories import make_bundle, make_spec

Rule = Callable[[str, str], int]
Kwargs = Callable[[Column, World], dict]


def expect(ok: int, *, anon: int | None = None, see: Callable | None = None, change: Callable | None = None,
           hidden: int = 404, denied: int = 403) -> Rule:
    """The usual shape of a rule: the anonymous answer (None: judged like anyone else), then
    404 for whoever may not see the object, 403 for whoever may see but not change it, and
    ``ok`` for the rest."""

    def rule(role: str, vis: str) -> int:
        if role == "anonymous" and anon is not None:
            return anon
        if see is not None and not see(role, vis):
            return hidden
        if change is not None and not change(role, vis):
            return denied
        return ok

    return rule


def owner_only(ok: int, *, anon: int) -> Rule:
    """Objects that are one user's own (eddie's webhook): everyone else gets 404."""
    return lambda role, vis: anon if role == "anonymous" else (ok if role == "editor" else 404)


def always(code: int) -> Rule:
    return lambda role, vis: code


@dataclass(frozen=True)
class Row:
    route: str  # the resolver name, e.g. "api:run" or "runs:detail"
    method: str
    rule: Rule
    kwargs: Kwargs = lambda c, w: {}
    body: Callable[[Column, World], Any] | None = None
    query: Callable[[Column, World], dict] | None = None
    per_visibility: bool = True
    fmt: str = "json"  # "json", "multipart" or "raw" for the API; form posts on the web
    headers: Callable[[Column, World], dict] | None = None
    login_redirect: bool = True  # an anonymous 302 goes to the login page
    note: str = ""
    id: str = field(default="")

    @property
    def label(self) -> str:
        return f"{self.method} {self.route}{'[' + self.id + ']' if self.id else ''}"


def asset_kw(c: Column, w: World) -> dict:
    return {"namespace": c.ns, "name": c.name}


def version_kw(c: Column, w: World) -> dict:
    return {**asset_kw(c, w), "version": "1.0.0"}


def run_kw(c: Column, w: World) -> dict:
    return {"run_id": c.run.pk}


def fresh_run_kw(c: Column, w: World) -> dict:
    return {"run_id": c.fresh_run().pk}


def tracked_kw(c: Column, w: World) -> dict:
    return {"run_id": c.tracked.pk}


def schedule_kw(c: Column, w: World) -> dict:
    return {"schedule_id": c.schedule.pk}


def trigger_kw(c: Column, w: World) -> dict:
    return {"trigger_id": c.trigger.pk}


def webhook_kw(c: Column, w: World) -> dict:
    return {"webhook_id": w.webhook_id}


def publish_body(c: Column, w: World) -> dict:
    bundle = io.BytesIO(make_bundle())
    bundle.name = "bundle.tar.gz"
    spec = make_spec(name=c.name, description="matrix")
    return {"spec": json.dumps(spec), "bundle": bundle, "version": "9.9.9", "visibility": c.vis,
            "namespace": c.ns}


def uploaded_path(c: Column, w: World) -> dict:
    storage.put(storage.artifact_key(c.tracked.pk, "committed.txt"), b"uploaded")
    return {"path": "committed.txt"}


def own_ns(w: World) -> str:
    """The personal namespace of the role sending the request (anonymous: none)."""
    return USERNAMES.get(w.role, "")


def workflow_ref(c: Column, w: World) -> str:
    return f"{c.ns}/{c.name}"


# The API answers 401 to the anonymous caller everywhere but where it says AllowAny.
A401 = 401
SEE_ASSET = {"anon": A401, "see": sees_asset}
RUN_READ = {"anon": A401, "see": member}
RUN_CHANGE = {"anon": A401, "see": member, "change": writer}

# The web answers the anonymous visitor of a signed-in page with a redirect to the login page.
W302 = 302
W_SEE_ASSET = {"anon": W302, "see": sees_asset}
W_RUN_READ = {"anon": W302, "see": member}
W_RUN_CHANGE = {"anon": W302, "see": member, "change": writer}
