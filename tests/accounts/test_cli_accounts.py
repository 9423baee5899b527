"""`flowdeck login`, `flowdeck tokens`, `flowdeck teams` and `flowdeck audit` against a live server."""
from __future__ import annotations

import json
import os
import stat

import pytest

from accounts.models import ApiToken, Membership
from flowdeck.cli import main as cli
from tests.factories import PASSWORD, make_token, make_user

ALL = ["read", "write", "run", "admin"]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def server(live_server, transactional_db, monkeypatch, tmp_path):
    config = tmp_path / "home" / "flowdeck" / "config.json"
    monkeypatch.setenv("FLOWDECK_CONFIG", str(config))
    return live_server.url, config


def test_login_stores_the_token_readable_only_by_the_user(server, user, capsys, monkeypatch):
    url, config = server
    config.parent.mkdir(parents=True)
    config.write_text("{}")
    os.chmod(config, 0o644)  # an older file, too open: login must tighten it
    monkeypatch.setattr("getpass.getpass", lambda prompt="": PASSWORD)
    code, out, err = _cli(capsys, "login", "--url", url, "--username", "alice")
    assert code == 0, err
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    saved = json.loads(config.read_text())
    assert saved["url"] == url and saved["token"].startswith("fdk_")
    assert saved["token"] not in out  # the plaintext is saved, not printed
    made = ApiToken.objects.get(user=user, name="cli")
    assert made.prefix == saved["token"][:12] and made.scopes == ALL  # a password's token may do all it may
    monkeypatch.delenv("FLOWDECK_TOKEN", raising=False)
    code, out, _ = _cli(capsys, "whoami")
    assert code == 0 and "alice" in out


def test_tokens_list_create_revoke(server, user, capsys, monkeypatch):
    url, _ = server
    monkeypatch.setenv("FLOWDECK_URL", url)
    monkeypatch.setenv("FLOWDECK_TOKEN", make_token(user, scopes=ALL, name="admin"))
    code, out, err = _cli(capsys, "tokens", "create", "nightly", "--scope", "read", "--scope", "run",
                          "--expires-in-days", "7")
    assert code == 0, err
    plaintext = out.split("Token: ")[1].split()[0]
    made = ApiToken.objects.get(name="nightly")
    assert made.scopes == ["read", "run"] and made.prefix == plaintext[:12] and made.expires_at
    code, out, _ = _cli(capsys, "tokens", "list")
    assert out.splitlines()[0].split() == ["ID", "NAME", "PREFIX", "SCOPES", "EXPIRES", "STATE"]
    assert "nightly" in out and plaintext not in out
    code, out, err = _cli(capsys, "tokens", "revoke", str(made.pk))
    assert code == 0, err and "no longer works" in out
    made.refresh_from_db()
    assert made.revoked_at is not None
    code, _, err = _cli(capsys, "tokens", "revoke", "999999")
    assert code == 1 and "not found" in err.lower()


def test_teams_and_audit_from_the_cli(server, user, capsys, monkeypatch, tmp_path):
    url, _ = server
    make_user("bob")
    monkeypatch.setenv("FLOWDECK_URL", url)
    monkeypatch.setenv("FLOWDECK_TOKEN", make_token(user, scopes=ALL, name="admin"))
    assert _cli(capsys, "teams", "create", "acme", "--display-name", "Acme")[0] == 0
    code, out, err = _cli(capsys, "teams", "add-member", "acme", "bob", "--role", "editor")
    assert code == 0, err and "bob is editor of acme" in out
    assert _cli(capsys, "teams", "set-role", "acme", "bob", "admin")[0] == 0
    assert Membership.objects.get(team__slug="acme", user__username="bob").role == "admin"
    code, out, _ = _cli(capsys, "teams", "quota", "acme", "--max-concurrent-runs", "2", "--max-storage-bytes", "0")
    assert code == 0 and "max concurrent runs 2" in out and "max storage bytes no limit" in out
    code, out, _ = _cli(capsys, "teams", "show", "acme")
    assert "runs now 0 (limit 2)" in out and "storage 0 bytes (no limit)" in out and "admin   bob" in out
    assert _cli(capsys, "teams", "remove-member", "acme", "bob")[0] == 0
    code, out, _ = _cli(capsys, "teams", "list")
    assert out.split()[:4] == ["TEAM", "NAME", "KIND", "acme"]
    code, out, _ = _cli(capsys, "audit", "acme", "--action", "member")
    lines = out.splitlines()
    assert lines[0].split() == ["WHEN", "WHO", "ACTION", "TARGET", "IP"]
    assert [line.split()[2] for line in lines[1:]] == ["member.remove", "member.role", "member.add"]
    assert all("127.0.0.1" in line for line in lines[1:])
    target = tmp_path / "audit.jsonl"
    code, out, _ = _cli(capsys, "audit", "acme", "--export", "jsonl", "-o", str(target))
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert {r["action"] for r in rows} == {"team.create", "member.add", "member.role", "member.remove", "quota.change"}
