"""partial_plan's checks and what it reuses, on rows made by hand (no worker needed)."""
from __future__ import annotations

import pytest

from core.errors import InvalidInput
from runs.models import Run, StepRun
from runs.services.partial import ancestors, descendants, partial_plan
from tests.factories import make_spec, publish

pytestmark = pytest.mark.django_db

OUT = {"x": {"key": "runs/1/steps/a/1/outputs/x.pkl", "size": 1, "sha256": "0" * 64}}


def _run(user, version, **statuses) -> Run:
    run = Run.objects.create(namespace=user.personal_team, created_by=user, asset_version=version, status="succeeded")
    for i, name in enumerate(("a", "b", "c")):
        StepRun.objects.create(run=run, name=name, position=i, status=statuses.get(name, "succeeded"),
                               outputs={"a": OUT, "b": {"y": OUT["x"]}, "c": {}}[name])
    return run


def test_it_reuses_the_upstream_steps_and_skips_the_rest(user):
    version = publish(user)
    source = _run(user, version)
    plan = partial_plan(version=version, steps=["b"], source_run=source)
    assert plan.chosen == {"b"} and set(plan.reused) == {"a"} and plan.skipped == {"c"}
    assert plan.reused["a"] == source.steps.get(name="a")


def test_a_step_reused_by_the_source_run_points_at_where_it_really_ran(user):
    version = publish(user)
    origin = _run(user, version)
    middle = _run(user, version)
    middle.steps.filter(name="a").update(cached_from=origin.steps.get(name="a"), worker="reused")
    plan = partial_plan(version=version, steps=["c"], source_run=middle)
    assert plan.reused["a"] == origin.steps.get(name="a")  # not middle's copy
    assert plan.reused["b"] == middle.steps.get(name="b")


@pytest.mark.parametrize(("statuses", "words"), [
    ({"b": "failed"}, "has step 'b' failed"),
    ({"a": "skipped"}, "has step 'a' skipped"),
])
def test_it_names_the_upstream_step_the_source_run_lacks(user, statuses, words):
    version = publish(user)
    source = _run(user, version, **statuses)
    with pytest.raises(InvalidInput) as caught:
        partial_plan(version=version, steps=["c"], source_run=source)
    assert caught.value.field == "source_run" and words in caught.value.message


def test_it_names_a_missing_stored_output(user):
    version = publish(user)
    source = _run(user, version)
    source.steps.filter(name="b").update(outputs={})
    with pytest.raises(InvalidInput) as caught:
        partial_plan(version=version, steps=["c"], source_run=source)
    assert "no stored output 'y'" in caught.value.message and "'b'" in caught.value.message


def test_the_dag_helpers():
    specs = {s["name"]: s for s in make_spec()["steps"]}
    for s in specs.values():
        s.setdefault("depends_on", [])
    assert ancestors(specs, ["c"]) == {"a", "b"} and ancestors(specs, ["a"]) == set()
    assert descendants(specs, ["b"]) == {"b", "c"}
