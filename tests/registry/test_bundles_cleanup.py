"""Stored bundles that no version refers to are deleted once they are old enough."""
from __future__ import annotations

import io
import os
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from core import storage
from registry.services import bundles_cleanup
from registry.tasks import bundles_cleanup_task
from tests.factories import make_bundle, publish

pytestmark = pytest.mark.django_db


def _orphan(text: str) -> str:
    """A bundle stored with no version referring to it (as a failed publish leaves behind)."""
    import hashlib

    data = make_bundle({"workflow.py": f"# {text}\n"})
    key = storage.bundle_key(hashlib.sha256(data).hexdigest())
    storage.put(key, data)
    return key


def test_it_deletes_an_old_orphan_and_keeps_referenced_and_young_ones_on_s3(user, monkeypatch):
    referenced = storage.bundle_key(publish(user).bundle_digest)
    orphan = _orphan("s3 orphan")

    bundles_cleanup(older_than_s=3600)  # just stored: a publish may still be under way
    assert storage.exists(orphan) and storage.exists(referenced)

    # Two hours on, the orphan is older than the threshold.
    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert bundles_cleanup(older_than_s=3600) >= 1
    monkeypatch.undo()
    assert not storage.exists(orphan)
    assert storage.exists(referenced)


def test_it_counts_exactly_what_it_deletes_on_local_storage(user, local_storage):
    referenced = storage.bundle_key(publish(user).bundle_digest)
    old_orphan, young_orphan = _orphan("old"), _orphan("young")
    two_hours_ago = time.time() - 7200
    for key in (old_orphan, referenced):
        os.utime(local_storage / key, (two_hours_ago, two_hours_ago))

    assert bundles_cleanup(older_than_s=3600) == 1
    assert not storage.exists(old_orphan)
    assert storage.exists(young_orphan) and storage.exists(referenced)


def test_the_command_and_the_task_call_the_service(user, local_storage):
    first, second = _orphan("one"), _orphan("two")
    out = io.StringIO()
    call_command("bundles_cleanup", "--older-than", "0", stdout=out)
    assert "Deleted 2 orphaned bundles." in out.getvalue()
    assert not storage.exists(first) and not storage.exists(second)

    third = _orphan("three")
    assert bundles_cleanup_task(older_than_s=0) == 1
    assert not storage.exists(third)
