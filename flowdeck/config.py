"""Where the SDK finds its server and token: arguments, then environment, then the config file."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


def config_path() -> Path:
    base = os.environ.get("FLOWDECK_CONFIG")
    if base:
        return Path(base)
    root = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return root / "flowdeck" / "config.json"


@dataclass(frozen=True)
class Settings:
    url: str | None
    token: str | None


def load(url: str | None = None, token: str | None = None) -> Settings:
    stored: dict = {}
    path = config_path()
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except ValueError:
            stored = {}
    return Settings(
        url=(url or os.environ.get("FLOWDECK_URL") or stored.get("url") or None),
        token=(token or os.environ.get("FLOWDECK_TOKEN") or stored.get("token") or None),
    )


def save(url: str, token: str) -> Path:
    """Store the server URL and token in the user's config file, readable only by them."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"url": url.rstrip("/"), "token": token}, fh)
    os.chmod(path, 0o600)
    return path
