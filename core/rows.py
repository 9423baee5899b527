"""Model instances from one hand-written SQL row, for the lookups every request makes.

Building a queryset with ``select_related`` and compiling it costs about 1.2 ms of Python
on this machine (the token lookup that authenticates each API request was most of a small
request's time). These helpers let such a lookup keep its SQL text, built once, and turn
the row it returns into the same model instances the ORM would have made: every concrete
field, in ``_meta`` order, through the field's own ``from_db_value`` (JSON fields parse).
"""
from __future__ import annotations

from django.db import connection, models


def select_list(model: type[models.Model], alias: str) -> str:
    """``alias."col", ...`` for every concrete field of ``model``, in ``_meta`` order."""
    q = connection.ops.quote_name
    return ", ".join(f"{alias}.{q(f.column)}" for f in model._meta.concrete_fields)


def width(model: type[models.Model]) -> int:
    return len(model._meta.concrete_fields)


def instance(model: type[models.Model], values) -> models.Model:
    """The instance the ORM would load from ``values`` (a row's part from ``select_list``)."""
    fields = model._meta.concrete_fields
    converted = [f.from_db_value(v, None, connection) if hasattr(f, "from_db_value") else v
                 for f, v in zip(fields, values)]
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


def fetch_one(sql: str, params: list) -> tuple | None:
    """The first row of ``sql``, prepared on PostgreSQL (``core.db``): these lookups run on
    every request."""
    from .db import run_prepared

    return run_prepared(sql, params)[0]
