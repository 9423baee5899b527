"""Step tokens: signed, written nowhere, valid exactly while their step attempt runs."""
from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.step_tokens import step_token_issue
from runs.models import Metric, StepRun, StepStatus
from runs.services.lifecycle import run_start
from tests.factories import assert_error, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def running_step(user):
    run = run_start(user=user, version=publish(user))
    step = run.steps.order_by("position").first()
    StepRun.objects.filter(pk=step.pk).update(status=StepStatus.RUNNING, attempt=1, started_at=timezone.now())
    step.refresh_from_db()
    return step


def _log(api_client, token: str, run_id: int, value: float = 0.5):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api_client.post(f"/api/v1/runs/{run_id}/log-batch", {"metrics": [{"key": "loss", "value": value}]},
                           format="json")


def test_a_step_token_logs_to_its_run_and_marks_the_points_as_the_steps(api_client, running_step):
    token = step_token_issue(step_run_id=running_step.pk, attempt=1)
    assert _log(api_client, token, running_step.run_id).status_code == 200
    assert list(Metric.objects.values_list("run_id", "origin")) == [(running_step.run_id, running_step.pk)]


def test_it_stops_working_when_its_attempt_is_over(api_client, running_step):
    token = step_token_issue(step_run_id=running_step.pk, attempt=1)
    StepRun.objects.filter(pk=running_step.pk).update(attempt=2)  # retried, or taken over
    assert_error(_log(api_client, token, running_step.run_id), 401)
    StepRun.objects.filter(pk=running_step.pk).update(attempt=1, status=StepStatus.SUCCEEDED)
    assert_error(_log(api_client, token, running_step.run_id), 401)
    assert not Metric.objects.exists()


def test_a_forged_or_altered_token_is_refused(api_client, running_step):
    token = step_token_issue(step_run_id=running_step.pk, attempt=1)
    body, _, signature = token.rpartition(".")
    for forged in (f"{body}.{'0' * len(signature)}", token.replace(f"fds_{running_step.pk}.", "fds_999999."),
                   "fds_1.1", "fds_x.y.z"):
        assert_error(_log(api_client, forged, running_step.run_id), 401)
    assert not Metric.objects.exists()


def test_it_reaches_nothing_but_its_own_run(api_client, user, running_step):
    other = run_start(user=user, version=running_step.run.asset_version)
    token = step_token_issue(step_run_id=running_step.pk, attempt=1)
    assert_error(_log(api_client, token, other.pk), 404)
    assert_error(api_client.get("/api/v1/runs"), 403)
    assert_error(api_client.get(f"/api/v1/runs/{running_step.run_id}"), 403)
    assert_error(api_client.post(f"/api/v1/runs/{running_step.run_id}/stop"), 403)
    assert not Metric.objects.exists()


def test_step_and_run_tokens_stop_working_when_the_run_ends(api_client, user, running_step):
    from accounts.models import ApiToken
    from accounts.services import token_create_for_run
    from runs.models import Run, RunStatus
    from runs.services.lifecycle import run_advance

    step_token = step_token_issue(step_run_id=running_step.pk, attempt=1)
    _token, run_token = token_create_for_run(user=user, run_id=running_step.run_id)
    assert _log(api_client, step_token, running_step.run_id).status_code == 200
    assert _log(api_client, run_token, running_step.run_id, 0.4).status_code == 200
    # The run ends: its steps are final, the run is final.
    StepRun.objects.filter(run_id=running_step.run_id).update(status=StepStatus.STOPPED, finished_at=timezone.now())
    Run.objects.filter(pk=running_step.run_id).update(status=RunStatus.STOPPING)
    run_advance(run_id=running_step.run_id)
    assert Run.objects.get(pk=running_step.run_id).status == RunStatus.STOPPED
    assert ApiToken.objects.get(run_id=running_step.run_id).revoked_at is not None
    assert_error(_log(api_client, step_token, running_step.run_id, 0.3), 401)
    assert_error(_log(api_client, run_token, running_step.run_id, 0.2), 401)
    assert Metric.objects.count() == 2
