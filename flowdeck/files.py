"""File and folder outputs on workers.

A step may return a ``pathlib.Path`` to a file or folder as an output. Its scratch folder
is gone once it ends, so the runner packs the path's contents into the output, and the
runner of a downstream step unpacks them into its own work folder and passes a ``Path``.
"""
from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PackedPath:
    name: str
    is_dir: bool
    data: bytes  # a tar.gz of the file, or of the folder's contents


def pack(value: Any) -> Any:
    """A PackedPath for an existing file or folder path; any other value unchanged."""
    if not isinstance(value, Path) or not value.exists():
        return value
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if value.is_dir():
            for child in sorted(value.rglob("*")):
                if child.is_file() and not child.is_symlink():
                    tar.add(child, arcname=child.relative_to(value).as_posix(), recursive=False)
        else:
            tar.add(value, arcname=value.name, recursive=False)
    return PackedPath(name=value.name, is_dir=value.is_dir(), data=buffer.getvalue())


def unpack(value: Any, into: Path) -> Any:
    """A Path to the unpacked copy of a PackedPath under ``into``; any other value unchanged."""
    if not isinstance(value, PackedPath):
        return value
    target = into / value.name if value.is_dir else into
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(value.data), mode="r:gz") as tar:
        tar.extractall(target, filter="data")
    return target if value.is_dir else target / value.name
