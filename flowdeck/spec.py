"""The workflow spec: its schema, its validation and parameter coercion.

Pure standard library, shared by the SDK (checked when a workflow is defined) and the
server (checked again on publish and at run start), so both give the same errors.
"""
from __future__ import annotations

import json
import math
import re
from collections import ChainMap
from collections.abc import Iterable, Mapping
from typing import Any

from .expr import ExprError, parse
from .gates import gate_ref

SCHEMA_VERSION = 1
PARAM_TYPES = ("int", "float", "str", "bool", "enum", "json", "list")
STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
WORKFLOW_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
FN_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
# A step's resource class names the kind of worker it needs; each class is a Celery queue
# on the server (see runs/routing.py), so the name is kept short and queue-safe.
DEFAULT_RESOURCE_CLASS = "cpu"
RESOURCE_CLASS = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_MISSING = object()


class SpecError(ValueError):
    """An invalid spec or parameter value. ``field`` names the culprit, e.g. ``steps.train.depends_on``."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


# --- parameters -------------------------------------------------------------------------------
def coerce_value(pdef: Mapping[str, Any], value: Any, *, parse_strings: bool = True) -> Any:
    """Return ``value`` as the parameter's type, or raise SpecError naming the parameter.

    With ``parse_strings`` (the default), strings are parsed for non-string types, so web
    forms and ``--param k=v`` work. Defaults are written in code and checked without it.
    """
    name, ptype = pdef["name"], pdef["type"]
    field = f"params.{name}"
    if not parse_strings and isinstance(value, str) and ptype not in ("str", "enum", "json"):
        raise SpecError(f"Parameter '{name}' expects {ptype}, got {value!r}.", field)

    def fail(expected: str) -> SpecError:
        return SpecError(f"Parameter '{name}' expects {expected}, got {value!r}.", field)

    if ptype == "int":
        if isinstance(value, bool):
            raise fail("an int")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise fail("an int") from None
        if not isinstance(value, int):
            raise fail("an int")
    elif ptype == "float":
        if isinstance(value, bool):
            raise fail("a float")
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise fail("a float") from None
        if not isinstance(value, int | float):
            raise fail("a float")
        value = float(value)
        if not math.isfinite(value):
            raise fail("a finite float")
    elif ptype == "str":
        if not isinstance(value, str):
            raise fail("a string")
    elif ptype == "bool":
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in {"true", "1", "yes", "on"}:
                value = True
            elif lowered in {"false", "0", "no", "off"}:
                value = False
        if not isinstance(value, bool):
            raise fail("a bool (true or false)")
    elif ptype == "enum":
        choices = pdef.get("choices") or []
        if value not in choices:
            matched = [c for c in choices if isinstance(value, str) and str(c) == value]
            if not matched:
                raise SpecError(f"Parameter '{name}' must be one of {choices}, got {value!r}.", field)
            value = matched[0]
    elif ptype == "json":
        if isinstance(value, str) and parse_strings:
            try:
                value = json.loads(value)
            except ValueError:
                raise fail("JSON") from None
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise fail("a JSON-serialisable value") from None
    elif ptype == "list":
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except ValueError:
                    raise fail("a list") from None
            else:
                value = [item.strip() for item in text.split(",")] if text else []
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise fail("a list")
    else:  # pragma: no cover - guarded by validate_param
        raise SpecError(f"Parameter '{name}' has unknown type {ptype!r}.", f"{field}.type")

    lo, hi = pdef.get("min"), pdef.get("max")
    if ptype in ("int", "float"):
        if lo is not None and value < lo:
            raise SpecError(f"Parameter '{name}' must be >= {lo}, got {value!r}.", field)
        if hi is not None and value > hi:
            raise SpecError(f"Parameter '{name}' must be <= {hi}, got {value!r}.", field)
    if ptype in ("str", "list"):
        if lo is not None and len(value) < lo:
            raise SpecError(f"Parameter '{name}' must have length >= {lo}.", field)
        if hi is not None and len(value) > hi:
            raise SpecError(f"Parameter '{name}' must have length <= {hi}.", field)
    return value


def resolve_params(param_defs: Iterable[Mapping[str, Any]], values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge ``values`` over the defaults and type-check every parameter.

    Unknown names, missing required values and values of the wrong type raise SpecError.
    """
    values = dict(values or {})
    defs = {p["name"]: p for p in param_defs}
    unknown = sorted(set(values) - set(defs))
    if unknown:
        known = ", ".join(sorted(defs)) or "none"
        raise SpecError(f"Unknown parameter '{unknown[0]}' (this workflow takes: {known}).", f"params.{unknown[0]}")
    out: dict[str, Any] = {}
    for name, pdef in defs.items():
        if name in values:
            out[name] = coerce_value(pdef, values[name])
        elif pdef.get("default") is not None:
            out[name] = pdef["default"]
        elif pdef.get("required"):
            raise SpecError(f"Parameter '{name}' is required.", f"params.{name}")
        else:
            out[name] = None
    return out


def validate_param(raw: Mapping[str, Any], index: int) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise SpecError(f"params[{index}] must be an object.", f"params[{index}]")
    name = raw.get("name")
    if not isinstance(name, str) or not PARAM_NAME.match(name):
        raise SpecError(f"params[{index}] has an invalid name {name!r} (use a Python identifier).", f"params[{index}].name")
    field = f"params.{name}"
    ptype = raw.get("type")
    if ptype not in PARAM_TYPES:
        raise SpecError(f"Parameter '{name}' has type {ptype!r}; use one of {', '.join(PARAM_TYPES)}.", f"{field}.type")
    pdef = {
        "name": name,
        "type": ptype,
        "default": raw.get("default"),
        "required": bool(raw.get("required", False)),
        "choices": raw.get("choices"),
        "min": raw.get("min"),
        "max": raw.get("max"),
        "description": str(raw.get("description") or ""),
    }
    if ptype == "enum":
        if not isinstance(pdef["choices"], list) or not pdef["choices"]:
            raise SpecError(f"Parameter '{name}' is an enum and needs a non-empty list of choices.", f"{field}.choices")
    elif pdef["choices"] is not None:
        raise SpecError(f"Parameter '{name}' has choices but is not an enum.", f"{field}.choices")
    for bound in ("min", "max"):
        b = pdef[bound]
        if b is not None and (isinstance(b, bool) or not isinstance(b, int | float)):
            raise SpecError(f"Parameter '{name}' has a non-numeric {bound} {b!r}.", f"{field}.{bound}")
    if pdef["min"] is not None and pdef["max"] is not None and pdef["min"] > pdef["max"]:
        raise SpecError(f"Parameter '{name}' has min > max.", f"{field}.min")
    if pdef["default"] is not None:
        try:
            pdef["default"] = coerce_value(pdef, pdef["default"], parse_strings=False)
        except SpecError as exc:
            raise SpecError(f"Default of parameter '{name}' does not fit its type: {exc.message}", f"{field}.default") from None
    return pdef


# --- steps and the DAG ------------------------------------------------------------------------
def find_cycle(deps: Mapping[str, list[str]]) -> list[str] | None:
    """Return a cycle as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in deps.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in deps:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def topo_order(steps: Iterable[Mapping[str, Any]]) -> list[str]:
    """Step names in dependency order, stable with respect to declaration order."""
    steps = list(steps)
    deps = {s["name"]: list(s.get("depends_on") or []) for s in steps}
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(steps):
        progressed = False
        for s in steps:
            name = s["name"]
            if name not in placed and all(d in placed for d in deps[name]):
                done.append(name)
                placed.add(name)
                progressed = True
        if not progressed:
            raise SpecError("The workflow has a dependency cycle.", "steps")
    return done


def ancestors(deps: Mapping[str, list[str]], name: str) -> set[str]:
    seen: set[str] = set()
    todo = list(deps.get(name, []))
    while todo:
        cur = todo.pop()
        if cur not in seen:
            seen.add(cur)
            todo.extend(deps.get(cur, []))
    return seen


def validate_step(raw: Mapping[str, Any], index: int) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise SpecError(f"steps[{index}] must be an object.", f"steps[{index}]")
    name = raw.get("name")
    if not isinstance(name, str) or not STEP_NAME.match(name):
        raise SpecError(f"steps[{index}] has an invalid name {name!r}.", f"steps[{index}].name")
    field = f"steps.{name}"
    if raw.get("uses") is not None:
        from .subworkflow import validate_subworkflow_step

        return validate_subworkflow_step(raw, name)
    fn = raw.get("fn")
    if not isinstance(fn, str) or not FN_REF.match(fn):
        raise SpecError(f"Step '{name}' needs fn as 'module:function', got {fn!r}.", f"{field}.fn")
    depends_on = raw.get("depends_on") or []
    outputs = raw.get("outputs") or []
    inputs = raw.get("inputs") or {}
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise SpecError(f"Step '{name}' depends_on must be a list of step names.", f"{field}.depends_on")
    if not isinstance(outputs, list) or not all(isinstance(o, str) and PARAM_NAME.match(o) for o in outputs):
        raise SpecError(f"Step '{name}' outputs must be a list of identifiers.", f"{field}.outputs")
    if len(set(outputs)) != len(outputs):
        raise SpecError(f"Step '{name}' declares an output twice.", f"{field}.outputs")
    if not isinstance(inputs, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
        raise SpecError(f"Step '{name}' inputs must map argument names to references.", f"{field}.inputs")
    retries = raw.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
        raise SpecError(f"Step '{name}' retries must be an int from 0 to 10.", f"{field}.retries")
    timeout_s = raw.get("timeout_s")
    if timeout_s is not None and (isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) or timeout_s <= 0):
        raise SpecError(f"Step '{name}' timeout_s must be a positive number.", f"{field}.timeout_s")
    resources = raw.get("resources")
    if resources is None:
        resources = DEFAULT_RESOURCE_CLASS
    if not isinstance(resources, str) or not RESOURCE_CLASS.match(resources):
        raise SpecError(
            f"Step '{name}' resources must name a resource class such as 'cpu', 'gpu' or 'highmem' "
            f"(a lowercase letter, then lowercase letters, digits or '_', at most 32 characters); got {resources!r}.",
            f"{field}.resources",
        )
    limits = {}
    for key, top in (("memory_mb", 1024 * 1024), ("cpu_s", 7 * 24 * 3600)):
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise SpecError(f"Step '{name}' {key} must be a whole number from 1 to {top}.", f"{field}.{key}")
        limits[key] = value
    when = validate_when(raw.get("when"), name, field)
    return {
        "name": name,
        "fn": fn,
        "depends_on": list(depends_on),
        "inputs": dict(inputs),
        "outputs": list(outputs),
        "retries": retries,
        "timeout_s": timeout_s,
        "cache": bool(raw.get("cache", False)),
        "resources": resources,
        "when": when,
        "description": str(raw.get("description") or ""),
        **limits,
    }


def validate_when(when: Any, name: str, field: str) -> str | None:
    """A step's quality gate: None, or an expression the gate language parses."""
    if when is None:
        return None
    if not isinstance(when, str) or not when.strip():
        raise SpecError(f"Step '{name}' when must be a non-empty expression string.", f"{field}.when")
    try:
        parse(when)
    except ExprError as exc:
        raise SpecError(f"Step '{name}' has an invalid when: {exc.message}.", f"{field}.when") from None
    return when


def validate_spec(raw: Any) -> dict[str, Any]:
    """Check a whole spec and return it normalised. Raises SpecError naming the culprit."""
    if not isinstance(raw, Mapping):
        raise SpecError("The spec must be a JSON object.", None)
    if raw.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise SpecError(f"Unsupported schema_version {raw.get('schema_version')!r}.", "schema_version")
    name = raw.get("name")
    if not isinstance(name, str) or not WORKFLOW_NAME.match(name):
        raise SpecError(f"Invalid workflow name {name!r}: use lowercase letters, digits, '-', '_' or '.'.", "name")
    raw_params = raw.get("params") or []
    raw_steps = raw.get("steps") or []
    if not isinstance(raw_params, list):
        raise SpecError("params must be a list.", "params")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise SpecError("A workflow needs at least one step.", "steps")

    params = [validate_param(p, i) for i, p in enumerate(raw_params)]
    seen_params: set[str] = set()
    for p in params:
        if p["name"] in seen_params:
            raise SpecError(f"Parameter '{p['name']}' is declared twice.", f"params.{p['name']}")
        seen_params.add(p["name"])

    steps = [validate_step(s, i) for i, s in enumerate(raw_steps)]
    by_name: dict[str, dict[str, Any]] = {}
    for s in steps:
        if s["name"] in by_name:
            raise SpecError(f"Step '{s['name']}' is declared twice.", f"steps.{s['name']}")
        by_name[s["name"]] = s
    for s in steps:
        for dep in s["depends_on"]:
            if dep not in by_name:
                raise SpecError(f"Step '{s['name']}' depends on unknown step '{dep}'.", f"steps.{s['name']}.depends_on")
            if dep == s["name"]:
                raise SpecError(f"Step '{s['name']}' depends on itself.", f"steps.{s['name']}.depends_on")
    deps = {s["name"]: s["depends_on"] for s in steps}
    cycle = find_cycle(deps)
    if cycle:
        raise SpecError(f"The steps form a cycle: {' -> '.join(cycle)}.", f"steps.{cycle[0]}.depends_on")

    for s in steps:
        _check_inputs(s, by_name, seen_params, ancestors(deps, s["name"]))
    for s in steps:
        if s["when"] is not None:
            _check_gate(s, by_name, seen_params, ancestors(deps, s["name"]))

    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "description": str(raw.get("description") or ""),
        "params": params,
        "steps": steps,
    }


def validate_added_step(
    raw: Any, by_name: Mapping[str, Mapping[str, Any]], params: set[str], deps: Mapping[str, list[str]],
) -> dict[str, Any]:
    """Check one step added to steps already checked (``by_name``, their ``depends_on`` in
    ``deps``) and return it normalised: what ``validate_spec`` says of it, at the cost of
    this step alone (``Workflow.step`` checks each step as it is defined; a whole-spec check
    each time made defining a 1,000-step fan-out take seconds). Its dependencies are among
    the steps before it, so it closes no cycle."""
    s = validate_step(raw, len(by_name))
    name = s["name"]
    if name in by_name:
        raise SpecError(f"Step '{name}' is declared twice.", f"steps.{name}")
    for dep in s["depends_on"]:
        if dep == name:
            raise SpecError(f"Step '{name}' depends on itself.", f"steps.{name}.depends_on")
        if dep not in by_name:
            raise SpecError(f"Step '{name}' depends on unknown step '{dep}'.", f"steps.{name}.depends_on")
    ups: set[str] = set()
    for dep in s["depends_on"]:
        if dep not in ups:  # else an ancestor of a dependency already looked at
            ups.add(dep)
            ups |= ancestors(deps, dep)
    known = ChainMap({name: s}, by_name)  # a step reading itself is told so, as validate_spec says
    _check_inputs(s, known, params, ups)
    if s["when"] is not None:
        _check_gate(s, known, params, ups)
    return s


def _check_inputs(s: Mapping[str, Any], by_name: Mapping[str, Mapping[str, Any]], params: set[str], ups: set[str]) -> None:
    """Every input a step reads resolves: a declared param, or a declared output of a step it
    (transitively) depends on."""
    for arg, ref in s["inputs"].items():
        field = f"steps.{s['name']}.inputs.{arg}"
        if ref == "params":
            continue
        head, _, tail = ref.partition(".")
        if not tail:
            raise SpecError(f"Step '{s['name']}' input '{arg}' has reference {ref!r}; use 'params.<name>' or '<step>.<output>'.", field)
        if head == "params":
            if tail not in params:
                raise SpecError(f"Step '{s['name']}' reads unknown parameter '{tail}'.", field)
        elif head not in by_name:
            raise SpecError(f"Step '{s['name']}' reads output '{tail}' of unknown step '{head}'.", field)
        elif head not in ups:
            raise SpecError(f"Step '{s['name']}' reads '{ref}' but does not depend on step '{head}'.", field)
        elif tail not in by_name[head]["outputs"]:
            raise SpecError(f"Step '{s['name']}' reads output '{tail}', which step '{head}' never produces.", field)


def _check_gate(step: Mapping[str, Any], by_name: Mapping[str, Mapping[str, Any]], params: set[str], ups: set[str]) -> None:
    """Every name a gate reads must resolve: a declared param, or a metric or declared output
    of a step this one (transitively) depends on, so it has run before the gate is read."""
    name, field = step["name"], f"steps.{step['name']}.when"
    for used in sorted(parse(step["when"]).names()):
        ref = gate_ref(used)
        if ref is None:
            raise SpecError(
                f"Step '{name}' gate reads '{used}'; use params.<name>, <step>.metrics.<key> or <step>.outputs.<name>.", field
            )
        if ref.kind == "param":
            if ref.key not in params:
                raise SpecError(f"Step '{name}' gate reads unknown parameter '{ref.key}'.", field)
        elif ref.step not in by_name:
            raise SpecError(f"Step '{name}' gate reads '{used}' of unknown step '{ref.step}'.", field)
        elif ref.step not in ups:
            raise SpecError(f"Step '{name}' gate reads '{used}' but does not depend on step '{ref.step}'.", field)
        elif ref.kind == "output" and ref.key not in by_name[ref.step]["outputs"]:
            raise SpecError(f"Step '{name}' gate reads output '{ref.key}', which step '{ref.step}' never produces.", field)
