"""MLflow's search syntax, translated to Flowdeck's runs query language (runs/query.py).

MLflow's filter is comparisons joined by AND: ``metrics.acc > 0.9 and params.lr = '0.01' and
tags.`mlflow.source.type` = 'LOCAL' and attributes.status = 'FINISHED'``, with ``= != < <= > >=``,
``LIKE``, ``ILIKE``, ``IN (...)`` and ``NOT IN (...)``. The translation is text in Flowdeck's
own language, so a search goes through the same parser, joins and indexes as the runs table.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .errors import invalid

ENTITIES = {"metric": "metric", "metrics": "metric", "param": "param", "params": "param", "parameter": "param",
            "parameters": "param", "tag": "tag", "tags": "tag", "attribute": "attribute", "attributes": "attribute",
            "attr": "attribute", "run": "attribute", "dataset": "dataset", "datasets": "dataset"}
RUN_ATTRIBUTES = {"run_id", "run_name", "status", "start_time", "end_time", "user_id", "created", "artifact_uri",
                  "lifecycle_stage", "experiment_id", "name", "creation_time", "last_update_time"}
STATUS_TO_FLOWDECK = {"RUNNING": "running", "SCHEDULED": "queued", "FINISHED": "succeeded", "FAILED": "failed",
                      "KILLED": "stopped"}
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>(?:[A-Za-z_][\w]*|`[^`]+`)(?:\.(?:[\w.\-]+|`[^`]+`|"[^"]+"))?)
""", re.VERBOSE)


@dataclass(frozen=True)
class Clause:
    kind: str  # metric, param, tag, attribute, dataset
    key: str
    op: str  # = != < <= > >= LIKE ILIKE IN "NOT IN" "IS NULL" "IS NOT NULL"
    values: tuple


def _tokens(text: str) -> list[tuple[str, str]]:
    out, i = [], 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if m is None:
            raise invalid(f"Invalid filter '{text}': unexpected character at position {i}.")
        i = m.end()
        if m.lastgroup != "space":
            out.append((m.lastgroup, m.group()))
    return out


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "`'\"":
        return re.sub(r"\\(.)", r"\1", text[1:-1]) if text[0] != "`" else text[1:-1]
    return text


def _identifier(text: str) -> tuple[str, str]:
    head, dot, rest = text.partition(".")
    if dot and head.lower() in ENTITIES:
        return ENTITIES[head.lower()], _unquote(rest)
    if not dot:
        return "attribute", _unquote(head)
    raise invalid(f"Invalid entity type '{head}' in the filter: metrics, params, tags, attributes or datasets.")


def parse_filter(text: str) -> list[Clause]:
    """The comparisons of an MLflow filter; INVALID_PARAMETER_VALUE for a malformed one."""
    tokens = _tokens(text or "")
    clauses, i = [], 0

    def word(j: int, *expected: str) -> bool:
        return j < len(tokens) and tokens[j][0] == "ident" and tokens[j][1].upper() in expected

    while i < len(tokens):
        kind, text_ = tokens[i]
        if kind != "ident":
            raise invalid(f"Invalid filter: expected an identifier, got '{text_}'.")
        entity, key = _identifier(text_)
        i += 1
        if i < len(tokens) and tokens[i][0] == "op":
            op = {"==": "=", "<>": "!="}.get(tokens[i][1], tokens[i][1])
            i += 1
            if i >= len(tokens) or tokens[i][0] not in ("str", "num"):
                raise invalid(f"Invalid filter: expected a value after '{op}'.")
            values = (_value(tokens[i]),)
            i += 1
        elif word(i, "LIKE", "ILIKE"):
            op = tokens[i][1].upper()
            i += 1
            if i >= len(tokens) or tokens[i][0] != "str":
                raise invalid(f"Invalid filter: {op} needs a quoted pattern.")
            values = (_value(tokens[i]),)
            i += 1
        elif word(i, "IS"):
            negate = word(i + 1, "NOT")
            j = i + 2 if negate else i + 1
            if not word(j, "NULL"):
                raise invalid("Invalid filter: expected NULL after IS.")
            op, values, i = ("IS NOT NULL" if negate else "IS NULL"), (), j + 1
        elif word(i, "IN") or (word(i, "NOT") and word(i + 1, "IN")):
            op = "NOT IN" if word(i, "NOT") else "IN"
            i += 2 if op == "NOT IN" else 1
            if i >= len(tokens) or tokens[i] != ("punct", "("):
                raise invalid(f"Invalid filter: {op} needs a list in parentheses.")
            i += 1
            items = []
            while i < len(tokens) and tokens[i] != ("punct", ")"):
                if tokens[i][0] in ("str", "num"):
                    items.append(_value(tokens[i]))
                elif tokens[i] != ("punct", ","):
                    raise invalid(f"Invalid filter: unexpected '{tokens[i][1]}' in a list.")
                i += 1
            if i >= len(tokens) or not items:
                raise invalid(f"Invalid filter: {op} needs a non-empty list closed by ')'.")
            values, i = tuple(items), i + 1
        else:
            raise invalid(f"Invalid filter: expected a comparison operator after '{text_}'.")
        clauses.append(Clause(entity, key, op, values))
        if i < len(tokens):
            if not word(i, "AND"):
                raise invalid(f"Invalid filter: only AND joins comparisons, got '{tokens[i][1]}'.")
            i += 1
            if i >= len(tokens):
                raise invalid("Invalid filter: it ends with AND.")
    return clauses


def _value(token: tuple[str, str]):
    kind, text = token
    return float(text) if kind == "num" else _unquote(text)


def experiment_clauses(text: str) -> list[Clause]:
    clauses = parse_filter(text)
    for c in clauses:
        if c.kind not in ("attribute", "tag"):
            raise invalid(f"Invalid filter for experiments: {c.kind}s are not searchable.")
    return clauses


# --- runs: to Flowdeck's query text ------------------------------------------------------------------
def _name(kind: str, key: str) -> str:
    if "`" in key:
        raise invalid(f"A key with a backtick cannot be searched: {key!r}.")
    return f"{kind}s.`{key}`"


def _literal(value, *, as_text: bool) -> str:
    if isinstance(value, float) and not as_text:
        return repr(value)
    text = value if isinstance(value, str) else (str(int(value)) if float(value).is_integer() else repr(value))
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _moment(value) -> str:
    if isinstance(value, str) and not re.fullmatch(r"-?\d+(\.\d+)?", value.strip()):
        raise invalid(f"Invalid value {value!r}: start_time compares with milliseconds since the epoch.")
    return "'" + datetime.fromtimestamp(float(value) / 1000, tz=timezone.utc).isoformat() + "'"


def _compare(field: str, op: str, values: tuple, render) -> str:
    if op in ("IN", "NOT IN"):
        return f"{field} {op.lower()} ({', '.join(render(v) for v in values)})"
    if op in ("LIKE", "ILIKE"):
        return f"{field} like {render(values[0])}"
    return f"{field} {op} {render(values[0])}"


def _attribute(c: Clause) -> str:
    key = c.key.lower()
    if c.op in ("IS NULL", "IS NOT NULL"):
        raise invalid(f"IS NULL is not supported for attributes.{c.key}.")
    if key in ("status",):
        statuses = []
        for v in c.values:
            if str(v).upper() not in STATUS_TO_FLOWDECK:
                raise invalid(f"Invalid status {v!r}: RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.")
            statuses.append(STATUS_TO_FLOWDECK[str(v).upper()])
        if c.op in ("LIKE", "ILIKE"):
            raise invalid("LIKE does not apply to status.")
        return _compare("status", c.op, tuple(statuses), lambda v: _literal(v, as_text=True))
    if key in ("run_name", "name"):
        return _compare("name", c.op, c.values, lambda v: _literal(v, as_text=True))
    if key == "user_id":
        return _compare("user", c.op, c.values, lambda v: _literal(v, as_text=True))
    if key in ("start_time", "created"):
        return _compare("started" if key == "start_time" else "created", c.op, c.values, _moment)
    if key == "run_id":
        ids = tuple(int(v) if str(v).isdigit() else -1 for v in (int(x) if isinstance(x, float) else x for x in c.values))
        if c.op in ("LIKE", "ILIKE"):
            raise invalid("LIKE does not apply to run_id.")
        return _compare("id", c.op, ids, str)
    raise invalid(f"Searching runs by attributes.{c.key} is not supported here "
                  "(run_id, run_name, status, start_time, created and user_id are).")


def runs_query(text: str) -> str:
    """The Flowdeck query of an MLflow runs filter ('' for none)."""
    parts = []
    for c in parse_filter(text):
        if c.kind == "metric":
            if c.op in ("LIKE", "ILIKE") or any(isinstance(v, str) for v in c.values):
                raise invalid(f"metrics.{c.key} compares with numbers.")
            if c.op in ("IS NULL", "IS NOT NULL"):
                raise invalid("IS NULL is not supported for metrics.")
            parts.append(_compare(_name("metric", c.key), c.op, c.values, lambda v: _literal(v, as_text=False)))
        elif c.kind in ("param", "tag"):
            if c.op in ("IS NULL", "IS NOT NULL"):
                raise invalid(f"IS NULL is not supported for {c.kind}s.")
            # Params and tags are strings in MLflow: compared as text, whatever they read as.
            parts.append(_compare(_name(c.kind, c.key), c.op, c.values, lambda v: _literal(v, as_text=True)))
        elif c.kind == "attribute":
            parts.append(_attribute(c))
        else:
            raise invalid("Searching runs by datasets is not supported here.")
    return " and ".join(parts)


_SORT_ATTRIBUTES = {"start_time": "started", "created": "created", "run_name": "name", "status": "status",
                    "run_id": "id", "user_id": "user", "end_time": "started"}
MAX_ORDER_BY = 3


def runs_sort(order_by: list[str]) -> str:
    """Flowdeck's sort text for MLflow's order_by (``metrics.acc DESC``, ``attributes.start_time``)."""
    if len(order_by) > MAX_ORDER_BY:
        raise invalid(f"At most {MAX_ORDER_BY} order_by clauses are supported.")
    keys = []
    for item in order_by:
        text = str(item).strip()
        direction = "ASC"
        m = re.fullmatch(r"(.+?)\s+(ASC|DESC)", text, re.IGNORECASE)
        if m:
            text, direction = m.group(1).strip(), m.group(2).upper()
        kind, key = _identifier(text) if "." in text or text.lower() in RUN_ATTRIBUTES else ("attribute", text)
        if kind in ("metric", "param", "tag"):
            field = _name(kind, key)
        elif kind == "attribute" and key.lower() in _SORT_ATTRIBUTES:
            field = _SORT_ATTRIBUTES[key.lower()]
        else:
            raise invalid(f"Invalid order_by clause '{item}'.")
        keys.append(("-" if direction == "DESC" else "") + field)
    return ",".join(keys)
