"""The audit log: every recorded action, with who, what, when and from where; read and
exported by team admins only."""
from __future__ import annotations

import csv
import io
import json

import pytest

from accounts.models import AuditEntry
from runs.models import Run
from tests.factories import assert_error, make_bundle, make_spec

pytestmark = pytest.mark.django_db
ALL = ["read", "write", "run", "admin"]


def _client(auth_client, who, ip="203.0.113.7"):
    client = auth_client(who, scopes=ALL)
    client.defaults["REMOTE_ADDR"] = ip
    return client


def test_each_recorded_action_says_who_what_when_and_from_where(crew, auth_client):
    alice = _client(auth_client, crew.admin)
    bob = _client(auth_client, crew.editor, ip="198.51.100.2")
    published = bob.post("/api/v1/workflows/publish", {"spec": json.dumps(make_spec()), "bundle": io.BytesIO(make_bundle()),
                                                      "namespace": "acme"}, format="multipart")
    assert published.status_code == 201, published.content
    assert bob.post("/api/v1/workflows/acme/demo/versions/1.0.0/yank", {"reason": "bad data"}, format="json").status_code == 200
    assert bob.delete("/api/v1/workflows/acme/demo/versions/1.0.0/yank").status_code == 200
    run_id = bob.post("/api/v1/runs", {"workflow": "acme/demo", "namespace": "acme"}, format="json").json()["id"]
    assert bob.post(f"/api/v1/runs/{run_id}/stop").status_code == 200
    Run.objects.filter(pk=run_id).update(status="stopped")
    assert bob.delete(f"/api/v1/runs/{run_id}").status_code == 200
    alice.patch("/api/v1/teams/acme/members/vic", {"role": "editor"}, format="json")
    alice.patch("/api/v1/teams/acme/quota", {"max_concurrent_runs": 4}, format="json")
    token = alice.post("/api/v1/tokens", {"name": "ci", "team": "acme", "scopes": ["read"]}, format="json").json()
    alice.delete(f"/api/v1/tokens/{token['id']}")

    rows = alice.get("/api/v1/teams/acme/audit", {"limit": 100}).json()["results"]
    seen = [(r["actor"], r["action"], r["target"], r["ip"]) for r in reversed(rows)]
    prefix = token["prefix"]
    assert seen == [
        ("alice", "team.create", "acme", None),  # made by a fixture, outside any request
        ("system", "member.add", "bob", None),
        ("system", "member.add", "vic", None),
        ("bob", "version.publish", "acme/demo@1.0.0", "198.51.100.2"),
        ("bob", "version.yank", "acme/demo@1.0.0", "198.51.100.2"),
        ("bob", "version.unyank", "acme/demo@1.0.0", "198.51.100.2"),
        ("bob", "run.start", str(run_id), "198.51.100.2"),
        ("bob", "run.stop", str(run_id), "198.51.100.2"),
        ("bob", "run.delete", str(run_id), "198.51.100.2"),
        ("alice", "member.role", "vic", "203.0.113.7"),
        ("alice", "quota.change", "acme", "203.0.113.7"),
        ("alice", "token.create", f"ci ({prefix})", "203.0.113.7"),
        ("alice", "token.revoke", f"ci ({prefix})", "203.0.113.7"),
    ]
    by_action = {r["action"]: r for r in rows}
    assert by_action["version.yank"]["data"] == {"reason": "bad data"}
    assert by_action["member.role"]["data"] == {"from": "viewer", "to": "editor"}
    assert by_action["quota.change"]["data"] == {"from": {"max_concurrent_runs": None}, "to": {"max_concurrent_runs": 4}}
    assert all(r["at"] for r in rows)
    assert token["token"] not in json.dumps(rows)  # a secret is never in the log


def test_the_client_address_comes_from_our_proxy_when_told_to_trust_it(crew, auth_client, settings):
    settings.FLOWDECK_TRUSTED_PROXIES = 1
    client = _client(auth_client, crew.admin, ip="10.0.0.5")
    client.patch("/api/v1/teams/acme/quota", {"max_concurrent_runs": 2}, format="json",
                 HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.44")  # a client-made first hop, then our proxy's
    assert AuditEntry.objects.get(action="quota.change").ip == "192.0.2.44"


def test_it_filters_and_pages(crew, auth_client):
    alice = _client(auth_client, crew.admin)
    for n in range(3):
        alice.patch("/api/v1/teams/acme/quota", {"max_concurrent_runs": n + 1}, format="json")
    alice.patch("/api/v1/teams/acme/members/vic", {"role": "editor"}, format="json")
    get = lambda **q: alice.get("/api/v1/teams/acme/audit", q).json()  # noqa: E731
    assert [r["action"] for r in get(action="member")["results"]] == ["member.role", "member.add", "member.add"]
    assert [r["target"] for r in get(action="member.add")["results"]] == ["vic", "bob"]
    assert get(actor="alice", action="quota.change")["count"] == 3
    assert get(target="vic")["count"] == 2
    assert get(since="2999-01-01")["count"] == 0
    assert get(until="2000-01-01")["count"] == 0
    page = get(limit=2, offset=0)
    assert page["count"] == 7 and len(page["results"]) == 2 and page["next"]
    assert_error(alice.get("/api/v1/teams/acme/audit", {"since": "yesterday"}), 400, field="since")


def test_it_exports_csv_and_json_lines(crew, auth_client):
    alice = _client(auth_client, crew.admin)
    alice.patch("/api/v1/teams/acme/quota", {"max_storage_bytes": 1000}, format="json")
    response = alice.get("/api/v1/teams/acme/audit/export", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="audit-acme.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["quota.change", "member.add", "member.add", "team.create"]
    assert rows[0]["ip"] == "203.0.113.7" and json.loads(rows[0]["data"])["to"] == {"max_storage_bytes": 1000}
    response = alice.get("/api/v1/teams/acme/audit/export", {"format": "jsonl", "action": "quota"})
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert [(r["actor"], r["action"]) for r in lines] == [("alice", "quota.change")]
    assert_error(alice.get("/api/v1/teams/acme/audit/export", {"format": "xml"}), 400, field="format")


def test_only_team_admins_read_the_log(crew, auth_client, client):
    assert_error(auth_client(crew.editor, scopes=ALL).get("/api/v1/teams/acme/audit"), 403, "forbidden")
    assert_error(auth_client(crew.viewer, scopes=ALL).get("/api/v1/teams/acme/audit/export"), 403)
    assert_error(auth_client(crew.outsider, scopes=ALL).get("/api/v1/teams/acme/audit"), 404)
    assert_error(auth_client(crew.admin, scopes=["read"]).get("/api/v1/teams/acme/audit"), 403)  # admin scope
    client.force_login(crew.editor)
    assert client.get("/teams/acme/audit").status_code == 403
    client.force_login(crew.admin)
    page = client.get("/teams/acme/audit", {"action": "member"})
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('<td class="mono">member.add</td>') == 2 and '<td class="mono">team.create</td>' not in html
    export = client.get("/teams/acme/audit", {"format": "csv"})
    assert b"".join(export.streaming_content).decode().startswith("id,at,actor,action")
