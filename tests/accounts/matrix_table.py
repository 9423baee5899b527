"""The permission matrix: every API route and web page, each method, and the exact status
each role gets for each visibility.

A row names a URL (by its resolver name), a method, how to fill in the URL and body from a
column of the world (``matrix_world.Column``), and a rule giving the status per (role,
visibility). A new endpoint gets a row here; ``test_permission_matrix_coverage`` fails until
it has one. Rows with ``per_visibility=False`` do not depend on an asset (``/me``, lists):
they are checked once per role, with the ``team`` column's objects.
"""
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

API_ROWS: list[Row] = [
    Row("api:me", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:token-login", "POST", always(401), body=lambda c, w: {"username": "nobody", "password": "wrong"},
        per_visibility=False, note="wrong credentials: 401 for everyone, signed in or not"),
    Row("api:workflows", "GET", always(200), per_visibility=False),
    Row("api:publish", "POST", expect(201, anon=A401, change=writer), body=publish_body, fmt="multipart",
        note="a new version into the column's namespace"),
    Row("api:workflow", "GET", expect(200, see=sees_asset), kwargs=asset_kw),
    Row("api:version", "GET", expect(200, see=sees_asset), kwargs=version_kw),
    Row("api:version-yank", "POST", expect(200, anon=A401, see=sees_asset, change=writer), kwargs=version_kw,
        body=lambda c, w: {"reason": "matrix"}),
    Row("api:version-yank", "DELETE", expect(200, anon=A401, see=sees_asset, change=writer), kwargs=version_kw),
    Row("api:version-deprecate", "POST", expect(200, anon=A401, see=sees_asset, change=writer), kwargs=version_kw,
        body=lambda c, w: {"message": "use 1.1.0"}),
    Row("api:version-diff", "GET", expect(200, see=sees_asset), kwargs=asset_kw,
        query=lambda c, w: {"from": "1.0.0", "to": "1.1.0"}),
    Row("api:subscription", "GET", expect(200, **SEE_ASSET), kwargs=asset_kw),
    Row("api:subscription", "PUT", expect(200, **SEE_ASSET), kwargs=asset_kw, body=lambda c, w: {}),
    Row("api:subscription", "DELETE", expect(200, **SEE_ASSET), kwargs=asset_kw),
    Row("api:star", "PUT", expect(200, **SEE_ASSET), kwargs=asset_kw),
    Row("api:star", "DELETE", expect(200, **SEE_ASSET), kwargs=asset_kw),
    Row("api:fork", "POST", expect(201, **SEE_ASSET), kwargs=asset_kw,
        body=lambda c, w: {"name": f"fork-of-{c.name}"}, note="into the caller's own namespace"),
    Row("api:workflow-notification-preferences", "GET", expect(200, **SEE_ASSET), kwargs=asset_kw),
    Row("api:workflow-notification-preferences", "PUT", expect(200, **SEE_ASSET), kwargs=asset_kw,
        body=lambda c, w: {"events": ["run_failed"], "channels": ["email"]}),
    Row("api:workflow-notification-preferences", "DELETE", expect(200, **SEE_ASSET), kwargs=asset_kw),
    Row("api:notifications", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:notifications-read", "POST", expect(200, anon=A401), body=lambda c, w: {}, per_visibility=False),
    Row("api:notification-preferences", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:notification-preferences", "PUT", expect(200, anon=A401), per_visibility=False,
        body=lambda c, w: {"events": ["run_failed"], "channels": ["in_app"]}),
    Row("api:notification-preferences", "DELETE", expect(200, anon=A401), per_visibility=False),
    Row("api:webhooks", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:webhooks", "POST", expect(201, anon=A401), per_visibility=False,
        body=lambda c, w: {"name": "m", "url": "https://hooks.example.com/m"}),
    Row("api:webhook", "GET", owner_only(200, anon=A401), kwargs=webhook_kw, per_visibility=False),
    Row("api:webhook", "DELETE", owner_only(204, anon=A401), kwargs=webhook_kw, per_visibility=False),
    Row("api:webhook-deliveries", "GET", owner_only(200, anon=A401), kwargs=webhook_kw, per_visibility=False),
    Row("api:webhook-ping", "POST", owner_only(202, anon=A401), kwargs=webhook_kw, per_visibility=False),
    Row("api:experiments", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:tracked-runs", "POST", expect(201, anon=A401, change=writer),
        body=lambda c, w: {"experiment": "matrix", "namespace": c.ns}, note="a tracked run in the column's namespace"),
    Row("api:runs", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:runs", "POST", expect(201, **SEE_ASSET), body=lambda c, w: {"workflow": f"{workflow_ref(c, w)}@1.0.0"},
        note="in the caller's personal namespace"),
    Row("api:runs-export", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:workers", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:run", "GET", expect(200, **RUN_READ), kwargs=run_kw),
    Row("api:run", "DELETE", expect(200, **RUN_CHANGE), kwargs=fresh_run_kw),
    Row("api:run-stop", "POST", expect(409, **RUN_CHANGE), kwargs=run_kw, note="the run has ended: a conflict"),
    Row("api:run-retry", "POST", expect(409, **RUN_CHANGE), kwargs=run_kw, body=lambda c, w: {},
        note="nothing failed: a conflict"),
    Row("api:run-copy", "POST", expect(201, **RUN_READ), kwargs=run_kw, body=lambda c, w: {},
        note="whoever sees a run may copy it into their own namespace"),
    Row("api:run-end", "POST", expect(200, **RUN_CHANGE), kwargs=tracked_kw,
        body=lambda c, w: {"status": "succeeded"}),
    Row("api:log-batch", "POST", expect(200, **RUN_CHANGE), kwargs=tracked_kw,
        body=lambda c, w: {"metrics": [{"key": "acc", "value": 0.9, "step": 1, "timestamp": 1}]}),
    Row("api:metric-history", "GET", expect(200, **RUN_READ), kwargs=lambda c, w: {**run_kw(c, w), "key": "loss"}),
    Row("api:metric-export", "GET", expect(200, **RUN_READ), kwargs=lambda c, w: {**run_kw(c, w), "key": "loss"},
        query=lambda c, w: {"format": "csv"}),
    Row("api:artifacts", "GET", expect(200, **RUN_READ), kwargs=run_kw),
    Row("api:artifact-upload", "POST", expect(200, **RUN_CHANGE), kwargs=tracked_kw,
        body=lambda c, w: {"path": "new.txt"}),
    Row("api:artifact-commit", "POST", expect(201, **RUN_CHANGE), kwargs=tracked_kw, body=uploaded_path,
        note="the file was PUT to its presigned URL before"),
    Row("api:artifact-multipart", "POST", expect(201, **RUN_CHANGE), kwargs=tracked_kw,
        body=lambda c, w: {"path": "big.bin", "size": 20 * 1024 * 1024}),
    Row("api:artifact-multipart-complete", "POST", expect(400, **RUN_CHANGE), kwargs=tracked_kw,
        body=lambda c, w: {"path": "big.bin", "upload_id": "nope", "parts": [{"part_number": 1, "etag": "x"}]}),
    Row("api:artifact-multipart-abort", "POST", expect(204, **RUN_CHANGE), kwargs=tracked_kw,
        body=lambda c, w: {"path": "big.bin", "upload_id": "nope"}),
    Row("api:artifact-content", "GET", expect(302, **RUN_READ), kwargs=lambda c, w: {**run_kw(c, w), "path": "model.txt"},
        note="a redirect to a presigned URL on S3"),
    Row("api:artifact-content", "PUT", expect(201, **RUN_CHANGE),
        kwargs=lambda c, w: {**tracked_kw(c, w), "path": "put.txt"}, body=lambda c, w: b"bytes", fmt="raw"),
    Row("api:step-log", "GET", expect(200, **RUN_READ), kwargs=lambda c, w: {**run_kw(c, w), "step": "a"}),
    Row("api:schedules", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:schedules", "POST", expect(201, **SEE_ASSET),
        body=lambda c, w: {"workflow": workflow_ref(c, w), "cron": "0 4 * * *"},
        note="the runs go to the workflow's namespace when the caller may run there, else to theirs"),
    Row("api:schedule", "GET", expect(200, **RUN_READ), kwargs=schedule_kw),
    Row("api:schedule", "DELETE", expect(204, **RUN_CHANGE), kwargs=schedule_kw),
    Row("api:schedule-pause", "POST", expect(200, **RUN_CHANGE), kwargs=schedule_kw),
    Row("api:schedule-resume", "POST", expect(200, **RUN_CHANGE), kwargs=schedule_kw),
    Row("api:triggers", "GET", expect(200, anon=A401), per_visibility=False),
    Row("api:triggers", "POST", expect(201, **SEE_ASSET), body=lambda c, w: {"workflow": workflow_ref(c, w)}),
    Row("api:trigger", "GET", expect(200, **RUN_READ), kwargs=trigger_kw),
    Row("api:trigger", "DELETE", expect(204, **RUN_CHANGE), kwargs=trigger_kw),
    Row("api:hook", "POST", always(401), kwargs=lambda c, w: {"key": c.trigger.key}, body=lambda c, w: {},
        id="no-secret"),
    Row("api:hook", "POST", always(404), kwargs=lambda c, w: {"key": "no-such-key"}, body=lambda c, w: {},
        id="unknown-key", note="no authentication: the key and secret are the credentials"),
    Row("api:hook", "POST", always(201), kwargs=lambda c, w: {"key": c.trigger.key}, body=lambda c, w: {},
        headers=lambda c, w: {"X-Flowdeck-Secret": c.trigger_secret}, id="with-secret", note="anyone holding the secret starts a run as the trigger's owner"),
]

# The web answers the anonymous visitor of a signed-in page with a redirect to the login page.
W302 = 302
W_SEE_ASSET = {"anon": W302, "see": sees_asset}
W_RUN_READ = {"anon": W302, "see": member}
W_RUN_CHANGE = {"anon": W302, "see": member, "change": writer}

WEB_ROWS: list[Row] = [
    Row("login", "GET", always(200), per_visibility=False),
    Row("login", "POST", always(200), per_visibility=False, body=lambda c, w: {"username": "ada", "password": "wrong"},
        note="wrong password: the form again"),
    Row("logout", "POST", always(302), per_visibility=False, login_redirect=False),
    Row("workspace", "GET", expect(200, anon=W302), per_visibility=False),
    Row("notifications", "GET", expect(200, anon=W302), per_visibility=False),
    Row("notifications", "POST", expect(302, anon=W302), per_visibility=False, body=lambda c, w: {}),
    Row("notification-settings", "GET", expect(200, anon=W302), per_visibility=False),
    Row("notification-settings", "POST", expect(302, **W_SEE_ASSET), body=lambda c, w: {
        "action": "workflow", "workflow": workflow_ref(c, w), "events": ["run_failed"], "channels": ["email"]},
        id="workflow-preference"),
    Row("notification-webhook", "GET", owner_only(200, anon=W302), kwargs=webhook_kw, per_visibility=False),
    Row("notification-webhook", "POST", owner_only(302, anon=W302), kwargs=webhook_kw, per_visibility=False,
        body=lambda c, w: {}, note="sends a test delivery"),
    Row("gallery:index", "GET", always(200), per_visibility=False),
    Row("gallery:subscribe", "POST", expect(302, anon=W302, see=sees_asset), kwargs=asset_kw, body=lambda c, w: {}),
    Row("gallery:unsubscribe", "POST", expect(302, anon=W302, see=sees_asset), kwargs=asset_kw, body=lambda c, w: {}),
    Row("gallery:star", "POST", expect(302, anon=W302, see=sees_asset), kwargs=asset_kw, body=lambda c, w: {}),
    Row("registry:workflow", "GET", expect(200, see=sees_asset), kwargs=asset_kw),
    Row("registry:diff", "GET", expect(200, see=sees_asset), kwargs=asset_kw,
        query=lambda c, w: {"from": "1.0.0", "to": "1.1.0"}),
    Row("registry:fork", "POST", expect(302, anon=W302, see=sees_asset), kwargs=asset_kw,
        body=lambda c, w: {"name": f"fork-of-{c.name}"}),
    Row("registry:yank", "POST", expect(302, anon=W302, see=sees_asset, change=writer), kwargs=version_kw,
        body=lambda c, w: {"reason": "matrix"}),
    Row("runs:list", "GET", expect(200, anon=W302), per_visibility=False),
    Row("runs:workers", "GET", expect(200, anon=W302), per_visibility=False),
    Row("runs:workflow-runs", "GET", expect(200, **W_SEE_ASSET), kwargs=asset_kw),
    Row("runs:detail", "GET", expect(200, **W_RUN_READ), kwargs=run_kw),
    Row("runs:status", "GET", expect(200, **W_RUN_READ), kwargs=run_kw),
    Row("runs:stop", "POST", expect(302, **W_RUN_CHANGE), kwargs=run_kw, body=lambda c, w: {},
        note="the run has ended: back to its page with the message"),
    Row("runs:retry", "GET", expect(200, **W_RUN_CHANGE), kwargs=run_kw),
    Row("runs:retry", "POST", expect(400, **W_RUN_CHANGE), kwargs=run_kw, body=lambda c, w: {"n": "3"},
        note="nothing failed: the form again, with the reason"),
    Row("runs:copy", "GET", expect(200, **W_RUN_READ), kwargs=run_kw),
    Row("runs:copy", "POST", expect(302, **W_RUN_READ), kwargs=run_kw, body=lambda c, w: {"n": "3"}),
    Row("runs:artifact", "GET", expect(302, **W_RUN_READ), kwargs=lambda c, w: {**run_kw(c, w), "path": "model.txt"}),
    Row("runs:step-log", "GET", expect(200, **W_RUN_READ), kwargs=lambda c, w: {**run_kw(c, w), "step": "a"}),
    Row("runs:start", "POST", expect(302, **W_SEE_ASSET), kwargs=asset_kw, body=lambda c, w: {"n": "3"}),
    Row("automation:page", "GET", expect(200, **W_SEE_ASSET), kwargs=asset_kw),
    Row("automation:schedule-create", "POST", expect(302, **W_SEE_ASSET), kwargs=asset_kw,
        body=lambda c, w: {"cron": "0 4 * * *", "timezone": "UTC", "version": "latest", "namespace": own_ns(w),
                           "max_retries": "0"}, note="runs into the caller's own namespace"),
    Row("automation:trigger-create", "POST", expect(302, **W_SEE_ASSET), kwargs=asset_kw,
        body=lambda c, w: {"version": "latest", "namespace": own_ns(w), "mapping": "{}"},
        note="then the page shows the secret once"),
    Row("automation:schedule-action", "POST", expect(302, **W_RUN_CHANGE),
        kwargs=lambda c, w: {"schedule_id": c.schedule.pk, "action": "pause"}, body=lambda c, w: {}),
    Row("automation:trigger-delete", "POST", expect(302, **W_RUN_CHANGE), kwargs=trigger_kw, body=lambda c, w: {}),
]
