"""A worker's local cache of unpacked code bundles, keyed by sha256 and verified on fetch."""
from __future__ import annotations

import compileall
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings

from core import storage


class BundleError(RuntimeError):
    pass


def bundle_dir(digest: str) -> Path:
    """The unpacked bundle for ``digest``, fetching and verifying it on first use."""
    root = Path(settings.FLOWDECK_WORKER_CACHE) / "bundles"
    target = root / digest
    if target.is_dir():
        return target
    root.mkdir(parents=True, exist_ok=True)
    data = storage.read(storage.bundle_key(digest))
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise BundleError(f"Bundle {digest[:12]} failed verification (got sha256 {actual[:12]}).")
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=root))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            # The "data" filter refuses absolute paths, parent references, links out of
            # the tree and device files, on top of the checks made at publish time.
            tar.extractall(staging, filter="data")
        os.chmod(staging, 0o755)  # mkdtemp made it private; steps may run as another user
        # Compiled once here, so each step process reads bytecode instead of compiling the
        # bundle's modules again (steps run with PYTHONDONTWRITEBYTECODE).
        compileall.compile_dir(staging, quiet=2, workers=1)
        try:
            os.rename(staging, target)  # atomic: a concurrent fetch of the same digest loses cleanly
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
