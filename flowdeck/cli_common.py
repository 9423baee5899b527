"""What every `flowdeck` command shares: the API client from the options, JSON-or-table output,
and KEY=VALUE parameters."""
from __future__ import annotations

import json
from typing import Any

from .client import Client
from .errors import FlowdeckError


def _client(args) -> Client:
    return Client(args.url, args.token)


def _emit(args, data: Any, table: list[tuple[str, ...]] | None = None, header: tuple[str, ...] | None = None) -> None:
    if getattr(args, "json", False) or table is None:
        print(json.dumps(data, indent=2, default=str))
        return
    rows = ([header] if header else []) + table
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))] if rows else []
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FlowdeckError(f"--param takes KEY=VALUE, got '{pair}'.")
        params[key.strip()] = value  # the server coerces strings to the parameter's type
    return params
