"""`flowdeck gallery search`, `subscribe` and `deprecate` against a live server."""
from __future__ import annotations

import json

import pytest

from flowdeck.cli import main as cli
from gallery.models import Subscription
from registry.models import AssetVersion
from tests.factories import make_spec, make_token, publish


@pytest.fixture
def env(live_server, transactional_db, user, other_user, monkeypatch):
    """bob is signed in; alice published alice/churn-train (1.0.0, 1.1.0) and alice/etl."""
    monkeypatch.setenv("FLOWDECK_URL", live_server.url)
    monkeypatch.setenv("FLOWDECK_TOKEN", make_token(other_user))
    churn = make_spec(name="churn-train", description="Trains the churn model.")
    publish(user, spec=churn, version="1.0.0", tags=["ml"])
    publish(user, spec=churn, version="1.1.0", tags=["ml"])
    publish(user, spec=make_spec(name="etl", description="Loads the warehouse."), tags=["data"])


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_gallery_search_finds_by_words_and_tag(env, capsys):
    code, out, err = _cli(capsys, "gallery", "search", "churn")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["WORKFLOW", "LATEST", "VISIBILITY", "DESCRIPTION"]
    assert lines[1].split()[:3] == ["alice/churn-train", "1.1.0", "public"] and len(lines) == 2

    code, out, _ = _cli(capsys, "gallery", "search", "--tag", "data", "--json")
    assert [a["full_name"] for a in json.loads(out)] == ["alice/etl"]
    code, out, _ = _cli(capsys, "gallery", "search", "--sort", "name")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["alice/churn-train", "alice/etl"]


def test_subscribe_follows_pins_and_removes(env, other_user, capsys):
    code, out, err = _cli(capsys, "subscribe", "alice/churn-train")
    assert code == 0, err
    assert out.strip() == "Subscribed to alice/churn-train (following the latest version)."
    assert _cli(capsys, "subscribe", "alice/churn-train")[0] == 0  # twice: still one
    assert Subscription.objects.filter(user=other_user).count() == 1

    code, out, _ = _cli(capsys, "subscribe", "alice/churn-train", "--pin", "1.0.0")
    assert "pinned to 1.0.0" in out
    assert Subscription.objects.get(user=other_user).pinned_version.version == "1.0.0"

    code, out, err = _cli(capsys, "subscribe", "alice/churn-train", "--pin", "9.9.9")
    assert code == 1 and err.startswith("error: ") and "9.9.9" in err

    code, out, _ = _cli(capsys, "subscribe", "alice/churn-train", "--remove")
    assert out.strip() == "Unsubscribed from alice/churn-train."
    assert not Subscription.objects.filter(user=other_user).exists()


def test_deprecate_points_at_the_successor(env, user, monkeypatch, capsys):
    code, _, err = _cli(capsys, "deprecate", "alice/churn-train", "1.0.0", "--successor", "1.1.0")
    assert code == 1 and "editor or admin role" in err  # bob may not

    monkeypatch.setenv("FLOWDECK_TOKEN", make_token(user))
    code, out, err = _cli(capsys, "deprecate", "alice/churn-train", "1.0.0", "--successor", "1.1.0", "--message", "Old labels.")
    assert code == 0, err
    assert out.strip() == "Deprecated alice/churn-train@1.0.0; use alice/churn-train@1.1.0 instead. It can still be run."
    old = AssetVersion.objects.get(asset__name="churn-train", version="1.0.0")
    assert old.deprecated_at and old.successor.version == "1.1.0" and old.deprecation_message == "Old labels."

    code, out, _ = _cli(capsys, "versions", "alice/churn-train")
    assert "deprecated → alice/churn-train@1.1.0" in out

    code, out, err = _cli(capsys, "deprecate", "alice/etl@1.0.0", "--successor", "alice/churn-train@1.1.0", "--json")
    assert code == 0, err
    assert json.loads(out)["successor"] == "alice/churn-train@1.1.0"

    code, _, err = _cli(capsys, "deprecate", "alice/churn-train", "1.1.0", "--successor", "7.0.0")
    assert code == 1 and "Successor 7.0.0 is not a version of alice/churn-train" in err
    code, _, err = _cli(capsys, "deprecate", "alice/churn-train", "--successor", "1.1.0")
    assert code == 1 and "names no version" in err
