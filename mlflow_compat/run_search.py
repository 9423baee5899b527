"""MLflow's search-runs over Flowdeck's runs table query path (runs/run_table.py): the filter
and order_by are translated to Flowdeck's query language (filters.py), so they are compiled
by the same code, to the same joins and indexes, as a search in Flowdeck's own UI."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from runs.models import Run
from runs.run_table import run_selection

from .experiments import experiment_get
from .filters import runs_query, runs_sort
from .run_service import RUN_RELATIONS

MAX_RESULTS = 50_000
DEFAULT_RESULTS = 1000


def runs_search(
    *, user: AbstractBaseUser, experiment_ids: list[str], filter_string: str, order_by: list[str], view: int,
    offset: int, limit: int,
) -> tuple[list[Run], bool]:
    """One page of matching runs (ordered as asked, newest first by default) and whether
    another page follows. Experiments the caller cannot see are RESOURCE_DOES_NOT_EXIST."""
    experiments = [experiment_get(user=user, experiment_id=e).pk for e in experiment_ids]
    selection = run_selection(user=user, q=runs_query(filter_string), sort=runs_sort(order_by))
    runs = selection.ordered.filter(experiment_id__in=experiments)
    if view == 1:
        runs = runs.filter(mlflow_deletion__isnull=True)
    elif view == 2:
        runs = runs.filter(~Q(mlflow_deletion__isnull=True))
    ids = list(runs.values_list("pk", flat=True)[offset:offset + limit + 1])
    found = {r.pk: r for r in Run.objects.filter(pk__in=ids[:limit]).select_related(*RUN_RELATIONS)}
    return [found[i] for i in ids[:limit] if i in found], len(ids) > limit
