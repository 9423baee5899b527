"""Request parameters read the same way in every API: one rule for what counts as a boolean."""
from __future__ import annotations

from .errors import InvalidInput


def parse_bool(raw, name: str) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off; empty is false), or a 400 naming ``name``."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise InvalidInput(f"{name} must be true or false, got {raw!r}.", field=name)
