"""`flowdeck fork` and the client's star and notification calls, against the live server."""
from __future__ import annotations

import json

from registry.models import AssetVersion
from tests.factories import publish


def test_it_forks_from_the_command_line(server, other_user, capsys):
    from flowdeck.cli import main as cli

    publish(other_user, version="1.2.0")
    assert cli(["fork", "bob/demo@1.2.0", "--name", "my-demo"]) == 0
    assert "Forked bob/demo@1.2.0 to alice/my-demo@1.0.0." in capsys.readouterr().out
    fork = AssetVersion.objects.get(asset__namespace__slug="alice", asset__name="my-demo")
    assert fork.forked_from.version == "1.2.0"

    assert cli(["fork", "bob/demo", "--name", "my-demo"]) == 1  # taken: one error line, non-zero
    assert "already exists" in capsys.readouterr().err

    assert cli(["fork", "bob/demo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["asset"] == "alice/demo"


def test_the_client_stars_and_reads_notifications(server, other_user):
    from flowdeck import Client

    publish(other_user)
    with Client() as client:
        assert client.star("bob/demo")["stars"] == 1
        assert client.star("bob/demo", remove=True)["stars"] == 0
        assert client.notifications() == []
        assert client.notifications_read() == {"marked": 0, "unread": 0}
