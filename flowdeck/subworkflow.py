"""Sub-workflow steps: a step that runs a published workflow as a child run.

Pure standard library, used by ``flowdeck.spec`` (on the SDK and the server alike). In a
spec such a step has ``uses`` instead of ``fn``::

    {"name": "train", "uses": "demo/logistic-train@1.0.0", "depends_on": ["load"],
     "inputs": {"lr": "params.lr", "rows": "load.rows"},   # child parameter <- reference
     "params": {"epochs": 5},                              # child parameter <- literal
     "outputs": ["model"], "outputs_from": {"model": "fit.model"}}

``inputs`` reads what a function step's ``inputs`` reads (``params.<name>``, ``params``, or
``<step>.<output>``) and is checked by the same rules; on the server an upstream output can
only be passed when it is a JSON scalar, since the server never unpickles an output.
``outputs_from`` names, for each output of the step, the child step output it is.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

USES = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_-]{0,63})/([a-z0-9][a-z0-9_.-]{0,99})@((?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*))$")
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
CHILD_OUTPUT = re.compile(r"^([A-Za-z_][A-Za-z0-9_-]{0,63})\.([A-Za-z_][A-Za-z0-9_]{0,63})$")


def parse_uses(ref: Any) -> tuple[str, str, str] | None:
    """``namespace/name@X.Y.Z`` as (namespace, name, version), or None when it is not one."""
    match = USES.match(ref) if isinstance(ref, str) else None
    return (match[1], match[2], match[3]) if match else None


def validate_subworkflow_step(raw: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Check the fields of a step that has ``uses`` and return it normalised.

    References to parameters and upstream steps are checked afterwards with every other
    step's (``flowdeck.spec.validate_spec``). Raises SpecError naming the field."""
    from .spec import SpecError, validate_when

    field = f"steps.{name}"
    uses = raw.get("uses")
    if parse_uses(uses) is None:
        raise SpecError(
            f"Step '{name}' uses {uses!r}; write namespace/name@MAJOR.MINOR.PATCH, "
            f"a published version such as demo/logistic-train@1.0.0.", f"{field}.uses")
    if raw.get("fn") is not None:
        raise SpecError(f"Step '{name}' has both fn and uses; a sub-workflow step runs a published workflow, "
                        f"not a function.", f"{field}.fn")
    depends_on = raw.get("depends_on") or []
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise SpecError(f"Step '{name}' depends_on must be a list of step names.", f"{field}.depends_on")

    inputs = raw.get("inputs") or {}
    if not isinstance(inputs, Mapping) or not all(isinstance(v, str) for v in inputs.values()):
        raise SpecError(f"Step '{name}' inputs must map child parameter names to references such as "
                        f"'params.lr' or 'load.rows'.", f"{field}.inputs")
    params = raw.get("params") or {}
    if not isinstance(params, Mapping):
        raise SpecError(f"Step '{name}' params must map child parameter names to values.", f"{field}.params")
    for kind, mapping in (("inputs", inputs), ("params", params)):
        for key in mapping:
            if not isinstance(key, str) or not IDENT.match(key):
                raise SpecError(f"Step '{name}' {kind} names {key!r}, which is not a parameter name.", f"{field}.{kind}")
    for key, value in params.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise SpecError(f"Step '{name}' params.{key} must be a JSON value, got {value!r}.",
                            f"{field}.params.{key}") from None
    both = sorted(set(inputs) & set(params))
    if both:
        raise SpecError(f"Step '{name}' sets child parameter '{both[0]}' twice, in inputs and in params.",
                        f"{field}.params.{both[0]}")

    outputs_from = raw.get("outputs_from") or {}
    if not isinstance(outputs_from, Mapping):
        raise SpecError(f"Step '{name}' outputs_from must map output names to '<child step>.<output>'.",
                        f"{field}.outputs_from")
    for out, ref in outputs_from.items():
        if not isinstance(out, str) or not IDENT.match(out):
            raise SpecError(f"Step '{name}' output {out!r} is not an identifier.", f"{field}.outputs_from")
        if not isinstance(ref, str) or not CHILD_OUTPUT.match(ref):
            raise SpecError(f"Step '{name}' output '{out}' comes from {ref!r}; use '<child step>.<output>', "
                            f"e.g. 'fit.model'.", f"{field}.outputs_from.{out}")
    outputs = raw.get("outputs")
    if outputs is not None and (not isinstance(outputs, list) or sorted(outputs) != sorted(outputs_from)):
        raise SpecError(f"Step '{name}' outputs must be the names that outputs_from maps "
                        f"({', '.join(outputs_from) or 'none'}).", f"{field}.outputs")

    for key, default in (("retries", 0), ("timeout_s", None), ("cache", False), ("resources", "cpu")):
        if raw.get(key) not in (None, default):
            raise SpecError(f"Step '{name}' is a sub-workflow; {key} applies to the steps of the child "
                            f"workflow, not to this step.", f"{field}.{key}")
    when = validate_when(raw.get("when"), name, field)
    return {
        "name": name,
        "fn": None,
        "uses": uses,
        "depends_on": list(depends_on),
        "inputs": dict(inputs),
        "params": dict(params),
        "outputs": list(outputs_from),
        "outputs_from": dict(outputs_from),
        "retries": 0,
        "timeout_s": None,
        "cache": False,
        "when": when,
        "description": str(raw.get("description") or ""),
    }
