"""Turns a parsed runs query (runs/query.py), a sort and columns into ORM expressions.

Each metric, logged param and tag named is one LEFT JOIN on its (run, key) row through a
``FilteredRelation`` (the unique constraints make it at most one row per run), so a filter
and a sort on the same metric share the join and PostgreSQL can walk an index on it.
Values only reach SQL as bound parameters. A comparison with a field the run does not have
is false, for ``!=`` and ``not in`` too.
"""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from django.db import connection
from django.db.models import (
    Case,
    DurationField,
    ExpressionWrapper,
    F,
    FilteredRelation,
    FloatField,
    OrderBy,
    Q,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Concat, Length, NullIf
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    In,
    IRegex,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Regex,
)
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from .metric_goal import metric_goal
from .models import INDEXED_TEXT, RunParam, RunStatus, RunTag
from .numbers import MAX_NUMBER_TEXT, SQL_NUMBER
from .query import BoolOp, Comparison, Field, QueryError
from .query import Value as QValue

MAX_JOINS = 30
NOT_NULL = {"created", "id", "status", "name"}  # columns of every run: no NULLS LAST needed to sort them
_ORDERED = {"=": Exact, "<": LessThan, "<=": LessThanOrEqual, ">": GreaterThan, ">=": GreaterThanOrEqual}
_RELATIONS = {"metric": "metric_summaries", "param": "logged_params", "tag": "tags"}
_RELATIVE = re.compile(r"-(\d{1,6})([smhdw])")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd]?)")
_UNITS = {"s": 1, "": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class QueryBuilder:
    """Collects the joins a query, its sort and its columns need; ``apply`` adds them to a queryset."""

    def __init__(self) -> None:
        self.aliases: dict[str, object] = {}
        self._joins: dict[tuple[str, str], str] = {}

    def apply(self, qs):
        return qs.alias(**self.aliases) if self.aliases else qs

    def _join(self, kind: str, key: str) -> str:
        if (kind, key) not in self._joins:
            if len(self._joins) >= MAX_JOINS:
                raise QueryError(f"At most {MAX_JOINS} different params, metrics and tags can be used at once", 0)
            alias = f"_{kind[0]}{len(self._joins)}"
            relation = _RELATIONS[kind]
            self.aliases[alias] = FilteredRelation(relation, condition=Q(**{f"{relation}__key": key}))
            self._joins[(kind, key)] = alias
        return self._joins[(kind, key)]

    def metric(self, key: str, agg: str):
        return F(f"{self._join('metric', key)}__{metric_goal(key) if agg == 'best' else agg}")

    def text(self, field: Field):
        """A param's or tag's value as text (a workflow param from ``Run.params`` first)."""
        logged = F(f"{self._join(field.kind, field.key)}__value")
        if field.kind == "param":
            return Case(When(self.has_input(field), then=self.inputs_text(field)), default=logged,
                        output_field=TextField())
        return logged

    def inputs_text(self, field: Field):
        """A workflow param's value from ``Run.params`` as text (NULL if the run has none)."""
        return Cast(KeyTextTransform(field.key, "params"), TextField())

    @staticmethod
    def has_input(field: Field) -> Q:
        """The run's ``Run.params`` has the key (even as null), so a logged param of that name
        does not count, as in the table's cells. (PostgreSQL's statistics on Run.params also
        estimate ``params ? key`` well, where they cannot a key's text IS NULL.)"""
        return Q(params__has_key=field.key)

    def number(self, field: Field):
        """The same value as a number when it reads as one, else NULL (never a cast error).
        A logged param's number was read at ingest (``RunParam.value_num``)."""
        if field.kind == "param":
            inputs = self.inputs_text(field)
            logged = F(f"{self._join(field.kind, field.key)}__value_num")
            return Case(When(self.has_input(field), then=_read_number(inputs)), default=logged, output_field=FloatField())
        return _read_number(self.text(field))

    def column(self, field: Field):
        """The expression of a plain field (not params, metrics or tags)."""
        return {
            "status": F("status"), "name": F("name"), "id": F("pk"), "user": F("created_by__username"),
            "experiment": F("experiment__name"), "version": F("asset_version__version"),
            "created": F("created_at"), "started": F("started_at"),
            "duration": ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()),
            "workflow": NullIf(Concat(F("asset_version__asset__namespace__slug"), Value("/"),
                                      F("asset_version__asset__name"), output_field=TextField()), Value("/"),
                               output_field=TextField()),
        }[field.kind]

    def order(self, field: Field, *, descending: bool) -> list[OrderBy]:
        if field.kind == "metric":
            exprs = [self.metric(field.key, field.agg)]
        elif field.kind in ("param", "tag"):  # numbers in numeric order, then the rest as text
            exprs = [self.number(field), self.text(field)]
        elif field.kind == "version":
            exprs = [F("asset_version__major"), F("asset_version__minor"), F("asset_version__patch")]
        elif field.kind == "workflow":
            exprs = [F("asset_version__asset__namespace__slug"), F("asset_version__asset__name")]
        else:
            exprs = [self.column(field)]
            if field.kind in NOT_NULL:  # a plain order, which an index on the column has (run_recent)
                return [exprs[0].desc() if descending else exprs[0].asc()]
        return [e.desc(nulls_last=True) if descending else e.asc(nulls_last=True) for e in exprs]


def compile_query(node, builder: QueryBuilder) -> Q:
    if isinstance(node, BoolOp):
        parts = [compile_query(item, builder) for item in node.items]
        if node.op == "not":
            return ~parts[0]
        combined = parts[0]
        for part in parts[1:]:
            combined = (combined & part) if node.op == "and" else (combined | part)
        return combined
    return _comparison(node, builder)


def _present(expr) -> Q:
    return Q(IsNull(expr, False))


def _match(expr, op: str, values: list, presence=None) -> Q:
    """``expr op value`` for one kind of value (numbers, text or dates). A run without the
    field (``presence`` NULL, by default ``expr``) matches no comparison, ``!=`` included."""
    base = {"!=": "=", "not in": "in", "not like": "like", "not contains": "contains"}.get(op, op)
    if base == "in":
        q = Q(In(expr, values))
    elif base == "like":
        q = Q(IRegex(expr, _like_regex(values[0])))
    elif base == "contains":
        q = Q(IContains(expr, values[0]))
    else:
        q = Q(_ORDERED[base](expr, values[0]))
    if base == op:
        return q
    return _present(expr if presence is None else presence) & ~(_present(expr) & q)


def _like_regex(pattern: str) -> str:
    """SQL LIKE (% any run, _ one character) as an anchored regex, everything else literal."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return "^" + "".join(parts) + "$"


def _comparison(c: Comparison, b: QueryBuilder) -> Q:
    field, op, values = c.field, c.op, list(c.values)
    text_ops = op.removeprefix("not ") in ("like", "contains")
    if field.kind == "metric":
        if text_ops:
            raise QueryError(f"'{op}' does not apply to {field.name}, a number", c.pos)
        return _match(b.metric(field.key, field.agg), op, [_number(v, field) for v in values])
    if field.kind in ("param", "tag"):
        indexed = _indexed(field, op, values, b)
        if indexed is not None:
            return indexed
        if text_ops:
            return _match(b.text(field), op, [v.raw for v in values])
        numbers = [v.value for v in values if v.is_number]
        texts = [v.raw for v in values if not v.is_number]
        if op in ("in", "not in"):
            q = Q(pk__in=[])
            if numbers:
                q |= _match(b.number(field), "in", numbers) & _present(b.number(field))
            if texts:
                q |= _match(b.text(field), "in", texts) & _present(b.text(field))
            return (_present(b.text(field)) & ~q) if op == "not in" else q
        if numbers:
            return _match(b.number(field), op, numbers, presence=b.text(field))
        return _match(b.text(field), op, texts)
    if field.kind in ("created", "started"):
        return _dates(b.column(field), op, values, c)
    if field.kind == "duration":
        return _match(b.column(field), op, [_duration(v) for v in values])
    if field.kind == "id":
        if text_ops:
            raise QueryError(f"'{op}' does not apply to id, a number", c.pos)
        return _match(b.column(field), op, [_whole(v) for v in values])
    if field.kind == "version" and op in ("<", "<=", ">", ">="):
        return _version_order(op, values[0])
    if field.kind == "status" and not text_ops:
        for v in values:
            if v.raw not in RunStatus.values:
                raise QueryError(f"Unknown status '{v.raw}' (one of {', '.join(RunStatus.values)})", v.pos)
    return _match(b.column(field), op, [v.raw for v in values])


def _indexed(field: Field, op: str, values: list[QValue], b: QueryBuilder) -> Q | None:
    """``params.optimizer = adam`` or ``tags.team in (cv, nlp)``: the runs whose logged row
    has the text, found through the short (key, value) index as ``id IN (SELECT run_id
    ...)`` rather than by joining every run's row. A workflow param in ``Run.params`` is
    compared as before, and wins over a logged one of the same name. None when the
    comparison has no such form (numbers, negations, order, like, contains, a text too
    long for the index): the join answers those. (Numbers go by the join too, on the
    logged row's ``value_num``: measured, a semi-join there made the planner drop the walk
    along a metric's index for a scan of every run.)"""
    if op not in ("=", "in") or any(v.is_number or len(v.raw) > INDEXED_TEXT for v in values):
        return None
    texts = [v.raw for v in values]
    model = RunParam if field.kind == "param" else RunTag
    short = model.objects.filter(Q(LessThanOrEqual(Length("value"), INDEXED_TEXT)), key=field.key, value__in=texts)
    matched = Q(pk__in=short.values("run_id"))
    if field.kind == "tag":
        return matched
    inputs = b.inputs_text(field)
    # "Has the text" is also said as containment (params @> {"optimizer": "adam"}), which
    # PostgreSQL's statistics on Run.params estimate, where for the key's text alone (which
    # a true reads as too) it guesses 0.5% of runs, and then walks the wrong index.
    held = Q()
    if connection.vendor == "postgresql":  # (SQLite has no JSON containment; its planner guesses anyway)
        for text in texts:
            held |= Q(params__contains={field.key: text})
    return held | _match(inputs, "in", texts) | (~b.has_input(field) & matched)


def _read_number(text):
    reads_as_number = Q(LessThanOrEqual(Length(text), MAX_NUMBER_TEXT)) & Q(Regex(text, SQL_NUMBER))
    return Case(When(reads_as_number, then=Cast(text, FloatField())), default=None, output_field=FloatField())


def _number(v: QValue, field: Field) -> float:
    if not v.is_number:
        raise QueryError(f"{field.name} compares with numbers, got '{v.raw}'", v.pos)
    return v.value


def _whole(v: QValue) -> int:
    if not v.is_number or not float(v.value).is_integer():
        raise QueryError(f"id compares with whole numbers, got '{v.raw}'", v.pos)
    return int(v.value)


def _duration(v: QValue) -> timedelta:
    m = _DURATION.fullmatch(v.raw)
    if not m:
        raise QueryError(f"A duration is seconds or a number with s, m, h or d (90, 5m, 2h), got '{v.raw}'", v.pos)
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def _moment(v: QValue) -> tuple[datetime, datetime | None]:
    """A value for created/started: (start, end of the day) for a date, (moment, None) otherwise."""
    raw = v.raw.strip()
    rel = _RELATIVE.fullmatch(raw)
    if rel:
        return timezone.now() - timedelta(seconds=int(rel.group(1)) * _UNITS[rel.group(2)]), None
    if raw == "now":
        return timezone.now(), None
    day = parse_date(raw) if len(raw) == 10 else None
    if day:
        start = timezone.make_aware(datetime.combine(day, time.min))
        return start, start + timedelta(days=1)
    try:
        moment = parse_datetime(raw.replace(" ", "T"))
    except ValueError:
        moment = None
    if moment is None:
        raise QueryError(f"Expected a date (2026-01-31), a time (2026-01-31T12:00) or -7d, got '{v.raw}'", v.pos)
    return (moment if timezone.is_aware(moment) else timezone.make_aware(moment)), None


def _dates(expr, op: str, values: list[QValue], c: Comparison) -> Q:
    """Dates mean whole days: created = 2026-01-31 is that day, created > 2026-01-31 after it."""
    if op.removeprefix("not ") in ("like", "contains"):
        raise QueryError(f"'{op}' does not apply to {c.field.name}, a date", c.pos)
    if op in ("in", "not in"):
        q = Q(pk__in=[])
        for v in values:
            q |= _dates(expr, "=", [v], c)
        return (_present(expr) & ~q) if op == "not in" else q
    start, end = _moment(values[0])
    if end is None:
        return _match(expr, op, [start])
    day = Q(GreaterThanOrEqual(expr, start)) & Q(LessThan(expr, end))
    return {
        "=": day, "!=": _present(expr) & ~day,
        "<": Q(LessThan(expr, start)), "<=": Q(LessThan(expr, end)),
        ">": Q(GreaterThanOrEqual(expr, end)), ">=": Q(GreaterThanOrEqual(expr, start)),
    }[op]


def _version_order(op: str, v: QValue) -> Q:
    """version >= 1.2 compares (major, minor, patch) as numbers, not as text."""
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", v.raw)
    if not m:
        raise QueryError(f"Expected a version such as 1.2.0 after '{op}', got '{v.raw}'", v.pos)
    wanted = [int(g or 0) for g in m.groups()]
    names = ["asset_version__major", "asset_version__minor", "asset_version__patch"]
    strict = {"<": "lt", "<=": "lt", ">": "gt", ">=": "gt"}[op]
    # (a, b, c) > (x, y, z) as a > x or (a = x and (b > y or (b = y and c > z))), inclusive at the end for <=, >=.
    q = Q(**{f"{names[2]}__{strict}{'e' if op in ('<=', '>=') else ''}": wanted[2]})
    for name, number in zip(reversed(names[:2]), reversed(wanted[:2])):
        q = Q(**{f"{name}__{strict}": number}) | (Q(**{name: number}) & q)
    return q
