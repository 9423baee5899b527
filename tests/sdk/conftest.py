"""Fixtures for SDK tests: a real server (pytest-django's live_server) the SDK is pointed at."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.factories import make_token


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    user: object


@pytest.fixture
def server(live_server, transactional_db, user, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The live server, with FLOWDECK_URL and FLOWDECK_TOKEN (alice's) set for the SDK."""
    token = make_token(user)
    monkeypatch.setenv("FLOWDECK_URL", live_server.url)
    monkeypatch.setenv("FLOWDECK_TOKEN", token)
    return Server(url=live_server.url, token=token, user=user)


@pytest.fixture(autouse=True)
def _fresh_sdk_state(monkeypatch: pytest.MonkeyPatch):
    """Each test starts with no active run and the "no server" notice not yet shown."""
    import flowdeck.tracked
    import flowdeck.tracking

    monkeypatch.setattr(flowdeck.tracked, "_local_notice_shown", False)
    yield
    leaked = list(flowdeck.tracking._active)
    for run in list(flowdeck.tracked._open_runs):
        run._end_quietly("failed", "left open by a test")
    flowdeck.tracking._active.clear()
    assert not leaked, f"a test left runs active: {leaked}"
