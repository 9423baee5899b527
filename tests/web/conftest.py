"""Fixtures for the web UI tests: a published workflow with one parameter of each kind."""
from __future__ import annotations

import pytest

from tests.factories import make_spec, publish

README = """# Demo workflow

Multiplies **x** by `n`.

<script>alert("owned")</script>

<a href="javascript:alert(1)" onclick="alert(2)">click</a>
"""

PARAMS = [
    {"name": "n", "type": "int", "default": 3, "min": 1, "max": 100, "description": "Multiplier."},
    {"name": "rate", "type": "float", "default": 0.5, "description": "Learning rate."},
    {"name": "mode", "type": "enum", "choices": ["fast", "slow"], "default": "fast"},
    {"name": "flag", "type": "bool", "default": True},
    {"name": "cfg", "type": "json", "default": {"a": 1}},
    {"name": "label", "type": "str", "default": "hello"},
]


@pytest.fixture
def web_spec() -> dict:
    return make_spec(params=PARAMS)


@pytest.fixture
def workflow(user, web_spec):
    """alice/demo@1.0.0, public, with a README that tries to inject a script."""
    return publish(user, spec=web_spec, readme=README, changelog="First release.", tags=["demo", "ml"])


@pytest.fixture
def alice_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def bob_client(client, other_user):
    client.force_login(other_user)
    return client
