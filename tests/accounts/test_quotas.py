"""Team quotas: runs over the concurrent-run limit wait and start when a slot frees; uploads
over the storage limit are refused; runs past the duration limit are stopped; usage."""
from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEntry, Team
from accounts.services import quota_set, team_usage
from accounts.services.quotas import quota_enforce
from core import storage
from runs.models import Artifact, Run, RunStatus
from runs.services.lifecycle import run_start, run_stop
from tests.factories import assert_error, make_bundle, make_spec, make_user, publish

pytestmark = pytest.mark.django_db
ALL = ["read", "write", "run", "admin"]


@pytest.fixture
def flow(crew):
    return publish(crew.admin, namespace="acme")


def _start(crew, flow):
    return run_start(user=crew.admin, version=flow, namespace=crew.team)


def test_runs_over_the_limit_wait_and_start_in_order_as_slots_free(crew, flow, auth_client,
                                                                  django_capture_on_commit_callbacks):
    quota_set(actor=crew.admin, team=crew.team, max_concurrent_runs=1)
    first, second, third = (_start(crew, flow) for _ in range(3))
    assert [r.status for r in (first, second, third)] == ["queued", "waiting", "waiting"]
    body = auth_client(crew.viewer).get(f"/api/v1/runs/{second.pk}").json()
    assert body["status"] == "waiting"
    usage = team_usage(team=crew.team)
    assert (usage.current_runs, usage.waiting_runs, usage.runs_this_month) == (1, 2, 3)
    with django_capture_on_commit_callbacks(execute=True):
        run_stop(user=crew.admin, run=first)  # nothing was running: it ends at once, freeing its slot
    statuses = dict(Run.objects.values_list("pk", "status"))
    assert statuses == {first.pk: "stopped", second.pk: "queued", third.pk: "waiting"}


def test_a_run_in_another_team_is_not_held_back(crew, flow):
    quota_set(actor=crew.admin, team=crew.team, max_concurrent_runs=1)
    _start(crew, flow)
    assert _start(crew, flow).status == "waiting"
    assert run_start(user=crew.admin, version=flow).status == "queued"  # alice's own namespace


def test_raising_the_limit_starts_waiting_runs_and_stopping_one_that_waits_ends_it(crew, flow):
    quota_set(actor=crew.admin, team=crew.team, max_concurrent_runs=1)
    runs = [_start(crew, flow) for _ in range(4)]
    stopped = run_stop(user=crew.admin, run=runs[3])
    assert stopped.status == "stopped" and stopped.started_at is not None
    quota_set(actor=crew.admin, team=crew.team, max_concurrent_runs=3)
    assert [Run.objects.get(pk=r.pk).status for r in runs] == ["queued", "queued", "queued", "stopped"]


def test_the_site_default_applies_until_a_team_sets_its_own(crew, flow, settings):
    settings.FLOWDECK_QUOTA_MAX_CONCURRENT_RUNS = 1
    _start(crew, flow)
    assert _start(crew, flow).status == "waiting"
    quota_set(actor=crew.admin, team=crew.team, max_concurrent_runs=0)  # 0: no limit for this team
    assert _start(crew, flow).status == "queued"


def test_a_run_past_the_duration_limit_is_stopped_with_a_clear_reason(crew, flow):
    quota_set(actor=crew.admin, team=crew.team, max_run_duration_s=3600)
    old, fresh = _start(crew, flow), _start(crew, flow)
    Run.objects.filter(pk=old.pk).update(status=RunStatus.RUNNING, started_at=timezone.now() - timedelta(hours=2))
    Run.objects.filter(pk=fresh.pk).update(status=RunStatus.RUNNING, started_at=timezone.now() - timedelta(minutes=5))
    assert quota_enforce()["stopped"] == 1
    old.refresh_from_db()
    assert old.status == "stopped"
    assert "maximum run duration of 1:00:00 (max_run_duration_s)" in old.error
    assert Run.objects.get(pk=fresh.pk).status == "running"
    entry = AuditEntry.objects.get(action="run.stop", target=str(old.pk))
    assert entry.actor_name == "system" and "max_run_duration_s" in entry.data["reason"]


def test_an_artifact_over_the_storage_quota_is_refused_and_not_kept(crew, flow, auth_client, local_storage):
    run = _start(crew, flow)
    quota_set(actor=crew.admin, team=crew.team, max_storage_bytes=flow.bundle_size + 100)
    client = auth_client(crew.admin)
    ok = client.put(f"/api/v1/runs/{run.pk}/artifacts/content/small.bin", b"x" * 60,
                    content_type="application/octet-stream")
    assert ok.status_code == 201, ok.content
    refused = client.put(f"/api/v1/runs/{run.pk}/artifacts/content/big.bin", b"y" * 60,
                         content_type="application/octet-stream")
    error = assert_error(refused, 413, "quota_exceeded", "max_storage_bytes")
    assert "Storage quota exceeded: 'acme'" in error["message"] and "this artifact adds 60 bytes" in error["message"]
    assert list(Artifact.objects.values_list("path", flat=True)) == ["small.bin"]
    assert not storage.exists(storage.artifact_key(run.pk, "big.bin"))
    assert team_usage(team=crew.team).storage_bytes == flow.bundle_size + 60


def test_a_bundle_over_the_storage_quota_is_refused_naming_the_quota(crew, auth_client):
    quota_set(actor=crew.admin, team=crew.team, max_storage_bytes=10)
    response = auth_client(crew.editor).post("/api/v1/workflows/publish", {
        "spec": json.dumps(make_spec()), "bundle": io.BytesIO(make_bundle()), "namespace": "acme",
    }, format="multipart")
    error = assert_error(response, 413, "quota_exceeded", "max_storage_bytes")
    assert "at most 10 bytes (max_storage_bytes)" in error["message"] and "this bundle" in error["message"]
    assert not Team.objects.get(slug="acme").assets.exists()


def test_quotas_are_changed_by_team_admins_and_site_admins_only(crew, auth_client):
    assert_error(auth_client(crew.editor, scopes=ALL).patch("/api/v1/teams/acme/quota", {"max_concurrent_runs": 5},
                                                            format="json"), 403)
    body = auth_client(crew.admin, scopes=ALL).patch("/api/v1/teams/acme/quota", {"max_concurrent_runs": 5},
                                                     format="json").json()
    assert body["max_concurrent_runs"] == 5 and body["effective"]["max_concurrent_runs"] == 5
    staff = make_user("root")
    staff.is_staff = True
    staff.save()
    body = auth_client(staff, scopes=ALL).patch("/api/v1/teams/acme/quota",
                                                {"max_storage_bytes": 10**9, "max_concurrent_runs": None},
                                                format="json").json()
    assert body["max_storage_bytes"] == 10**9 and body["max_concurrent_runs"] is None
    assert_error(auth_client(crew.admin, scopes=ALL).patch("/api/v1/teams/acme/quota", {"max_concurrent_runs": -1},
                                                           format="json"), 400, field="max_concurrent_runs")
    changes = [(e.actor_name, e.data["to"]) for e in AuditEntry.objects.filter(action="quota.change").order_by("pk")]
    assert changes == [("alice", {"max_concurrent_runs": 5}),
                       ("root", {"max_concurrent_runs": None, "max_storage_bytes": 10**9})]


def test_the_team_page_shows_usage(crew, flow, client):
    quota_set(actor=crew.admin, team=crew.team, max_concurrent_runs=1)
    first, second = _start(crew, flow), _start(crew, flow)
    client.force_login(crew.viewer)
    page = client.get("/teams/acme/").content.decode()
    assert "1 of 1 · 1 waiting for quota" in page
    assert "Runs going now" in page and f"/runs/{first.pk}/" in page and f"/runs/{second.pk}/" in page
    assert "waiting for quota</span>" in page  # the waiting run's badge
    assert "Runs this month" in page and f"{flow.bundle_size} bytes" in page
    assert "Save quotas" not in page  # a viewer cannot change them


def test_a_retried_run_takes_a_slot_like_a_new_one(crew, flow):
    from runs.services.operations import run_retry

    quota_set(actor=crew.admin, team=crew.team, max_concurrent_runs=1)
    failed = _start(crew, flow)
    Run.objects.filter(pk=failed.pk).update(status=RunStatus.FAILED)
    failed.steps.update(status="failed")
    _start(crew, flow)  # takes the one slot
    assert run_retry(user=crew.admin, run=Run.objects.get(pk=failed.pk)).status == "waiting"
