"""The permission matrix's world, built once per module and committed, then flushed."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.accounts.matrix_world import World, build_world


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

