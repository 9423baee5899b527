"""What a published version keeps, and what a yank leaves in place for those already using it."""
from __future__ import annotations

import io
import json

import pytest
from django.test import Client
from django.utils import timezone

from gallery.services import subscription_set
from runs.services.lifecycle import run_start
from tests.factories import make_bundle, make_spec, publish

pytestmark = pytest.mark.django_db


def test_a_version_keeps_its_changelog_parameter_schema_publisher_and_time(user, auth_client):
    before = timezone.now()
    data = {"spec": json.dumps(make_spec()), "bundle": io.BytesIO(make_bundle()), "version": "2.0.0",
            "changelog": "Adds the n multiplier.", "readme": "# Demo"}
    data["bundle"].name = "bundle.tar.gz"
    assert auth_client(user).post("/api/v1/workflows/publish", data, format="multipart").status_code == 201
    body = auth_client(user).get("/api/v1/workflows/alice/demo/versions/2.0.0").json()
    assert body["changelog"] == "Adds the n multiplier." and body["readme"] == "# Demo"
    assert body["published_by"] == "alice"
    assert before <= timezone.datetime.fromisoformat(body["published_at"].replace("Z", "+00:00")) <= timezone.now()
    (param,) = body["spec"]["params"]
    assert {k: param[k] for k in ("name", "type", "default", "min", "max")} == {
        "name": "n", "type": "int", "default": 3, "min": 1, "max": 100}


def test_a_yanked_version_stays_visible_to_its_runs_and_pinned_subscribers(user, other_user, auth_client):
    publish(user, version="1.0.0")
    yanked = publish(user, version="1.1.0")
    run = run_start(user=other_user, version=yanked, params={"n": 2})
    subscription_set(user=other_user, asset=yanked.asset, pin="1.1.0")
    alice, bob = auth_client(user), auth_client(other_user)
    assert alice.post("/api/v1/workflows/alice/demo/versions/1.1.0/yank", {"reason": "bad labels"}, format="json").status_code == 200

    detail = bob.get(f"/api/v1/runs/{run.pk}").json()
    assert (detail["workflow"], detail["version"]) == ("alice/demo", "1.1.0")
    version = bob.get("/api/v1/workflows/alice/demo/versions/1.1.0").json()
    assert version["yanked"] is True and version["yank_reason"] == "bad labels"
    assert bob.get("/api/v1/workflows/alice/demo/subscription").json()["pinned_version"] == "1.1.0"
    web = Client()
    web.force_login(other_user)
    html = web.get("/w/alice/demo/", {"version": "1.1.0"}).content.decode()
    assert "This version is yanked: bad labels" in html
