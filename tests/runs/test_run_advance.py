"""run_advance, run_stop and the step claim, without a worker: the database is the truth."""
from __future__ import annotations

import pytest

from accounts.models import ApiToken
from accounts.services import token_create_for_run
from core.errors import Conflict, Forbidden
from runs.models import RunStatus, StepRun, StepStatus
from runs.services.execute import claim
from runs.services.lifecycle import run_advance, run_start, run_stop
from tests.factories import make_spec, publish

pytestmark = pytest.mark.django_db

# a and b are independent; c needs both.
FAN_IN = make_spec(
    name="fan-in",
    params=[],
    steps=[
        {"name": "a", "fn": "workflow:a"},
        {"name": "b", "fn": "workflow:a"},
        {"name": "c", "fn": "workflow:a", "depends_on": ["a", "b"]},
        {"name": "d", "fn": "workflow:a", "depends_on": ["c"]},
    ],
)


@pytest.fixture
def run(user):
    return run_start(user=user, version=publish(user, spec=FAN_IN))


def statuses(run) -> dict[str, str]:
    return dict(StepRun.objects.filter(run=run).values_list("name", "status"))


def finish(run, name: str, status: str) -> None:
    StepRun.objects.filter(run=run, name=name).update(status=status)


def test_it_queues_every_ready_step_once(run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as dispatches:
        first = run_advance(run_id=run.pk)
    assert sorted(StepRun.objects.get(pk=i).name for i in first) == ["a", "b"]
    assert len(dispatches) == 2  # one step_execute message per queued step, sent on commit
    assert statuses(run) == {"a": "queued", "b": "queued", "c": "pending", "d": "pending"}
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.started_at is not None

    with django_capture_on_commit_callbacks() as again:
        assert run_advance(run_id=run.pk) == []
    assert again == []


def test_it_waits_for_every_dependency(run):
    run_advance(run_id=run.pk)
    finish(run, "a", StepStatus.SUCCEEDED)
    assert run_advance(run_id=run.pk) == []
    finish(run, "b", StepStatus.SUCCEEDED)
    [queued] = run_advance(run_id=run.pk)
    assert StepRun.objects.get(pk=queued).name == "c"


def test_it_succeeds_when_every_step_succeeded(user, run):
    token, _ = token_create_for_run(user=user, run_id=run.pk)
    StepRun.objects.filter(run=run).update(status=StepStatus.SUCCEEDED)
    assert run_advance(run_id=run.pk) == []
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.finished_at is not None and run.error == ""
    token.refresh_from_db()
    assert token.revoked_at is not None  # the run token dies with the run


def test_it_skips_what_follows_a_failure_and_fails_the_run(run):
    run_advance(run_id=run.pk)
    finish(run, "a", StepStatus.FAILED)
    finish(run, "b", StepStatus.SUCCEEDED)
    assert run_advance(run_id=run.pk) == []
    assert statuses(run) == {"a": "failed", "b": "succeeded", "c": "skipped", "d": "skipped"}
    assert "'a'" in StepRun.objects.get(run=run, name="c").error
    assert "'c'" in StepRun.objects.get(run=run, name="d").error
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "a" in run.error


def test_it_keeps_the_run_open_while_a_step_is_running(run):
    run_advance(run_id=run.pk)
    finish(run, "a", StepStatus.FAILED)
    finish(run, "b", StepStatus.RUNNING)
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert statuses(run)["c"] == "skipped"


def test_it_ignores_a_missing_or_finished_run(run):
    assert run_advance(run_id=run.pk + 1000) == []
    StepRun.objects.filter(run=run).update(status=StepStatus.SUCCEEDED)
    run_advance(run_id=run.pk)
    assert run_advance(run_id=run.pk) == []


def test_it_stops_a_run(user, run):
    run_advance(run_id=run.pk)
    stopped = run_stop(user=user, run=run)
    assert stopped.status == RunStatus.STOPPED
    assert set(statuses(run).values()) == {"stopped"}
    with pytest.raises(Conflict):
        run_stop(user=user, run=run)


def test_it_lets_a_running_step_see_the_stop(user, run):
    run_advance(run_id=run.pk)
    finish(run, "a", StepStatus.RUNNING)
    assert run_stop(user=user, run=run).status == RunStatus.STOPPING
    assert statuses(run) == {"a": "running", "b": "stopped", "c": "stopped", "d": "stopped"}
    finish(run, "a", StepStatus.STOPPED)
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.STOPPED


def test_only_people_who_may_change_the_run_may_stop_it(other_user, run):
    with pytest.raises(Forbidden):
        run_stop(user=other_user, run=run)


def test_a_step_is_claimed_once(run):
    run_advance(run_id=run.pk)
    step = StepRun.objects.get(run=run, name="a")
    assert claim(step.pk) is True
    assert claim(step.pk) is False  # a redelivered message changes nothing
    step.refresh_from_db()
    assert (step.status, step.attempt) == (StepStatus.RUNNING, 1)
    assert step.worker and step.started_at and step.heartbeat_at
    assert claim(StepRun.objects.get(run=run, name="c").pk) is False  # pending, not queued


def test_the_stop_api_stops_a_run(user, auth_client, run):
    response = auth_client(user).post(f"/api/v1/runs/{run.pk}/stop")
    assert response.status_code == 200
    assert response.json()["status"] == "stopped"
    assert not ApiToken.objects.filter(run=run, revoked_at__isnull=True).exists()
