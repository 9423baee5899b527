"""The log-batch fast path (runs/log_batch_fast.py): a bearer-token batch is stored before
the rest of the middleware and DRF, and answers exactly as the API view does; every other
request, and every refusal, is answered by the view in the one error shape."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.services import token_create_for_run
from accounts.step_tokens import step_token_issue
from runs.api import LogBatchApi
from runs.models import MetricSummary, RunParam
from runs.services.lifecycle import run_start
from tests.factories import assert_error, make_token, make_user, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(user):
    return run_start(user=user, version=publish(user))


def url(run_id: int) -> str:
    return f"/api/v1/runs/{run_id}/log-batch"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def view_refuses_everything(monkeypatch):
    """The API view answers 418 to anything that reaches it: a 200 then came from the fast path."""
    from rest_framework.response import Response

    monkeypatch.setattr(LogBatchApi, "post", lambda self, request, run_id: Response({"teapot": True}, status=418))


def batch(start: int = 0, n: int = 3) -> dict:
    steps = list(range(start, start + n))
    return {"metrics": {"loss": {"step": steps, "value": [1.0 / (s + 1) for s in steps]}}, "batch_id": f"b{start}"}


def test_a_token_batch_is_stored_by_the_fast_path_and_read_back(user, run, view_refuses_everything):
    client = bearer(make_token(user))
    response = client.post(url(run.pk), batch(), format="json")
    assert response.status_code == 200, response.content
    assert response.content == b'{"stored":true}' and response["Content-Type"] == "application/json"
    replay = client.post(url(run.pk), batch(), format="json")
    assert replay.content == b'{"stored":false}'
    summary = MetricSummary.objects.get(run=run, key="loss")
    assert (summary.count, summary.last_step, summary.min) == (3, 2, pytest.approx(1 / 3))
    # The security headers every response carries.
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_params_and_tags_go_the_fast_path_too(user, run, view_refuses_everything):
    response = bearer(make_token(user)).post(url(run.pk), {"params": {"lr": 0.1}, "tags": {"t": "x"}}, format="json")
    assert response.status_code == 200, response.content
    assert RunParam.objects.get(run=run, key="lr").value == "0.1"


def test_step_and_run_scoped_tokens_take_it(user, run, view_refuses_everything):
    step = run.steps.first()
    step.status, step.attempt = "running", 1
    step.save(update_fields=["status", "attempt"])
    assert bearer(step_token_issue(step_run_id=step.pk, attempt=1)).post(url(run.pk), batch(0), format="json").status_code == 200
    _token, plaintext = token_create_for_run(user=user, run_id=run.pk)
    assert bearer(plaintext).post(url(run.pk), batch(10), format="json").status_code == 200
    assert MetricSummary.objects.get(run=run, key="loss").count == 6


@pytest.mark.parametrize("fast", [True, False])
def test_the_answers_are_the_views_with_the_fast_path_on_or_off(user, other_user, run, settings, fast):
    """Each refusal, asked with the fast path on and off: the same status and error shape,
    and nothing stored."""
    settings.FLOWDECK_FAST_INGEST = fast
    mine = make_token(user)
    assert_error(bearer("fdk_not-a-token").post(url(run.pk), batch(), format="json"), 401, "not_authenticated")
    assert_error(bearer(make_token(user, ["read"])).post(url(run.pk), batch(), format="json"), 403)
    assert_error(bearer(make_token(other_user)).post(url(run.pk), batch(), format="json"), 404)
    assert_error(bearer(mine).post(url(run.pk + 999), batch(), format="json"), 404)
    _token, scoped = token_create_for_run(user=user, run_id=run.pk)
    other_run = run_start(user=user, version=run.asset_version)
    assert_error(bearer(scoped).post(url(other_run.pk), batch(), format="json"), 404)
    client = bearer(mine)
    assert_error(client.post(url(run.pk), b'{"metrics": {"loss": {"value": [NaN]}}}', content_type="application/json"),
                 400, "parse_error")
    assert_error(client.post(url(run.pk), b"[1, 2]", content_type="application/json"), 400, "invalid")
    assert_error(client.post(url(run.pk), {"metrics": {"x" * 300: {"value": [1]}}}, format="json"), 400, "invalid")
    assert_error(client.post(url(run.pk), b"metrics=1", content_type="application/x-www-form-urlencoded"), 415)
    assert not MetricSummary.objects.filter(run=run).exists()
    assert client.post(url(run.pk), batch(), format="json").json() == {"stored": True}


def test_a_disallowed_host_is_refused(user, run, view_refuses_everything):
    response = bearer(make_token(user)).post(url(run.pk), batch(), format="json", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert not MetricSummary.objects.filter(run=run).exists()


def test_a_browser_session_never_takes_it_and_csrf_still_holds(user, run):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(url(run.pk), batch(), format="json")
    assert_error(response, 403)
    assert "CSRF" in response.json()["error"]["message"]
    assert not MetricSummary.objects.filter(run=run).exists()


def test_a_deactivated_account_is_refused(run):
    bob = make_user("carol")
    token = make_token(bob)
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    assert_error(bearer(token).post(url(run.pk), batch(), format="json"), 401)
