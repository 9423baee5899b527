"""Deterministic code bundles: the same source folder always gives the same bytes and digest."""
from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_IGNORE = [
    "__pycache__", "*.pyc", "*.pyo", ".git", ".hg", ".svn", ".venv", "venv", ".flowdeck",
    "*.egg-info", ".DS_Store", ".pytest_cache", ".mypy_cache", ".ipynb_checkpoints",
]
MAX_BUNDLE_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Bundle:
    data: bytes
    digest: str
    files: list[tuple[str, int]]

    @property
    def size(self) -> int:
        return len(self.data)


def ignore_patterns(root: Path) -> list[str]:
    patterns = list(DEFAULT_IGNORE)
    ignore_file = root / ".flowdeckignore"
    if ignore_file.is_file():
        for line in ignore_file.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line.rstrip("/"))
    return patterns


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    return any(fnmatch.fnmatch(rel, p) or any(fnmatch.fnmatch(part, p) for part in parts) for p in patterns)


def collect(root: str | Path) -> list[tuple[str, Path]]:
    """The files a bundle of ``root`` holds, sorted, with ``.flowdeckignore`` applied."""
    root = Path(root).resolve()
    patterns = ignore_patterns(root)
    found: list[tuple[str, Path]] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if _ignored(rel, patterns):
            continue
        if path.is_symlink():
            raise ValueError(f"'{rel}' is a symlink; bundles hold plain files only (add it to .flowdeckignore).")
        if path.is_file():
            found.append((rel, path))
    return found


def build(root: str | Path, *, max_bytes: int = MAX_BUNDLE_BYTES) -> Bundle:
    """Pack ``root`` into a tar.gz with fixed times, owners and modes, so it is reproducible."""
    files = collect(root)
    raw = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for rel, path in files:
                data = path.read_bytes()
                info = tarfile.TarInfo(rel)
                info.size = len(data)
                info.mtime = 0
                info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
    data = raw.getvalue()
    if len(data) > max_bytes:
        raise ValueError(f"The bundle is {len(data)} bytes, over the {max_bytes}-byte limit; use .flowdeckignore.")
    return Bundle(data=data, digest=hashlib.sha256(data).hexdigest(), files=[(rel, p.stat().st_size) for rel, p in files])
