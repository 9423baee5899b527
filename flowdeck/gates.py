"""Quality gates (``when=``) and step cache keys: the rules both runners share.

Pure standard library. The local runner and the server's ``run_advance`` differ only in
where a gate's values come from (memory or the database), which they pass in as a lookup.

A gate reads three kinds of name:

- ``params.<name>``: the run's parameter;
- ``<step>.metrics.<key>``: the last value logged for metric ``<key>`` in the run that
  produced ``<step>``'s outputs (metrics belong to the run, not to one step; when
  ``<step>`` was a cache hit, that is the run it was cached from);
- ``<step>.outputs.<name>``: the output's value, when it is a JSON scalar (a number, a
  string of at most 1 KB, a bool or null). Other outputs are pickles, which the server
  never unpickles, so a gate cannot read them anywhere.
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .expr import Expr, ExprError, parse

SCALAR_MAX_CHARS = 1024
CACHE_KEY_VERSION = 1
_NOT_SCALAR = object()


class GateError(Exception):
    """A gate that cannot be evaluated; the step it guards fails with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class GateRef:
    name: str  # the dotted name as written
    kind: str  # "param", "metric" or "output"
    step: str | None  # the step it reads from; None for a param
    key: str  # the param name, metric key or output name


def gate_ref(name: str) -> GateRef | None:
    """What a dotted name in a gate refers to, or None if it is none of the three kinds."""
    parts = name.split(".")
    if len(parts) == 2 and parts[0] == "params":
        return GateRef(name, "param", None, parts[1])
    if len(parts) >= 3 and parts[1] == "metrics":
        return GateRef(name, "metric", parts[0], ".".join(parts[2:]))  # metric keys may hold dots
    if len(parts) == 3 and parts[1] == "outputs":
        return GateRef(name, "output", parts[0], parts[2])
    return None


def json_scalar(value: Any) -> Any:
    """``value`` as a JSON scalar a gate can read, or ``NOT_SCALAR``.

    Numbers become int or float (numpy scalars too); NaN, infinity and strings over 1 KB
    are not scalars."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        return value if math.isfinite(value) else _NOT_SCALAR
    if isinstance(value, str) and len(value) <= SCALAR_MAX_CHARS:
        return value
    return _NOT_SCALAR


NOT_SCALAR = _NOT_SCALAR


def not_scalar_error(ref: GateRef) -> GateError:
    return GateError(f"gate reads {ref.name}, which is not a number, string or bool")


def missing_metric_error(ref: GateRef) -> GateError:
    return GateError(f"gate reads {ref.name}, but no metric '{ref.key}' was logged")


class _Values(Mapping):
    """Looks names up only when the expression reaches them, so ``and``/``or`` short-circuit
    past a value that does not exist, and remembers what it looked up."""

    def __init__(self, lookup: Callable[[GateRef], Any]) -> None:
        self.lookup = lookup
        self.used: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self.used:
            ref = gate_ref(name)
            if ref is None:  # validate_spec refuses these; an old spec could still hold one
                raise GateError(f"gate reads {name}, which is not params.<name>, <step>.metrics.<key> or <step>.outputs.<name>")
            self.used[name] = self.lookup(ref)
        return self.used[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __iter__(self) -> Iterator[str]:
        return iter(self.used)

    def __len__(self) -> int:
        return len(self.used)


def gate_evaluate(text: str, lookup: Callable[[GateRef], Any]) -> dict[str, Any]:
    """Evaluate the gate ``text``; ``lookup(ref)`` returns a name's value or raises GateError.

    Returns the record both runners store: ``{"expr", "passed", "values"}``, where values
    holds each name the evaluation read. Raises GateError when the gate cannot be decided.
    """
    try:
        expr: Expr = parse(text)
    except ExprError as exc:
        raise GateError(f"gate {text!r} is invalid: {exc.message}") from None
    values = _Values(lookup)
    try:
        result = expr.evaluate(values)
    except ExprError as exc:
        raise GateError(f"gate {text!r} failed: {exc.message}") from None
    if not isinstance(result, bool):
        raise GateError(f"gate {text!r} gave {result!r}, not true or false")
    return {"expr": text, "passed": result, "values": dict(sorted(values.used.items()))}


def gate_summary(record: Mapping[str, Any] | None) -> str:
    """The gate's expression and the values it read, on one line, for logs and pages."""
    if not record:
        return ""
    shown = ", ".join(f"{name} = {json.dumps(value)}" for name, value in (record.get("values") or {}).items())
    return f"{record.get('expr', '')}" + (f" with {shown}" if shown else "")


# --- caching ----------------------------------------------------------------------------------
def cache_inputs(step: Mapping[str, Any], params: Mapping[str, Any], output_digest: Callable[[str, str], str | None]) -> dict[str, Any] | None:
    """What a step's cache key covers: each argument's parameter value, or the sha256 of the
    upstream output it reads (``output_digest(step, output)``). None when a digest is unknown,
    which means the step cannot be cached this time."""
    inputs: dict[str, Any] = {}
    for arg, ref in sorted(step.get("inputs", {}).items()):
        if ref == "params":
            inputs[arg] = {"params": dict(sorted(params.items()))}
            continue
        head, _, tail = ref.partition(".")
        if head == "params":
            inputs[arg] = {"param": params.get(tail)}
            continue
        digest = output_digest(head, tail)
        if not digest:
            return None
        inputs[arg] = {"output": digest}
    return inputs


def cache_key(*, bundle_digest: str, step: str, inputs: Mapping[str, Any]) -> str:
    """sha256 over the bundle, the step name and its inputs (see :func:`cache_inputs`)."""
    payload = {"v": CACHE_KEY_VERSION, "bundle": bundle_digest, "step": step, "inputs": dict(sorted(inputs.items()))}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode()).hexdigest()
