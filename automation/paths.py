"""Paths into a posted JSON document, for a trigger's parameter mapping.

A path is ``$`` followed by steps: ``.name`` for a key, ``[0]`` for a list index (``[-1]``
is the last item) and ``["a key"]`` for a key that is not a plain word. The leading ``$.``
may be left out, so ``object.key`` and ``$.object.key`` are the same path; ``$`` alone is
the whole document. No wildcards, filters or expressions.
"""
from __future__ import annotations

import json
import re
from typing import Any

from core.errors import InvalidInput

_STEP = re.compile(r"""\.([A-Za-z_][\w-]*)|\[(-?\d+)\]|\[("(?:[^"\\]|\\.)*")\]""")
_WORD = re.compile(r"[A-Za-z_][\w-]*")


class PathError(ValueError):
    pass


def path_parse(path: str) -> list[str | int]:
    """The steps of ``path``; PathError when it is not a path."""
    if not isinstance(path, str) or not path.strip():
        raise PathError("a path must be a non-empty string such as '$.object.key'")
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    elif _WORD.match(text):
        text = "." + text
    steps: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _STEP.match(text, pos)
        if match is None:
            raise PathError(f"'{path}' is not a path: cannot read '{text[pos:]}' (use .key, [0] or [\"key\"])")
        key, index, quoted = match.groups()
        steps.append(key if key is not None else int(index) if index is not None else json.loads(quoted))
        pos = match.end()
    return steps


def path_resolve(document: Any, path: str) -> Any:
    """The value at ``path`` in ``document``; PathError saying where it stopped."""
    value = document
    walked = "$"
    for step in path_parse(path):
        if isinstance(step, int):
            if not isinstance(value, list) or not -len(value) <= step < len(value):
                raise PathError(f"{walked} has no item [{step}]")
            value = value[step]
            walked += f"[{step}]"
        else:
            if not isinstance(value, dict) or step not in value:
                raise PathError(f"{walked} has no key '{step}'")
            value = value[step]
            walked += f".{step}"
    return value


def mapping_check(mapping: Any, param_names: set[str]) -> dict[str, str]:
    """A mapping of parameter name to path, checked; InvalidInput naming ``mapping.<param>``."""
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise InvalidInput('mapping must be an object of parameter: path, e.g. {"data_path": "$.object.key"}.',
                           field="mapping")
    for name, path in mapping.items():
        if name not in param_names:
            known = ", ".join(sorted(param_names)) or "none"
            raise InvalidInput(f"Unknown parameter '{name}' in mapping (this workflow takes: {known}).",
                               field=f"mapping.{name}")
        try:
            path_parse(path)
        except PathError as exc:
            raise InvalidInput(f"mapping.{name}: {exc}.", field=f"mapping.{name}") from None
    return dict(mapping)


def mapping_apply(mapping: dict[str, str], document: Any) -> dict[str, Any]:
    """Parameter values read from ``document``; InvalidInput naming the first that does not resolve."""
    values = {}
    for name, path in mapping.items():
        try:
            values[name] = path_resolve(document, path)
        except PathError as exc:
            raise InvalidInput(f"The mapping of '{name}' ({path}) does not resolve: {exc}.",
                               field=f"mapping.{name}") from None
    return values
