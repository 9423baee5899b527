"""The real mlflow client (pinned in pyproject's test extras) against a live Flowdeck server.

``mlflow_env`` points the client at ``live_server``'s ``/mlflow`` with a Flowdeck token for
``alice``, exactly as a user would (environment variables only), and gives a raw ``http``
session for the error-shape checks that the client would turn into exceptions."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import requests


@dataclass
class MlflowEnv:
    url: str  # the tracking URI: <live server>/mlflow
    user: object
    token: str

    def call(self, method: str, route: str, *, token: str | None = None, **kwargs) -> requests.Response:
        """A raw request to ``<url>/api/2.0/mlflow/<route>`` as ``token`` (default alice's)."""
        headers = {"Authorization": f"Bearer {token or self.token}"} if token != "" else {}
        return requests.request(method, f"{self.url}/api/2.0/mlflow/{route}", headers=headers, timeout=30, **kwargs)


@pytest.fixture
def mlflow_env(live_server, transactional_db, monkeypatch) -> MlflowEnv:
    import mlflow

    from tests.factories import make_token, make_user

    from django.db import connections

    # The live server's request threads then close their connections after each request, so
    # none is left open on the test database when pytest-django drops it.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    user = make_user("alice")
    token = make_token(user)
    url = f"{live_server.url}/mlflow"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    yield MlflowEnv(url=url, user=user, token=token)
    while mlflow.active_run() is not None:
        mlflow.end_run()
    from mlflow.tracking import fluent

    # The fluent API remembers the last experiment; the next test's database has none.

    fluent._active_experiment_id = None
