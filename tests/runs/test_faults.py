"""Faults injected for real into the execution engine (issue 5): a worker killed in the middle
of a step, the broker restarted, the S3 store gone while outputs are uploaded, and steps that
exit non-zero, hang past their timeout or print 50 MB of logs.

Each test runs real worker processes against the test database; the broker and S3 faults
use a Redis server and a TCP proxy of the test's own, never the shared ones.
"""
from __future__ import annotations

import os
import pickle
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import override_settings
from django.utils import timezone

from core import storage
from runs.models import Artifact, Metric, Run, RunStatus, StepRun, StepStatus
from runs.stored_logs import log_bytes
from runs.services.lifecycle import run_start
from runs.stored_outputs import output_bytes, output_present
from tests.factories import make_user
from tests.fault_tools import (
    RedisServer,
    TcpProxy,
    assert_points_once,
    describe,
    pids_in,
    steps_of,
    wait_for_run,
    pool_pids,
    process_alive,
    publish_sdk_workflow,
    worker_kill_all,
)

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Engine timings for the workers of these tests: a heartbeat every second, and a step whose
# heartbeat is 3 s old counts as lost.
FAST_HEARTBEAT = {"FLOWDECK_HEARTBEAT_S": "1", "FLOWDECK_HEARTBEAT_TIMEOUT_S": "3"}


# --- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def start_worker(celery_worker_factory) -> Callable:
    """``start_worker(broker_url=None, **extra_env)``: a worker of this test's own, on the
    session's broker unless ``broker_url``, with ``extra_env`` (engine timings, an S3
    endpoint) on top of the usual environment."""

    def start(broker_url: str | None = None, **extra_env: str):
        if broker_url is not None:
            extra_env["CELERY_BROKER_URL"] = broker_url
        return celery_worker_factory(purge=broker_url is None, extra_env=extra_env)

    return start


def _broker_settings() -> dict:
    from config.celery import app

    return {name: app.conf.get(name) for name in ("broker_url", "broker_read_url", "broker_write_url", "broker_transport",
                                                  "broker_transport_options")}


def _broker_settings_set(values: dict) -> None:
    """Point this process's Celery app at another broker. The read and write URLs are set
    too: ``conf.broker_url`` prefers the CELERY_BROKER_URL environment variable."""
    from kombu import pools

    from config.celery import app

    for name, value in values.items():
        app.conf[name] = value
    # kombu keeps connection and producer pools per broker URL, process-wide: close them all
    # and let the app build new ones for the URL it now has.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisServer]:
    """A Redis server of this test's own, and this process's Celery app pointed at it (the
    app goes back to the session's broker afterwards)."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    before = _broker_settings()
    _broker_settings_set({"broker_url": server.url, "broker_read_url": server.url, "broker_write_url": server.url,
                          "broker_transport": "redis",  # not the file broker's transport class (SQLite's default)
                          "broker_transport_options": {}})
    try:
        yield server
    finally:
        _broker_settings_set(before)
        server.kill()


@pytest.fixture
def s3_proxy(s3_store) -> Iterator[TcpProxy]:
    """A TCP proxy in front of the session's S3 store, which a test can cut."""
    endpoint = urlsplit(s3_store.endpoint_url)
    proxy = TcpProxy(endpoint.hostname, endpoint.port or 80)
    proxy.up()
    try:
        yield proxy
    finally:
        proxy.down()


# --- 1. a worker killed in the middle of a step ------------------------------------------------------
# train logs five points and an artifact, then sleeps: for a minute on its first attempt (it
# is killed during that sleep), for a moment on any later one. The pid file tells them apart.
KILLED_SOURCE = '''\
import os
import time
from pathlib import Path

from flowdeck import Param, Workflow, log_artifact, log_metric

wf = Workflow("killed-mid-step", params=[Param("marker_dir", str, "")])


@wf.step(outputs=["model"])
def train(marker_dir: str):
    pids = Path(marker_dir) / "train.pids"
    first = not pids.exists()
    with open(pids, "a") as fh:
        fh.write(f"{os.getpid()}\\n")
    for i in range(5):
        log_metric("loss", 1.0 / (i + 1), step=i)
    Path("model.txt").write_text("weights v1")
    log_artifact("model.txt")
    time.sleep(60 if first else 0.5)
    return "weights v1"


@wf.step(depends_on=["train"], outputs=["size"])
def evaluate(model: str):
    log_metric("accuracy", 0.9)
    return len(model)
'''


def _wait_for_first_attempt_logged(worker, run_id: int, marker: Path) -> StepRun:
    """Until train's first attempt has stored its points and artifact and is sleeping."""

    def logged():
        step = StepRun.objects.get(run_id=run_id, name="train")
        points = Metric.objects.filter(run_id=run_id, key="loss").count()
        artifact = Artifact.objects.filter(run_id=run_id, path="model.txt").exists()
        if step.status == StepStatus.RUNNING and len(pids_in(marker)) == 1 and points == 5 and artifact:
            return step
        return None

    return worker.wait_for(logged, timeout=45, what="train's first attempt to log its metrics and artifact")


def _assert_recovered_once(run: Run, marker: Path) -> None:
    steps = steps_of(run)
    train, evaluate = steps["train"], steps["evaluate"]
    assert run.status == RunStatus.SUCCEEDED, describe(run)
    assert (train.status, train.attempt) == (StepStatus.SUCCEEDED, 2), describe(run)
    assert (evaluate.status, evaluate.attempt) == (StepStatus.SUCCEEDED, 1), describe(run)
    # Executed exactly twice: the killed attempt and one more.
    first_pid, second_pid = pids_in(marker)
    # No metric point twice, none missing; the points are the second attempt's.
    assert_points_once(run, {"loss": 5, "accuracy": 1})
    assert set(Metric.objects.filter(run=run, key="loss").values_list("origin", flat=True)) == {train.pk}
    # The artifact and both outputs are stored, and hold what the steps made.
    assert list(run.artifacts.values_list("path", flat=True)) == ["model.txt"]
    assert storage.read(storage.artifact_key(run.pk, "model.txt")) == b"weights v1"
    assert "key" not in train.outputs["model"]  # short: kept in the row the second attempt recorded
    assert pickle.loads(output_bytes(train.outputs["model"])) == "weights v1"
    assert pickle.loads(output_bytes(evaluate.outputs["size"])) == 10
    assert evaluate.outputs["size"]["value"] == 10
    assert b"attempt 2" in log_bytes(train)
    # The killed attempt's step code is not still running somewhere: it went with its worker.
    assert not process_alive(first_pid), f"the killed attempt's step process {first_pid} outlived its worker"


# The same workflow with a step before train: train is then picked up by the process that ran
# prepare (no message of its own), and the message that comes back is prepare's.
KILLED_AFTER_PREPARE_SOURCE = KILLED_SOURCE.replace(
    '@wf.step(outputs=["model"])\ndef train(marker_dir: str):',
    '@wf.step(outputs=["n"])\ndef prepare():\n    return 1\n\n\n'
    '@wf.step(depends_on=["prepare"], outputs=["model"])\ndef train(marker_dir: str, n: int):',
)


@pytest.mark.parametrize("source", [KILLED_SOURCE, KILLED_AFTER_PREPARE_SOURCE], ids=["own-message", "picked-up"])
def test_it_reruns_a_step_once_when_its_pool_process_is_killed(celery_worker, tmp_path, source):
    """SIGKILL the Celery pool process that runs the step: the message comes back (acks late,
    reject on worker lost), the step's dead owner is seen at once, and the step runs again.
    So too when the step had no message of its own (picked up after prepare, in the same
    process): the message that comes back, prepare's, takes it over."""
    user = make_user("alice")
    version = publish_sdk_workflow(user, tmp_path / "wf", source)
    marker = tmp_path / "train.pids"
    run = run_start(user=user, version=version, params={"marker_dir": str(tmp_path)})

    step = _wait_for_first_attempt_logged(celery_worker, run.pk, marker)
    if source is KILLED_AFTER_PREPARE_SOURCE:
        assert StepRun.objects.get(run=run, name="prepare").worker == step.worker  # picked up, not sent
    host, _, pid = step.worker.rpartition(":")
    pid = int(pid)
    assert pid in pool_pids(celery_worker), (step.worker, pool_pids(celery_worker))
    killed_at = timezone.now()
    os.kill(pid, signal.SIGKILL)

    run = wait_for_run(celery_worker, run.pk, timeout=45)
    _assert_recovered_once(run, marker)
    train = StepRun.objects.get(pk=step.pk)
    assert train.worker != step.worker
    # Taken over as soon as the message came back, not minutes later by the reaper.
    assert (train.started_at - killed_at).total_seconds() < 15, (killed_at, train.started_at)
    assert celery_worker.alive()


def test_it_reaps_a_step_whose_whole_worker_was_killed(own_redis, start_worker, tmp_path):
    """SIGKILL a whole worker (main process and pool, as a lost machine): no message comes
    back, so the heartbeat reaper finds the step and requeues it for another worker."""
    from runs.services.reaper import steps_reap

    user = make_user("alice")
    version = publish_sdk_workflow(user, tmp_path / "wf", KILLED_SOURCE)
    marker = tmp_path / "train.pids"
    first = start_worker(broker_url=own_redis.url, **FAST_HEARTBEAT)
    run = run_start(user=user, version=version, params={"marker_dir": str(tmp_path)})
    step = _wait_for_first_attempt_logged(first, run.pk, marker)
    # A live step's heartbeat is kept fresh: the reaper leaves it alone.
    with override_settings(FLOWDECK_HEARTBEAT_TIMEOUT_S=3):
        time.sleep(3.5)
        steps_reap()
    assert StepRun.objects.get(pk=step.pk).status == StepStatus.RUNNING
    assert len(pids_in(marker)) == 1

    worker_kill_all(first)
    second = start_worker(broker_url=own_redis.url, **FAST_HEARTBEAT)

    def reap():
        with override_settings(FLOWDECK_HEARTBEAT_TIMEOUT_S=3):
            steps_reap()

    run = wait_for_run(second, run.pk, timeout=45, each=reap)
    _assert_recovered_once(run, marker)


# --- 2. the broker restarted during a run --------------------------------------------------------------
CHAIN_SOURCE = '''\
import time

from flowdeck import Param, Workflow

wf = Workflow("broker-restart", params=[Param("pause", float, 0.0)])


@wf.step(outputs=["x"])
def a(pause: float):
    time.sleep(pause)
    return 2


@wf.step(depends_on=["a"], outputs=["y"])
def b(x: int, pause: float):
    time.sleep(pause / 4)
    return x * 10


@wf.step(depends_on=["b"], outputs=["z"])
def c(y: int):
    return y + 1
'''


def _assert_chain_succeeded(run: Run) -> None:
    assert run.status == RunStatus.SUCCEEDED, describe(run)
    steps = steps_of(run)
    assert [s.status for s in steps.values()] == [StepStatus.SUCCEEDED] * 3, describe(run)
    assert pickle.loads(output_bytes(steps["c"].outputs["z"])) == 21


def test_it_finishes_a_run_when_redis_restarts_while_a_step_runs(own_redis, start_worker, tmp_path):
    user = make_user("alice")
    version = publish_sdk_workflow(user, tmp_path / "wf", CHAIN_SOURCE)
    worker = start_worker(broker_url=own_redis.url, **FAST_HEARTBEAT)
    run = run_start(user=user, version=version, params={"pause": 6.0})
    worker.wait_for(lambda: StepRun.objects.filter(run=run, name="a", status=StepStatus.RUNNING).exists(),
                    timeout=30, what="step a to run")

    own_redis.kill()  # every queued and unacknowledged message is gone with it
    time.sleep(2)
    own_redis.start()

    run = wait_for_run(worker, run.pk, timeout=50)
    _assert_chain_succeeded(run)
    assert worker.alive()


def test_it_finishes_a_run_when_redis_is_down_as_the_next_step_is_dispatched(own_redis, start_worker, tmp_path):
    """Step a ends while the broker is down, so b's message cannot be sent. Once the broker is
    back the reaper sends it again (beat runs the reaper; here the test calls it). The worker
    picks up nothing (FLOWDECK_PICKUP_S=0): a's process would otherwise run b itself, with
    no message to send."""
    from runs.services.reaper import steps_reap

    user = make_user("alice")
    version = publish_sdk_workflow(user, tmp_path / "wf", CHAIN_SOURCE)
    worker = start_worker(broker_url=own_redis.url, FLOWDECK_PICKUP_S="0", **FAST_HEARTBEAT)
    run = run_start(user=user, version=version, params={"pause": 2.0})
    worker.wait_for(lambda: StepRun.objects.filter(run=run, name="a", status=StepStatus.RUNNING).exists(),
                    timeout=30, what="step a to run")

    own_redis.kill()
    worker.wait_for(lambda: StepRun.objects.filter(run=run, name="a", status=StepStatus.SUCCEEDED).exists(),
                    timeout=30, what="step a to end while the broker is down")
    time.sleep(1)
    own_redis.start()

    def reap():
        with override_settings(FLOWDECK_HEARTBEAT_TIMEOUT_S=3, FLOWDECK_REDISPATCH_S=2):
            steps_reap()

    run = wait_for_run(worker, run.pk, timeout=50, each=reap)
    _assert_chain_succeeded(run)
    assert worker.alive()


# --- 3. the S3 store unavailable while outputs are uploaded -----------------------------------------------
# produce leaves a mark when it starts, then sleeps: the test cuts S3 during that sleep, so
# the bundle came down fine but the outputs cannot go up.
S3_SOURCE = '''\
import os
import time
from pathlib import Path

from flowdeck import Param, Workflow

wf = Workflow("s3-outage", params=[Param("marker_dir", str, ""), Param("pause", float, 0.0)])


@wf.step(outputs=["blob", "count"], retries=RETRIES)
def produce(marker_dir: str, pause: float):
    Path(marker_dir, f"produce.{os.getpid()}").touch()
    time.sleep(pause)
    return {"blob": bytes(range(256)) * 4096, "count": 7}


@wf.step(depends_on=["produce"], outputs=["size"])
def consume(blob: bytes, count: int):
    return len(blob) + count
'''

BLOB = bytes(range(256)) * 4096


def _wait_for_produce_started(worker, marker_dir: Path, n: int = 1) -> None:
    worker.wait_for(lambda: len(list(marker_dir.glob("produce.*"))) >= n, timeout=30, what="produce to start")


def _assert_outputs_stored(run: Run) -> None:
    """A succeeded step's every declared output is in the store and reads back right."""
    steps = steps_of(run)
    produce, consume = steps["produce"], steps["consume"]
    assert set(produce.outputs) == {"blob", "count"}
    # The 1 MB blob goes to the store; the count is short enough for the step's row.
    assert "key" in produce.outputs["blob"] and "key" not in produce.outputs["count"]
    for name, meta in produce.outputs.items():
        assert output_present(meta), f"output {name} of a succeeded step is missing"
        assert len(output_bytes(meta)) == meta["size"]
    assert storage.size(produce.outputs["blob"]["key"]) == produce.outputs["blob"]["size"]
    assert pickle.loads(output_bytes(produce.outputs["blob"])) == BLOB
    assert pickle.loads(output_bytes(produce.outputs["count"])) == 7
    assert pickle.loads(output_bytes(consume.outputs["size"])) == len(BLOB) + 7


def test_it_fails_a_step_clearly_when_s3_is_down_for_its_outputs(s3_proxy, start_worker, auth_client, tmp_path):
    user = make_user("alice")
    version = publish_sdk_workflow(user, tmp_path / "wf", S3_SOURCE.replace("RETRIES", "0"))
    worker = start_worker(FLOWDECK_S3_ENDPOINT_URL=s3_proxy.url)
    markers = tmp_path / "markers"
    markers.mkdir()
    # Two seconds: long enough for the worker to ship the start of the log live.
    run = run_start(user=user, version=version, params={"marker_dir": str(markers), "pause": 2.0})
    _wait_for_produce_started(worker, markers)
    s3_proxy.down()
    try:
        run = wait_for_run(worker, run.pk, timeout=50)
    finally:
        s3_proxy.up()

    produce = steps_of(run)["produce"]
    assert run.status == RunStatus.FAILED, describe(run)
    assert produce.status == StepStatus.FAILED, describe(run)
    # The error says what went wrong: storage could not be reached.
    assert re.search(r"(?i)\bs3\b|storage|store|endpoint|connect|upload", produce.error), produce.error
    assert produce.outputs == {} or all(output_present(m) for m in produce.outputs.values())
    assert steps_of(run)["consume"].status == StepStatus.SKIPPED
    # The log could not be stored either; what was shipped live while the step ran is kept.
    response = auth_client(user).get(f"/api/v1/runs/{run.pk}/steps/produce/log?offset=0")
    assert response.status_code == 200, response.content[:500]
    assert "[flowdeck] step produce" in response.json()["text"], response.json()

    # Once the store is back the same worker stores outputs again.
    again = run_start(user=user, version=version, params={"marker_dir": str(markers), "pause": 0.0})
    again = wait_for_run(worker, again.pk, timeout=45)
    assert again.status == RunStatus.SUCCEEDED, describe(again)
    _assert_outputs_stored(again)


def test_it_retries_a_step_whose_outputs_could_not_be_stored(s3_proxy, start_worker, tmp_path):
    user = make_user("alice")
    version = publish_sdk_workflow(user, tmp_path / "wf", S3_SOURCE.replace("RETRIES", "2"))
    worker = start_worker(FLOWDECK_S3_ENDPOINT_URL=s3_proxy.url)
    markers = tmp_path / "markers"
    markers.mkdir()
    run = run_start(user=user, version=version, params={"marker_dir": str(markers), "pause": 1.0})
    _wait_for_produce_started(worker, markers)
    s3_proxy.down()
    # The store comes back once the first attempt has given up (or after 25 s at most).
    errors: list[str] = []

    def first_attempt_over():
        step = StepRun.objects.get(run=run, name="produce")
        if step.error:
            errors.append(step.error)
        return step.status != StepStatus.RUNNING or step.attempt > 1

    deadline = time.monotonic() + 25
    while not first_attempt_over() and time.monotonic() < deadline:
        time.sleep(0.05)
    s3_proxy.up()

    run = wait_for_run(worker, run.pk, timeout=50)
    assert run.status == RunStatus.SUCCEEDED, (describe(run), errors)
    produce = steps_of(run)["produce"]
    assert produce.attempt >= 2, describe(run)
    if errors:
        assert re.search(r"(?i)\bs3\b|storage|store|endpoint|connect|upload", errors[0]), errors
    _assert_outputs_stored(run)
