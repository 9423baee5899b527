"""Step caching on the server: cache keys, and finding an earlier step to stand in.

A key covers the bundle digest, the step name, the parameter values the step reads and
the sha256 of each upstream output it reads (``flowdeck.gates.cache_key``). A hit reuses
the earlier step's output records as they are: outputs are written once and never changed.
Hits are looked for only among runs of the same namespace, so a cache never carries one
team's outputs into another team's run.
"""
from __future__ import annotations

from flowdeck.gates import cache_inputs, cache_key

from ..models import Run, StepRun, StepStatus
from ..stored_outputs import output_present


def step_cache_key(*, run: Run, spec: dict, steps: dict[str, StepRun]) -> str | None:
    """The cache key of step ``spec`` in ``run``, or None when an input has no recorded
    sha256 (an output stored before outputs carried one)."""

    def output_digest(step: str, output: str) -> str | None:
        return ((steps[step].outputs or {}).get(output) or {}).get("sha256")

    inputs = cache_inputs(spec, run.params or {}, output_digest)
    if inputs is None or not run.asset_version_id:
        return None
    return cache_key(bundle_digest=run.asset_version.bundle_digest, step=spec["name"], inputs=inputs)


def step_cache_source(*, run: Run, key: str) -> StepRun | None:
    """The executed step whose outputs a step of ``run`` with cache key ``key`` can reuse:
    the latest succeeded one in the run's namespace whose outputs are all still stored."""
    found = (
        StepRun.objects.filter(cache_key=key, status=StepStatus.SUCCEEDED, run__namespace_id=run.namespace_id)
        .exclude(run_id=run.pk)
        .select_related("cached_from")
        .order_by("-finished_at", "-pk")
        .first()
    )
    if found is None:
        return None
    # Point at the step that really ran, so a chain of hits never grows.
    origin = found.cached_from if found.cached_from_id and found.cached_from else found
    if not all(output_present(o) for o in (origin.outputs or {}).values()):
        return None  # its outputs were deleted since: run the step again
    return origin
