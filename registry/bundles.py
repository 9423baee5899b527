"""Checks on an uploaded code bundle: its digest, and that it is a safe tar.gz."""
from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import dataclass

from core.errors import InvalidInput, TooLarge

MAX_UNPACKED_FACTOR = 10
MAX_MEMBERS = 20_000


@dataclass(frozen=True)
class BundleInfo:
    digest: str
    size: int
    files: list[str]


def bundle_inspect(data: bytes, *, max_bytes: int) -> BundleInfo:
    """Digest the bundle and refuse anything unsafe to unpack, naming the entry."""
    if len(data) > max_bytes:
        raise TooLarge(f"The bundle is {len(data)} bytes; the limit is {max_bytes}.", field="bundle")
    digest = hashlib.sha256(data).hexdigest()
    max_unpacked = max_bytes * MAX_UNPACKED_FACTOR
    files: list[str] = []
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for count, member in enumerate(tar, start=1):
                name = member.name
                if count > MAX_MEMBERS:
                    raise InvalidInput(f"The bundle has more than {MAX_MEMBERS} entries.", field="bundle")
                parts = name.split("/")
                if name.startswith("/") or ".." in parts or "\\" in name:
                    raise InvalidInput(f"Bundle entry '{name}' has an absolute or parent path.", field="bundle")
                if member.issym() or member.islnk():
                    raise InvalidInput(f"Bundle entry '{name}' is a link; bundles hold plain files.", field="bundle")
                if not (member.isfile() or member.isdir()):
                    raise InvalidInput(f"Bundle entry '{name}' is not a file or folder.", field="bundle")
                total += member.size
                if total > max_unpacked:
                    raise InvalidInput(
                        f"Bundle unpacks to more than {max_unpacked} bytes (at entry '{name}').", field="bundle"
                    )
                if member.isfile():
                    files.append(name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InvalidInput(f"The bundle is not a valid tar.gz: {exc}.", field="bundle") from None
    return BundleInfo(digest=digest, size=len(data), files=sorted(files))
