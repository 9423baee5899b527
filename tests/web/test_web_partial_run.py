"""The run page's Copy can run chosen steps only, reusing the rest from the run (a partial
run started from the web UI), with a real worker."""
from __future__ import annotations

import pytest

from runs.models import Run
from tests.factories import publish
from tests.runs.test_run_retry_params_and_partial import SOURCE, _spec, _steps, _value

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_copy_runs_the_chosen_steps_and_reuses_the_rest(celery_worker, user, client):
    publish(user, spec=_spec(), files={"workflow.py": SOURCE})
    client.force_login(user)
    first = Run.objects.get(pk=client.post("/w/alice/ops/run", {"param-n": "3"}).url.strip("/").split("/")[-1])
    assert celery_worker.wait_for_run(first.pk).status == "succeeded"

    page = client.get(f"/runs/{first.pk}/copy").content.decode()
    assert 'name="steps" value="c"' in page and "Run only these steps" in page

    response = client.post(f"/runs/{first.pk}/copy", {"param-n": "3", "steps": ["c"]})
    assert response.status_code == 302, response.content.decode()[:2000]
    second = int(response.url.strip("/").split("/")[-1])
    assert celery_worker.wait_for_run(second).status == "succeeded"
    steps, source = _steps(second), _steps(first.pk)
    assert steps["a"].cached_from_id == source["a"].pk and steps["b"].cached_from_id == source["b"].pk
    assert steps["c"].cached_from_id is None and _value(steps["c"], "z") == 7  # 2 * 3 + 1, run again
    assert steps["d"].status == "skipped"  # neither chosen nor needed


def test_a_step_the_source_cannot_feed_is_an_error_on_the_form(celery_worker, user, client):
    publish(user, spec=_spec(), files={"workflow.py": SOURCE})
    client.force_login(user)
    first = client.post("/w/alice/ops/run", {"param-n": "13"}).url.strip("/").split("/")[-1]
    assert celery_worker.wait_for_run(int(first)).status == "failed"  # b failed: c has no input to reuse
    response = client.post(f"/runs/{first}/copy", {"param-n": "3", "steps": ["c"]})
    assert response.status_code == 400
    assert "needs step &#x27;b&#x27;" in response.content.decode() and Run.objects.count() == 1
