"""`flowdeck yank` and `flowdeck versions` against a live server."""
from __future__ import annotations

import json

import pytest

from flowdeck.cli import main as cli
from registry.models import Asset, AssetVersion
from tests.factories import make_spec, make_token, publish


@pytest.fixture
def env(live_server, transactional_db, user, monkeypatch):
    monkeypatch.setenv("FLOWDECK_URL", live_server.url)
    monkeypatch.setenv("FLOWDECK_TOKEN", make_token(user))
    publish(user, version="1.0.0", changelog="First release\nwith details")
    publish(user, version="1.1.0", changelog="Faster training")


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_yank_then_versions_then_undo(env, capsys):
    code, out, err = _cli(capsys, "yank", "alice/demo@1.1.0", "--reason", "wrong labels")
    assert code == 0, err
    assert "Yanked alice/demo@1.1.0" in out
    assert AssetVersion.objects.get(version="1.1.0").yank_reason == "wrong labels"
    assert Asset.objects.get().latest_version.version == "1.0.0"

    code, out, err = _cli(capsys, "versions", "alice/demo")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["VERSION", "PUBLISHED", "BY", "STATE", "CHANGELOG"]
    assert lines[1].startswith("1.1.0") and "alice" in lines[1] and "yanked: wrong labels" in lines[1]
    assert "Faster training" in lines[1]
    assert lines[2].startswith("1.0.0") and "First release" in lines[2] and "with details" not in out

    code, out, _ = _cli(capsys, "versions", "alice/demo", "--json")
    assert [(v["version"], v["yanked"]) for v in json.loads(out)] == [("1.1.0", True), ("1.0.0", False)]

    code, out, err = _cli(capsys, "yank", "alice/demo@1.1.0", "--undo")
    assert code == 0, err
    assert "no longer yanked" in out
    assert Asset.objects.get().latest_version.version == "1.1.0"


def test_versions_shows_deprecation_with_its_successor(env, user, capsys):
    from registry.services import version_deprecate

    version_deprecate(user=user, version=AssetVersion.objects.get(version="1.0.0"), successor="1.1.0", message="old")
    code, out, err = _cli(capsys, "versions", "alice/demo")
    assert code == 0, err
    assert "deprecated → alice/demo@1.1.0" in out


def test_yank_errors_are_one_line(env, other_user, capsys, monkeypatch):
    code, _, err = _cli(capsys, "yank", "alice/demo@1.1.0")
    assert code == 1 and "--reason is required" in err
    code, _, err = _cli(capsys, "yank", "alice/demo", "--reason", "x")
    assert code == 1 and "names no version" in err

    publish(user=other_user, spec=make_spec(name="hidden"), visibility="private")
    code, _, err = _cli(capsys, "yank", "bob/hidden@1.0.0", "--reason", "x")
    assert code == 1 and err.startswith("error:") and "not found" in err
    monkeypatch.setenv("FLOWDECK_TOKEN", make_token(other_user))
    code, _, err = _cli(capsys, "yank", "alice/demo@1.1.0", "--reason", "x")
    assert code == 1 and "editor or admin role" in err
    assert AssetVersion.objects.filter(yanked_at__isnull=False).count() == 0
