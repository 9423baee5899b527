"""Fixtures for the accounts tests: a team with one member of each role, and the permission
matrix's world, built once per module and committed, then flushed."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from accounts.models import Team
from accounts.services import membership_set, team_create
from tests.accounts.matrix_world import World, build_world
from tests.factories import make_user


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[World]:
    from django.core.management import call_command

    with django_db_blocker.unblock():
        built = build_world()
    try:
        yield built
    finally:
        from core import storage

        storage.delete_prefix("runs/")  # the world's logs and artifacts (kept through its cells)
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # The limiter counts in the cache; one test's attempts must not throttle the next.
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@dataclass
class Crew:
    team: Team
    admin: object
    editor: object
    viewer: object
    outsider: object


@pytest.fixture
def crew(user, other_user) -> Crew:
    """Team ``acme``: alice admin, bob editor, vic viewer; olga is in no team."""
    team = team_create(slug="acme", owner=user)
    membership_set(team=team, user=other_user, role="editor")
    viewer = make_user("vic")
    membership_set(team=team, user=viewer, role="viewer")
    return Crew(team=team, admin=user, editor=other_user, viewer=viewer, outsider=make_user("olga"))
