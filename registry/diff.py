"""What changed between two versions of a workflow: parameters, steps and code files.

A selector: it reads the two specs and the two stored bundles (through ``core.storage``)
and writes nothing.
"""
from __future__ import annotations

import difflib
import hashlib
import io
import tarfile
from core import storage
from core.errors import InvalidInput

from .models import AssetVersion

PARAM_FIELDS = ("type", "default", "required", "choices", "min", "max", "description")
STEP_FIELDS = ("fn", "depends_on", "inputs", "outputs", "when", "cache", "retries", "timeout_s",
               "uses", "params", "outputs_from", "resources")  # uses, params, outputs_from: sub-workflow steps
# Fields that specs published before they existed lack: compared as their default, so an old
# version and a new one that did not change them show no difference.
FIELD_DEFAULTS = {"resources": "cpu"}
MAX_TEXT_DIFF_BYTES = 200 * 1024


def _compare(old_items: list[dict], new_items: list[dict], fields: tuple[str, ...]) -> dict[str, list]:
    """Items matched by ``name``: added and removed names, and per changed item the fields
    that differ as ``{field: {"old", "new"}}``."""
    old = {item["name"]: item for item in old_items or []}
    new = {item["name"]: item for item in new_items or []}
    changed = []
    for name in (n for n in new if n in old):
        fields_changed = {
            f: {"old": old[name].get(f, FIELD_DEFAULTS.get(f)), "new": new[name].get(f, FIELD_DEFAULTS.get(f))}
            for f in fields
            if old[name].get(f, FIELD_DEFAULTS.get(f)) != new[name].get(f, FIELD_DEFAULTS.get(f))
        }
        if fields_changed:
            changed.append({"name": name, "changes": fields_changed})
    return {
        "added": [n for n in new if n not in old],
        "removed": [n for n in old if n not in new],
        "changed": changed,
    }


def _bundle_files(digest: str) -> dict[str, tuple[str, bytes | None]]:
    """path -> (sha256, bytes when small enough to diff as text, else None)."""
    files: dict[str, tuple[str, bytes | None]] = {}
    with storage.open_read(storage.bundle_key(digest)) as fh:
        with tarfile.open(fileobj=io.BytesIO(fh.read()), mode="r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                data = tar.extractfile(member).read()
                files[member.name] = (hashlib.sha256(data).hexdigest(), data if len(data) <= MAX_TEXT_DIFF_BYTES else None)
    return files


def _text(data: bytes | None) -> str | None:
    if data is None or b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _files_compare(old: AssetVersion, new: AssetVersion) -> dict[str, list]:
    if old.bundle_digest == new.bundle_digest:  # content-addressed: same digest, same files
        return {"added": [], "removed": [], "changed": []}
    before, after = _bundle_files(old.bundle_digest), _bundle_files(new.bundle_digest)
    changed = []
    for path in sorted(p for p in after if p in before and before[p][0] != after[p][0]):
        old_text, new_text = _text(before[path][1]), _text(after[path][1])
        diff = None
        if old_text is not None and new_text is not None:
            diff = "".join(
                difflib.unified_diff(
                    old_text.splitlines(keepends=True),
                    new_text.splitlines(keepends=True),
                    fromfile=f"{old.version}/{path}",
                    tofile=f"{new.version}/{path}",
                )
            )
        changed.append({"path": path, "old_sha256": before[path][0], "new_sha256": after[path][0], "diff": diff})
    return {
        "added": sorted(p for p in after if p not in before),
        "removed": sorted(p for p in before if p not in after),
        "changed": changed,
    }


def diff_versions_pick(*, asset, from_version: str | None, to_version: str | None) -> tuple[AssetVersion, AssetVersion]:
    """The two versions to compare: ``to`` defaults to the latest, ``from`` to the version
    published just before ``to``."""
    from .selectors import version_get, version_previous

    new = version_get(asset=asset, version=to_version or None)
    if from_version:
        return version_get(asset=asset, version=from_version), new
    old = version_previous(version=new)
    if old is None:
        raise InvalidInput(f"{new} is the first version; there is nothing to compare it with.", field="from")
    return old, new


def version_diff(*, old: AssetVersion, new: AssetVersion) -> dict:
    """Params and steps added, removed and changed (field by field), and code files added,
    removed and changed (by sha256), with a unified diff for changed text files up to 200 KB
    (``diff`` is None for binary or larger files)."""
    return {
        "asset": new.asset.full_name,
        "from": old.version,
        "to": new.version,
        "params": _compare(old.spec.get("params"), new.spec.get("params"), PARAM_FIELDS),
        "steps": _compare(old.spec.get("steps"), new.spec.get("steps"), STEP_FIELDS),
        "files": _files_compare(old, new),
    }
