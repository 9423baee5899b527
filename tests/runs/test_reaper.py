"""The reaper and the re-execution clean-up, on the database (the SIGKILL end to end is in
test_faults.py): lost steps are requeued or failed, lost messages are sent again, and a
step executed again drops what its dead attempt logged."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import Metric, MetricSummary, StepRun, StepStatus, WorkerNode
from runs.services.lifecycle import run_start
from runs.services.reaper import forget_attempt, steps_reap, takeover_dead_local
from runs.services.tracking import log_batch
from tests.factories import publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(user):
    return run_start(user=user, version=publish(user))


def _running(step: StepRun, *, beat_age_s: float, attempt: int = 1, worker: str = "gone-host:123") -> StepRun:
    beat = timezone.now() - timedelta(seconds=beat_age_s)
    StepRun.objects.filter(pk=step.pk).update(status=StepStatus.RUNNING, attempt=attempt, heartbeat_at=beat,
                                              started_at=beat, worker=worker)
    step.refresh_from_db()
    return step


def test_a_step_whose_heartbeat_stopped_is_requeued(run, settings):
    settings.FLOWDECK_HEARTBEAT_TIMEOUT_S = 30
    lost = _running(run.steps.get(name="a"), beat_age_s=120)
    assert steps_reap()["requeued"] == 1
    lost.refresh_from_db()
    assert lost.status == StepStatus.QUEUED and "stopped sending heartbeats" in lost.error
    assert steps_reap()["requeued"] == 0  # once


def test_a_step_with_a_fresh_heartbeat_is_left_alone(run, settings):
    settings.FLOWDECK_HEARTBEAT_TIMEOUT_S = 30
    alive = _running(run.steps.get(name="a"), beat_age_s=2)
    assert steps_reap()["requeued"] == 0
    alive.refresh_from_db()
    assert alive.status == StepStatus.RUNNING


def test_a_step_that_keeps_losing_its_worker_fails_and_the_run_moves_on(run, settings):
    settings.FLOWDECK_HEARTBEAT_TIMEOUT_S = 30
    lost = _running(run.steps.get(name="a"), beat_age_s=120, attempt=3)  # retries 0 + 2 losses
    assert steps_reap()["failed"] == 1
    lost.refresh_from_db()
    assert lost.status == StepStatus.FAILED and "Lost its worker" in lost.error
    run.refresh_from_db()
    assert run.status == "failed"
    assert set(run.steps.exclude(name="a").values_list("status", flat=True)) == {StepStatus.SKIPPED}


def test_queued_steps_nobody_claimed_are_sent_again(run, settings):
    settings.FLOWDECK_REDISPATCH_S = 60
    old = timezone.now() - timedelta(seconds=600)
    StepRun.objects.filter(run=run, name="a").update(status=StepStatus.QUEUED, queued_at=old)
    assert steps_reap()["resent"] == 0  # no live worker serves its queue: sending more would only pile up
    WorkerNode.objects.create(name="w1@host", hostname="host", queues=["flowdeck"], last_seen=timezone.now())
    assert steps_reap()["resent"] == 1
    assert StepRun.objects.get(run=run, name="a").queued_at > old
    assert steps_reap()["resent"] == 0  # not again until the interval has passed once more


def test_a_run_with_nothing_in_flight_is_advanced(run, settings):
    settings.FLOWDECK_REDISPATCH_S = 60
    type(run).objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=600))
    assert run.steps.get(name="a").status == StepStatus.PENDING  # its first run_advance message was lost
    assert steps_reap()["advanced"] == 1
    assert run.steps.get(name="a").status == StepStatus.QUEUED


def test_a_redelivered_step_of_a_dead_local_worker_is_taken_over(run):
    import socket

    dead = _running(run.steps.get(name="a"), beat_age_s=1, worker=f"celery@{socket.gethostname()}:999999999")
    assert takeover_dead_local(dead.pk, "me:1")
    dead.refresh_from_db()
    assert dead.attempt == 2 and dead.worker == "me:1" and dead.status == StepStatus.RUNNING
    alive = _running(run.steps.get(name="b"), beat_age_s=1, worker=f"{socket.gethostname()}:1")  # pid 1 lives
    assert not takeover_dead_local(alive.pk, "me:1")
    elsewhere = _running(run.steps.get(name="c"), beat_age_s=1, worker="another-host:999999999")
    assert not takeover_dead_local(elsewhere.pk, "me:1")  # the reaper's job, by heartbeat


def test_executing_again_drops_the_dead_attempts_points_and_rebuilds_summaries(run):
    step_a, step_b = run.steps.get(name="a"), run.steps.get(name="b")
    log_batch(run=run, metrics=[{"key": "loss", "value": v, "step": i} for i, v in enumerate([5.0, 4.0, 3.0])],
              origin=step_a.pk)
    log_batch(run=run, metrics=[{"key": "loss", "value": 9.0, "step": 10}, {"key": "acc", "value": 0.5}],
              origin=step_b.pk)
    forget_attempt(_running(step_b, beat_age_s=0, attempt=2))
    assert sorted(Metric.objects.values_list("key", "value")) == [("loss", 3.0), ("loss", 4.0), ("loss", 5.0)]
    loss = MetricSummary.objects.get(run=run, key="loss")
    assert (loss.last, loss.last_step, loss.min, loss.max, loss.count) == (3.0, 2, 3.0, 5.0, 3)
    assert not MetricSummary.objects.filter(run=run, key="acc").exists()
