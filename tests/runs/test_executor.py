"""The worker side without a worker: the bundle cache and the step's clean environment."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core import storage
from runs.bundle_cache import BundleError, bundle_dir
from runs.services.execute import step_environment
from tests.factories import WORKFLOW_SOURCE, make_bundle


@pytest.fixture
def cache(settings, tmp_path) -> Path:
    settings.FLOWDECK_WORKER_CACHE = tmp_path / "cache"
    return tmp_path / "cache"


def test_it_unpacks_a_bundle_once_and_verifies_it(cache):
    bundle = make_bundle({"workflow.py": WORKFLOW_SOURCE, "pkg/util.py": "X = 1\n"})
    digest = hashlib.sha256(bundle).hexdigest()
    storage.put(storage.bundle_key(digest), bundle)

    folder = bundle_dir(digest)
    assert folder == cache / "bundles" / digest
    assert (folder / "workflow.py").read_text() == WORKFLOW_SOURCE
    assert (folder / "pkg" / "util.py").read_text() == "X = 1\n"

    storage.delete(storage.bundle_key(digest))  # a cached bundle is not fetched again
    assert bundle_dir(digest) == folder
    assert [p.name for p in (cache / "bundles").iterdir()] == [digest]  # no staging leftovers


def test_it_refuses_a_bundle_whose_bytes_do_not_match_its_digest(cache):
    digest = hashlib.sha256(b"what was published").hexdigest()
    storage.put(storage.bundle_key(digest), make_bundle({"workflow.py": "tampered = True\n"}))
    with pytest.raises(BundleError, match="verification"):
        bundle_dir(digest)
    assert not (cache / "bundles" / digest).exists()


def test_it_is_deterministic():
    files = {"b.py": "b = 2\n", "a.py": "a = 1\n"}
    assert make_bundle(files) == make_bundle(dict(reversed(list(files.items()))))


def test_the_step_gets_nothing_from_the_worker_environment(monkeypatch, settings, tmp_path):
    for name, value in {
        "DATABASE_URL": "postgres://u:p@db/flowdeck",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t",
        "AWS_ACCESS_KEY_ID": "AKIA",
        "DJANGO_SECRET_KEY": "django",
        "CELERY_BROKER_URL": "redis://broker",
    }.items():
        monkeypatch.setenv(name, value)
    settings.FLOWDECK_INTERNAL_URL = "http://api.internal:8000"
    env = step_environment(tmp_path, "fdk_run_token", 7, "train")
    assert set(env) == {
        "PATH", "HOME", "TMPDIR", "LANG", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE",
        "FLOWDECK_URL", "FLOWDECK_TOKEN", "FLOWDECK_RUN_ID", "FLOWDECK_STEP",
    }
    assert env["FLOWDECK_URL"] == "http://api.internal:8000"
    assert (env["FLOWDECK_TOKEN"], env["FLOWDECK_RUN_ID"], env["FLOWDECK_STEP"]) == ("fdk_run_token", "7", "train")
    assert env["HOME"] == env["TMPDIR"] == str(tmp_path / "scratch")
    assert not any(secret in value for value in env.values() for secret in ("s3cr3t", "django", "u:p@db"))
