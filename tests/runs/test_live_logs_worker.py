"""Live logs end to end: a real worker runs a step that prints, sleeps and prints again, and
the API and `flowdeck logs --follow` show its first lines while it is still running."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid

import pytest

from runs.models import RunStatus, StepLogChunk
from runs.stored_logs import log_bytes
from runs.services.lifecycle import run_start
from tests.factories import make_spec, make_token, make_user, publish

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SOURCE = '''\
import time


def talk():
    print("first line", flush=True)
    time.sleep(1.5)
    print("second line ✓", flush=True)
    time.sleep(1.5)
    print("last line", flush=True)
'''


def test_a_running_steps_log_is_seen_growing_through_the_api_and_the_cli(celery_worker, live_server):
    from flowdeck import Client

    user = make_user("alice")
    token = make_token(user)
    spec = make_spec(name="talker", params=[], steps=[{"name": "talk", "fn": "workflow:talk"}])
    run = run_start(user=user, version=publish(user, spec=spec, files={"workflow.py": SOURCE}))

    # `flowdeck logs RUN talk --follow`, as a user would type it, each line timed as it comes.
    env = {**os.environ, "FLOWDECK_URL": live_server.url, "FLOWDECK_TOKEN": token}
    cli = subprocess.Popen(
        [sys.executable, "-c", "import sys; from flowdeck.cli import main; sys.exit(main())",
         "logs", str(run.pk), "talk", "--follow"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    cli_lines: list[tuple[float, str]] = []
    reader = threading.Thread(target=lambda: cli_lines.extend((time.monotonic(), ln) for ln in cli.stdout), daemon=True)
    reader.start()

    # Poll the API as a client following the log would.
    responses = []
    with Client(url=live_server.url, token=token) as client:
        offset, text = 0, ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            body = client.step_log(run.pk, "talk", offset=offset)
            text += body["text"]
            responses.append((body["status"], text))
            offset = body["next_offset"]
            if body["complete"]:
                break
            time.sleep(0.25)
        else:
            pytest.fail(f"the log never completed; worker log:\n{celery_worker.log_tail()}")

    run = celery_worker.wait_for_run(run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    step = run.steps.get(name="talk")
    # Seen while running: the first line, before the last one was printed.
    partial = [t for status, t in responses if status == "running" and "first line" in t and "last line" not in t]
    assert partial, responses
    # Followed to the end, the text is the stored log, exactly, and the live rows are gone.
    assert text == log_bytes(step).decode()
    assert "first line\nsecond line ✓\nlast line\n" in text
    assert not StepLogChunk.objects.filter(step=step).exists()

    assert cli.wait(timeout=30) == 0, cli.stderr.read()
    reader.join(timeout=5)
    printed = {line.rstrip("\n"): at for at, line in cli_lines}
    assert "== talk ==" in printed and "last line" in printed, cli_lines
    # The CLI printed the first line well before the last (printed 3 s apart; a dump at the
    # end would print them together), with slack for the ship and poll intervals.
    assert printed["last line"] - printed["first line"] > 0.5, cli_lines


FLAKY_SOURCE = '''\
import os
import pathlib


def flaky():
    marker = pathlib.Path("/tmp") / f"flowdeck-test-flaky-{os.environ['FLOWDECK_RUN_ID']}-MARKER"
    if not marker.exists():
        marker.write_text("tried")
        print("attempt one fails", flush=True)
        raise SystemExit(3)
    marker.unlink()
    print("attempt two works", flush=True)
'''


def test_following_a_retried_step_prints_each_attempt(celery_worker, live_server, capsys, monkeypatch):
    from flowdeck.cli import main as cli

    user = make_user("alice")
    monkeypatch.setenv("FLOWDECK_URL", live_server.url)
    monkeypatch.setenv("FLOWDECK_TOKEN", make_token(user))
    spec = make_spec(name="flaky", params=[], steps=[{"name": "flaky", "fn": "workflow:flaky", "retries": 1}])
    source = FLAKY_SOURCE.replace("MARKER", uuid.uuid4().hex)  # attempt 1 leaves it, attempt 2 removes it
    run = run_start(user=user, version=publish(user, spec=spec, files={"workflow.py": source}))

    assert cli(["logs", str(run.pk), "flaky", "--follow"]) == 0
    out = capsys.readouterr().out
    run = celery_worker.wait_for_run(run.pk)
    assert run.status == RunStatus.SUCCEEDED, (run.error, out)
    assert run.steps.get(name="flaky").attempt == 2
    first, second = out.index("attempt one fails"), out.index("attempt two works")
    assert first < out.index("-- attempt 2 --") < second, out
    assert out.count("attempt one fails") == 1 and out.count("attempt two works") == 1, out


def test_run_follow_prints_each_line_as_the_step_prints_it(celery_worker, live_server):
    user = make_user("alice")
    spec = make_spec(name="talker", params=[], steps=[{"name": "talk", "fn": "workflow:talk"}])
    publish(user, spec=spec, files={"workflow.py": SOURCE})
    env = {**os.environ, "FLOWDECK_URL": live_server.url, "FLOWDECK_TOKEN": make_token(user)}
    cli = subprocess.Popen(
        [sys.executable, "-c", "import sys; from flowdeck.cli import main; sys.exit(main())",
         "run", "alice/talker", "--follow"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )
    lines = [(time.monotonic(), line.rstrip("\n")) for line in cli.stdout]
    assert cli.wait(timeout=30) == 0, (lines, cli.stderr.read())
    printed = {line: at for at, line in lines}
    assert "    | first line" in printed and "    | second line ✓" in printed and "    | last line" in printed, lines
    assert printed["    | last line"] - printed["    | first line"] > 0.5, lines
    assert [line for _, line in lines].count("    | first line") == 1, lines
    assert lines[-1][1].startswith("Run ") and lines[-1][1].endswith(" succeeded"), lines
