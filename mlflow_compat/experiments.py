"""Experiments as MLflow sees them: ids, names, lifecycle and tags over ``runs.Experiment``.

Names: an experiment in the caller's personal namespace is known by its plain name; one in a
team namespace as ``<team>/<name>``, and creating ``<team>/<name>`` puts it in that team
(editors and admins only, as Flowdeck's own tracking). Id ``"0"`` is the caller's own
``Default`` experiment, made on first use, as every MLflow server has one.
"""
from __future__ import annotations

from datetime import datetime
from datetime import timezone as dt_timezone

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.access import experiment_filter, require_write, role_in
from accounts.models import Team
from runs.models import Experiment

from .errors import RESOURCE_ALREADY_EXISTS, MlflowError, invalid, missing
from .filters import Clause, experiment_clauses
from .models import ExperimentState, ExperimentTag

DEFAULT_ID = "0"
DEFAULT_NAME = "Default"
MAX_NAME = 200
VIEW_TYPES = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3, "1": 1, "2": 2, "3": 3, 1: 1, 2: 2, 3: 3}


def view_type(raw) -> int:
    if raw in (None, ""):
        return 1
    if raw not in VIEW_TYPES:
        raise invalid(f"Invalid view type {raw!r}: ACTIVE_ONLY, DELETED_ONLY or ALL.")
    return VIEW_TYPES[raw]


def ms(moment) -> int | None:
    return int(moment.timestamp() * 1000) if moment else None


def personal_team(user: AbstractBaseUser) -> Team:
    return Team.objects.get(personal_of=user)


def _split_name(user: AbstractBaseUser, name: str) -> tuple[Team, str]:
    """The namespace and the Flowdeck name of an MLflow experiment name."""
    prefix, slash, rest = name.partition("/")
    if slash and rest:
        team = Team.objects.filter(slug=prefix, personal_of__isnull=True).first()
        if team is not None and role_in(user, team) is not None:
            return team, rest
    return personal_team(user), name


def mlflow_name(experiment: Experiment, user: AbstractBaseUser) -> str:
    namespace = experiment.namespace
    return experiment.name if namespace.personal_of_id == user.pk else f"{namespace.slug}/{experiment.name}"


def mlflow_id(experiment: Experiment | None, user: AbstractBaseUser) -> str:
    if experiment is None:
        return ""
    if experiment.name == DEFAULT_NAME and experiment.namespace.personal_of_id == user.pk:
        return DEFAULT_ID
    return str(experiment.pk)


def experiments_visible(user: AbstractBaseUser) -> QuerySet[Experiment]:
    return Experiment.objects.filter(experiment_filter(user)).select_related("namespace", "mlflow_state")


def experiment_default(user: AbstractBaseUser) -> Experiment:
    team = personal_team(user)
    experiment, _ = Experiment.objects.get_or_create(namespace=team, name=DEFAULT_NAME)
    return experiment


def experiment_get(*, user: AbstractBaseUser, experiment_id: str) -> Experiment:
    """A visible experiment by MLflow id; RESOURCE_DOES_NOT_EXIST (404) otherwise."""
    experiment_id = str(experiment_id or "").strip()
    if experiment_id == DEFAULT_ID:
        return experiments_visible(user).get(pk=experiment_default(user).pk)
    found = experiments_visible(user).filter(pk=int(experiment_id)).first() if experiment_id.isdigit() else None
    if found is None:
        raise missing(f"No Experiment with id={experiment_id} exists")
    return found


def experiment_get_by_name(*, user: AbstractBaseUser, name: str) -> Experiment:
    if not name:
        raise invalid("Missing value for required parameter 'experiment_name'.")
    if name == DEFAULT_NAME:
        experiment_default(user)
    team, plain = _split_name(user, name)
    found = experiments_visible(user).filter(namespace=team, name=plain).first()
    if found is None:
        raise missing(f"Could not find experiment with name '{name}'")
    return found


def is_deleted(experiment: Experiment) -> bool:
    try:
        return experiment.mlflow_state.deleted_at is not None
    except ExperimentState.DoesNotExist:
        return False


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise invalid("Invalid experiment name: ''. Expected a non-empty string.")
    if len(name) > MAX_NAME:
        raise invalid(f"Experiment name is longer than {MAX_NAME} characters.")
    return name.strip()


def experiment_create(*, user: AbstractBaseUser, name: str, tags: dict[str, str]) -> Experiment:
    """A new experiment; RESOURCE_ALREADY_EXISTS if the name is taken (deleted ones too)."""
    team, plain = _split_name(user, _check_name(name))
    require_write(user, team, what="create experiments")
    try:
        with transaction.atomic():
            experiment = Experiment.objects.create(namespace=team, name=plain)
            ExperimentState.objects.create(experiment=experiment)
            ExperimentTag.objects.bulk_create([ExperimentTag(experiment=experiment, key=k, value=v) for k, v in tags.items()])
    except IntegrityError:
        raise MlflowError(RESOURCE_ALREADY_EXISTS, f"Experiment(name={name}) already exists.") from None
    return experiment


def _writable(user: AbstractBaseUser, experiment: Experiment) -> None:
    require_write(user, experiment.namespace, what="change experiments")


def _touch(experiment: Experiment, **fields) -> None:
    ExperimentState.objects.update_or_create(experiment=experiment, defaults={"updated_at": timezone.now(), **fields})


def experiment_rename(*, user: AbstractBaseUser, experiment: Experiment, new_name: str) -> None:
    _writable(user, experiment)
    team, plain = _split_name(user, _check_name(new_name))
    if team.pk != experiment.namespace_id:
        raise invalid("An experiment keeps its namespace: rename it within it.")
    if Experiment.objects.filter(namespace=team, name=plain).exclude(pk=experiment.pk).exists():
        raise MlflowError(RESOURCE_ALREADY_EXISTS, f"Experiment(name={new_name}) already exists.")
    Experiment.objects.filter(pk=experiment.pk).update(name=plain)
    _touch(experiment)


def experiment_delete(*, user: AbstractBaseUser, experiment: Experiment) -> None:
    _writable(user, experiment)
    if mlflow_id(experiment, user) == DEFAULT_ID:
        raise invalid("Cannot delete the default experiment '0'. This is an internally reserved experiment.")
    _touch(experiment, deleted_at=timezone.now())


def experiment_restore(*, user: AbstractBaseUser, experiment: Experiment) -> None:
    _writable(user, experiment)
    _touch(experiment, deleted_at=None)


def experiment_tag_set(*, user: AbstractBaseUser, experiment: Experiment, key: str, value: str) -> None:
    _writable(user, experiment)
    if not key:
        raise invalid("Missing value for required parameter 'key'.")
    ExperimentTag.objects.update_or_create(experiment=experiment, key=key[:250], defaults={"value": value})
    _touch(experiment)


def experiment_tag_delete(*, user: AbstractBaseUser, experiment: Experiment, key: str) -> None:
    _writable(user, experiment)
    deleted, _ = ExperimentTag.objects.filter(experiment=experiment, key=key).delete()
    if not deleted:
        raise missing(f"No tag with name: {key} in experiment with id {experiment.pk}")
    _touch(experiment)


def experiment_json(experiment: Experiment, user: AbstractBaseUser, tags: list[tuple[str, str]] | None = None) -> dict:
    exp_id = mlflow_id(experiment, user)
    try:
        updated = experiment.mlflow_state.updated_at
    except ExperimentState.DoesNotExist:
        updated = experiment.created_at
    if tags is None:
        tags = list(ExperimentTag.objects.filter(experiment=experiment).values_list("key", "value"))
    return {
        "experiment_id": exp_id,
        "name": mlflow_name(experiment, user),
        "artifact_location": f"mlflow-artifacts:/experiments/{experiment.pk}",
        "lifecycle_stage": "deleted" if is_deleted(experiment) else "active",
        "creation_time": ms(experiment.created_at),
        "last_update_time": ms(updated),
        "tags": [{"key": k, "value": v} for k, v in tags],
    }


# --- search ----------------------------------------------------------------------------------------
_ORDER_FIELDS = {"name": "name", "creation_time": "created_at", "experiment_id": "pk",
                 "last_update_time": "mlflow_state__updated_at"}


def _clause_q(clause: Clause) -> Q:
    if clause.kind == "tag":
        inner = Q(mlflow_tags__key=clause.key) & _text_q("mlflow_tags__value", clause)
        return Q(pk__in=Experiment.objects.filter(inner).values("pk"))
    if clause.key == "name":
        return _text_q("name", clause)
    if clause.key in ("creation_time", "last_update_time"):
        column = _ORDER_FIELDS[clause.key]
        try:
            moment = datetime.fromtimestamp(float(clause.values[0]) / 1000, tz=dt_timezone.utc)
        except (TypeError, ValueError, OverflowError, OSError):
            raise invalid(f"{clause.key} compares with milliseconds since the epoch, got {clause.values[0]!r}.") from None
        lookup = {"=": "", ">": "__gt", ">=": "__gte", "<": "__lt", "<=": "__lte"}.get(clause.op)
        if lookup is None:
            raise invalid(f"Invalid comparator '{clause.op}' for {clause.key}.")
        return Q(**{f"{column}{lookup}": moment})
    raise invalid(f"Invalid attribute key '{clause.key}' for experiments: name, creation_time or last_update_time.")


def _text_q(column: str, clause: Clause) -> Q:
    value = clause.values[0]
    if clause.op == "=":
        return Q(**{column: value})
    if clause.op == "!=":
        return ~Q(**{column: value})
    if clause.op in ("LIKE", "ILIKE"):
        regex = "^" + "".join(".*" if c == "%" else "." if c == "_" else _escape(c) for c in value) + "$"
        return Q(**{f"{column}__{'regex' if clause.op == 'LIKE' else 'iregex'}": regex})
    if clause.op == "IN":
        return Q(**{f"{column}__in": clause.values})
    raise invalid(f"Invalid comparator '{clause.op}' for experiment {clause.key}.")


def _escape(c: str) -> str:
    return "\\" + c if c in r".^$*+?{}[]\|()" else c


def experiments_search(
    *, user: AbstractBaseUser, filter_string: str, order_by: list[str], view: int, offset: int, limit: int,
) -> tuple[list[Experiment], bool]:
    """One page of visible experiments and whether another follows."""
    experiment_default(user)
    found = experiments_visible(user)
    if view == 1:
        found = found.filter(Q(mlflow_state__isnull=True) | Q(mlflow_state__deleted_at__isnull=True))
    elif view == 2:
        found = found.filter(mlflow_state__deleted_at__isnull=False)
    for clause in experiment_clauses(filter_string):
        found = found.filter(_clause_q(clause))
    ordering = []
    for item in order_by or []:
        column, _, direction = str(item).strip().partition(" ")
        column = column.removeprefix("attributes.").removeprefix("attribute.")
        if column not in _ORDER_FIELDS or direction.strip().upper() not in ("", "ASC", "DESC"):
            raise invalid(f"Invalid order_by clause '{item}'.")
        descending = direction.strip().upper() == "DESC"
        ordering.append(("-" if descending else "") + _ORDER_FIELDS[column])
    page = list(found.order_by(*ordering, "-created_at", "-pk")[offset:offset + limit + 1])
    return page[:limit], len(page) > limit
