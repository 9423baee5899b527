"""MLflow's model registry: registered models, their versions, tags, aliases and stages.

A registered model lives in a Flowdeck namespace (the creator's own); names are looked up
there first, then in the caller's teams. Registered models are kept apart from Flowdeck's
own registry (registry.Asset), whose versions are runnable, published workflows.
"""
from __future__ import annotations

import re

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet

from accounts.access import registered_model_filter, require_write

from .errors import RESOURCE_ALREADY_EXISTS, MlflowError, invalid, missing
from .experiments import ms, personal_team
from .filters import parse_filter
from .models import LoggedModel, ModelVersion, RegisteredModel

STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}
_MODEL_URI = re.compile(r"^models:/(?P<id>m-[0-9a-f]{32})/?$")


def models_visible(user: AbstractBaseUser) -> QuerySet[RegisteredModel]:
    return RegisteredModel.objects.filter(registered_model_filter(user)).select_related("namespace", "created_by")


def model_get(*, user: AbstractBaseUser, name: str) -> RegisteredModel:
    if not name:
        raise invalid("Registered model name cannot be empty.")
    found = list(models_visible(user).filter(name=name))
    found.sort(key=lambda m: m.namespace.personal_of_id != user.pk)
    if not found:
        raise missing(f"Registered Model with name={name} not found")
    return found[0]


def model_create(*, user: AbstractBaseUser, name: str, description: str, tags: dict) -> RegisteredModel:
    if not name or len(name) > 250:
        raise invalid("Registered model name must be 1 to 250 characters.")
    team = personal_team(user)
    require_write(user, team, what="register models")
    try:
        with transaction.atomic():
            return RegisteredModel.objects.create(namespace=team, name=name, description=description,
                                                  created_by=user, tags=tags)
    except IntegrityError:
        raise MlflowError(RESOURCE_ALREADY_EXISTS, f"Registered Model (name={name}) already exists.") from None


def writable(user: AbstractBaseUser, model: RegisteredModel) -> None:
    require_write(user, model.namespace, what="change registered models")


def model_rename(*, user: AbstractBaseUser, model: RegisteredModel, new_name: str) -> RegisteredModel:
    writable(user, model)
    if not new_name:
        raise invalid("new_name cannot be empty.")
    if RegisteredModel.objects.filter(namespace=model.namespace, name=new_name).exclude(pk=model.pk).exists():
        raise MlflowError(RESOURCE_ALREADY_EXISTS, f"Registered Model (name={new_name}) already exists.")
    model.name = new_name
    model.save(update_fields=["name", "updated_at"])
    return model


def model_save(*, user: AbstractBaseUser, model: RegisteredModel, fields: list[str]) -> RegisteredModel:
    writable(user, model)
    model.save(update_fields=[*fields, "updated_at"])
    return model


def version_get(*, model: RegisteredModel, version) -> ModelVersion:
    text = str(version or "").strip()
    found = model.versions.filter(version=int(text)).first() if text.isdigit() else None
    if found is None:
        raise missing(f"Model Version (name={model.name}, version={text}) not found")
    return found


def version_create(*, user: AbstractBaseUser, model: RegisteredModel, source: str, run, model_id: str,
                   description: str, tags: dict) -> ModelVersion:
    writable(user, model)
    if not source and not model_id:
        raise invalid("A model version needs a source.")
    m = _MODEL_URI.match(source or "")
    model_id = model_id or (m.group("id") if m else "")
    for _ in range(3):  # two concurrent creates race for the next number: retry
        try:
            with transaction.atomic():
                number = (model.versions.aggregate(n=Max("version"))["n"] or 0) + 1
                created = ModelVersion.objects.create(
                    registered_model=model, version=number, source=source or f"models:/{model_id}", run=run,
                    model_id=model_id, description=description, created_by=user, tags=tags)
                RegisteredModel.objects.filter(pk=model.pk).update(updated_at=created.created_at)
                return created
        except IntegrityError:
            continue
    raise invalid("Could not number the new version; try again.")


def download_uri(version: ModelVersion) -> str:
    """Where the version's files are: its logged model's artifacts, else its source."""
    if version.model_id and LoggedModel.objects.filter(pk=version.model_id).exists():
        return f"mlflow-artifacts:/models/{version.model_id}/artifacts"
    return version.source


def stage(raw: str) -> str:
    if (raw or "").lower() not in STAGES:
        raise invalid(f"Invalid Model Version stage: {raw}. Value must be one of None, Staging, Production, Archived.")
    return STAGES[raw.lower()]


def transition(*, user: AbstractBaseUser, version: ModelVersion, to: str, archive_existing: bool) -> ModelVersion:
    writable(user, version.registered_model)
    with transaction.atomic():
        if archive_existing and to in ("Staging", "Production"):
            version.registered_model.versions.filter(stage=to).exclude(pk=version.pk).update(stage="Archived")
        version.stage = to
        version.save(update_fields=["stage", "updated_at"])
    return version


def version_json(version: ModelVersion, model: RegisteredModel | None = None) -> dict:
    model = model or version.registered_model
    return {
        "name": model.name,
        "version": str(version.version),
        "creation_timestamp": ms(version.created_at),
        "last_updated_timestamp": ms(version.updated_at),
        "user_id": version.created_by.get_username(),
        "current_stage": version.stage,
        "description": version.description,
        "source": version.source,
        "run_id": str(version.run_id) if version.run_id else "",
        "status": "READY",
        "tags": [{"key": k, "value": v} for k, v in sorted(version.tags.items())],
        "aliases": sorted(a for a, n in model.aliases.items() if n == version.version),
        **({"model_id": version.model_id} if version.model_id else {}),
    }


def model_json(model: RegisteredModel) -> dict:
    latest: dict[str, ModelVersion] = {}
    for v in model.versions.select_related("created_by").order_by("version"):
        latest[v.stage] = v
    return {
        "name": model.name,
        "creation_timestamp": ms(model.created_at),
        "last_updated_timestamp": ms(model.updated_at),
        "user_id": model.created_by.get_username(),
        "description": model.description,
        "latest_versions": [version_json(v, model) for v in sorted(latest.values(), key=lambda v: v.version)],
        "tags": [{"key": k, "value": v} for k, v in sorted(model.tags.items())],
        "aliases": [{"alias": a, "version": str(n)} for a, n in sorted(model.aliases.items())],
    }


def _text_filter(column: str, op: str, value: str) -> Q:
    if op == "=":
        return Q(**{column: value})
    if op == "!=":
        return ~Q(**{column: value})
    if op in ("LIKE", "ILIKE"):
        pattern = "^" + "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value) + "$"
        return Q(**{f"{column}__{'regex' if op == 'LIKE' else 'iregex'}": pattern})
    raise invalid(f"Unsupported comparator '{op}' in the registry filter.")


def _tag_filter(key: str, op: str, value: str) -> Q:
    # A JSON tags column: "!=" must hold for an object without the key too.
    if op == "=":
        return Q(**{f"tags__{key}": value})
    if op == "!=":
        return ~Q(tags__has_key=key) | ~Q(**{f"tags__{key}": value})
    raise invalid(f"Unsupported comparator '{op}' for tags.{key}: = and != are.")


def models_search(*, user: AbstractBaseUser, filter_string: str, order_by: list[str], offset: int,
                  limit: int) -> tuple[list[RegisteredModel], bool]:
    found = models_visible(user)
    for c in parse_filter(filter_string):
        if c.kind == "attribute" and c.key == "name":
            found = found.filter(_text_filter("name", c.op, str(c.values[0])))
        elif c.kind == "tag":
            found = found.filter(_tag_filter(c.key, c.op, str(c.values[0]) if c.values else ""))
        else:
            raise invalid(f"Unsupported registered model filter on '{c.key}'.")
    ordering = [("-" if " desc" in o.lower() else "") + {"name": "name", "timestamp": "updated_at",
                "last_updated_timestamp": "updated_at", "creation_timestamp": "created_at"}
                .get(o.split()[0].removeprefix("attributes."), "name") for o in order_by or []]
    page = list(found.order_by(*ordering, "name", "pk")[offset:offset + limit + 1])
    return page[:limit], len(page) > limit


def versions_search(*, user: AbstractBaseUser, filter_string: str, offset: int,
                    limit: int) -> tuple[list[ModelVersion], bool]:
    found = ModelVersion.objects.filter(registered_model__in=models_visible(user)).select_related(
        "registered_model", "created_by")
    for c in parse_filter(filter_string):
        value = c.values[0] if c.values else ""
        if c.kind == "attribute" and c.key == "name":
            found = found.filter(_text_filter("registered_model__name", c.op, str(value)))
        elif c.kind == "attribute" and c.key == "run_id":
            ids = [int(v) for v in c.values if str(v).isdigit()]
            found = found.filter(run_id__in=ids) if c.op in ("=", "IN") else found.exclude(run_id__in=ids)
        elif c.kind == "attribute" and c.key in ("source", "model_id"):
            found = found.filter(_text_filter(c.key, c.op, str(value)))
        elif c.kind == "tag":
            found = found.filter(_tag_filter(c.key, c.op, str(value)))
        else:
            raise invalid(f"Unsupported model version filter on '{c.key}'.")
    page = list(found.order_by("registered_model__name", "-version")[offset:offset + limit + 1])
    return page[:limit], len(page) > limit
