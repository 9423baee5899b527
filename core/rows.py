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
    converted = []
    for field, value, converters in zip(fields, values, _converters(model)):
        for convert in converters:
            value = convert(value, field, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


_CONVERTERS: dict[tuple[str, type[models.Model]], list[list]] = {}


def _converters(model: type[models.Model]) -> list[list]:
    """Each field's converters, as the ORM applies them to a row: the backend's (SQLite
    gives a moment without its time zone, a boolean as 0 or 1), then the field's own
    ``from_db_value`` (JSON fields parse)."""
    key = (connection.vendor, model)
    if key not in _CONVERTERS:
        table = model._meta.db_table
        _CONVERTERS[key] = [connection.ops.get_db_converters(f.get_col(table)) + f.get_db_converters(connection)
                            for f in model._meta.concrete_fields]
    return _CONVERTERS[key]


def fetch_one(sql: str, params: list) -> tuple | None:
    """The first row of ``sql``, prepared on PostgreSQL (``core.db``): these lookups run on
    every request."""
    from .db import run_prepared

    return run_prepared(sql, params)[0]
