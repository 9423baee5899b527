"""`flowdeck schedule ...` and `flowdeck trigger ...` against a live server; the trigger
the CLI made is then called over HTTP with the secret it printed."""
from __future__ import annotations

import json
import re

import httpx
import pytest

from automation.models import Schedule, Trigger
from flowdeck.cli import main as cli
from runs.models import Run
from tests.factories import make_token, publish


@pytest.fixture
def env(live_server, transactional_db, user, monkeypatch):
    monkeypatch.setenv("FLOWDECK_URL", live_server.url)
    monkeypatch.setenv("FLOWDECK_TOKEN", make_token(user))
    publish(user)
    return live_server


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_schedule_create_list_pause_resume_delete(env, capsys):
    code, out, err = _cli(capsys, "schedule", "create", "alice/demo", "--cron", "30 2 * * *", "-p", "n=9",
                          "--retries", "2", "--name", "nightly")
    assert code == 0, err
    assert "alice/demo@latest at '30 2 * * *' (UTC)" in out and "next run" in out
    schedule = Schedule.objects.get()
    assert schedule.params == {"n": 9} and schedule.max_retries == 2 and schedule.skip_if_running

    code, out, _ = _cli(capsys, "schedule", "list")
    assert out.splitlines()[0].split()[:4] == ["ID", "WORKFLOW", "CRON", "TZ"]
    assert f"{schedule.pk}" in out and "nightly" in out and "next " in out

    assert _cli(capsys, "schedule", "pause", str(schedule.pk))[1].strip() == f"Schedule {schedule.pk} is paused."
    assert "paused" in _cli(capsys, "schedule", "list", "--workflow", "alice/demo")[1]
    assert "active" in _cli(capsys, "schedule", "resume", str(schedule.pk))[1]
    code, out, _ = _cli(capsys, "schedule", "show", str(schedule.pk), "--json")
    assert json.loads(out)["firings"] == []
    assert _cli(capsys, "schedule", "delete", str(schedule.pk))[0] == 0
    assert not Schedule.objects.exists()

    code, _, err = _cli(capsys, "schedule", "create", "alice/demo", "--cron", "every night")
    assert code == 1 and "cron" in err.lower()


def test_trigger_create_then_call_it_then_list_and_delete(env, capsys):
    code, out, err = _cli(capsys, "trigger", "create", "alice/demo", "--map", "n=$.count", "--name", "hook")
    assert code == 0, err
    url = re.search(r"URL:\s+(\S+)", out).group(1)
    secret = re.search(r"Secret:\s+(\S+)", out).group(1)
    assert "X-Flowdeck-Secret" in out and "X-Flowdeck-Signature" in out

    response = httpx.post(url, json={"count": 12}, headers={"X-Flowdeck-Secret": secret})
    assert response.status_code == 201, response.text
    assert Run.objects.get(pk=response.json()["run"]).params == {"n": 12}

    code, out, _ = _cli(capsys, "trigger", "list")
    assert '{"n": "$.count"}' in out and url in out and secret not in out
    trigger = Trigger.objects.get()
    assert "201" in _cli(capsys, "trigger", "show", str(trigger.pk))[1]
    assert _cli(capsys, "trigger", "delete", str(trigger.pk))[0] == 0
    assert httpx.post(url, json={"count": 1}, headers={"X-Flowdeck-Secret": secret}).status_code == 404
