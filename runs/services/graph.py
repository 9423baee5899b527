"""A version's step graph, read once per process: specs never change once published.

Loading an AssetVersion row parses its whole spec; for a workflow of a thousand steps that
is a few milliseconds, which every step's execution and every ``run_advance`` would pay.
"""
from __future__ import annotations

from functools import lru_cache

from registry.models import AssetVersion


class Graph:
    """Steps by name, who depends on whom, and the bundle digest, of one version."""

    def __init__(self, spec: dict, digest: str):
        self.digest = digest
        self.specs = {s["name"]: s for s in spec["steps"]}
        self.dependents: dict[str, list[str]] = {name: [] for name in self.specs}
        for name, step in self.specs.items():
            for dep in step["depends_on"]:
                self.dependents[dep].append(name)
        self.depends_on: dict[str, frozenset[str]] = {name: frozenset(s["depends_on"]) for name, s in self.specs.items()}


@lru_cache(maxsize=256)
def version_graph(version_id: int) -> Graph:
    spec, digest = AssetVersion.objects.values_list("spec", "bundle_digest").get(pk=version_id)
    return Graph(spec, digest)
