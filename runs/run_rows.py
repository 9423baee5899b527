"""The runs of a table page as light rows: the columns a row, its CSV and ``RunOut`` read,
from one query of plain values, with no model instances.

A 1,000-run page used to build four model instances per run (the run, its user, namespace
and experiment, plus a version and asset for workflow runs) and load every column of each:
a version's spec and README, a user's password hash and dates. That cost most of the time
of ``GET /api/v1/runs?limit=1000`` (bench/tracking.py); these rows answer the same
attribute paths (``run.asset_version.asset.namespace.slug``, ``run.created_by.username``,
``run.duration_s``, ...) that the templates and ``run_out`` use.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from .models import Run


@dataclass(slots=True)
class NamespaceRef:
    id: int
    slug: str


@dataclass(slots=True)
class UserRef:
    id: int
    username: str


@dataclass(slots=True)
class ExperimentRef:
    id: int
    name: str


@dataclass(slots=True)
class AssetRef:
    id: int
    name: str
    namespace: NamespaceRef

    @property
    def full_name(self) -> str:
        return f"{self.namespace.slug}/{self.name}"


@dataclass(slots=True)
class VersionRef:
    id: int
    version: str
    asset: AssetRef


@dataclass(slots=True)
class RunRow:
    """What the runs table reads of a run (the same names as ``Run``'s)."""

    pk: int
    name: str
    status: str
    error: str
    params: dict
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    namespace: NamespaceRef
    created_by: UserRef
    experiment_id: int | None
    experiment: ExperimentRef | None
    asset_version: VersionRef | None

    @property
    def id(self) -> int:
        return self.pk

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


_FIELDS = (
    "id", "name", "status", "error", "params", "created_at", "started_at", "finished_at",
    "namespace_id", "namespace__slug", "created_by_id", "created_by__username", "experiment_id", "experiment__name",
    "asset_version_id", "asset_version__version", "asset_version__asset_id", "asset_version__asset__name",
    "asset_version__asset__namespace_id", "asset_version__asset__namespace__slug",
)


def _row(values: tuple) -> RunRow:
    (pk, name, status, error, params, created, started, finished, ns_id, ns_slug, user_id, username, exp_id, exp_name,
     version_id, version, asset_id, asset_name, asset_ns_id, asset_ns_slug) = values
    asset_version = None
    if version_id is not None:
        asset = AssetRef(asset_id, asset_name, NamespaceRef(asset_ns_id, asset_ns_slug))
        asset_version = VersionRef(version_id, version, asset)
    return RunRow(pk, name, status, error, params if params is not None else {}, created, started, finished,
                  NamespaceRef(ns_id, ns_slug), UserRef(user_id, username), exp_id,
                  ExperimentRef(exp_id, exp_name) if exp_id is not None else None, asset_version)


def run_rows_iter(runs: QuerySet[Run], *, chunk: int = 1000) -> Iterator[RunRow]:
    """The rows of a queryset, in its order, read ``chunk`` at a time (one server-side cursor)."""
    return map(_row, runs.values_list(*_FIELDS).iterator(chunk_size=chunk))


def run_rows(ids: Sequence[int]) -> list[RunRow]:
    """The rows of the runs ``ids``, in that order (ids that no longer exist are left out)."""
    found = {values[0]: _row(values) for values in Run.objects.filter(pk__in=ids).values_list(*_FIELDS)}
    return [found[i] for i in ids if i in found]
