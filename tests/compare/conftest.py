"""Runs to compare, written through the public API as a client would write them: tracked runs
with params, tags, metric histories and artifacts."""
from __future__ import annotations

import pytest

from tests.compare.tracked import track


@pytest.fixture
def client(user, auth_client):
    return auth_client(user)


@pytest.fixture
def sweep(client) -> dict[str, int]:
    """Three runs of one sweep: lr and the loss curve differ, optimizer and the team tag do not."""
    return {
        "a": track(client, "a", params={"lr": 0.1, "optimizer": "adam"}, tags={"team": "cv", "seed": "1"},
                   metrics={"loss": [1.0, 0.6, 0.4, 0.5], "accuracy": [0.5, 0.7, 0.8, 0.78]}),
        "b": track(client, "b", params={"lr": 0.01, "optimizer": "adam"}, tags={"team": "cv", "seed": "2"},
                   metrics={"loss": [1.0, 0.8, 0.3, 0.2], "accuracy": [0.5, 0.6, 0.85, 0.9]}),
        "c": track(client, "c", params={"lr": 0.001, "optimizer": "adam"}, tags={"team": "cv", "seed": "3"},
                   metrics={"loss": [1.0, 0.9, 0.85, 0.8]}),
    }
