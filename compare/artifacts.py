"""Artifacts side by side: which runs have which paths, and one path's content in every run —
images next to each other, text and JSON diffed against the first run that has it, CSV as
tables. Bytes are read only through ``core.storage``, and never more than a capped prefix."""
from __future__ import annotations

import csv
import difflib
import io
import json
from collections import defaultdict

from django.urls import reverse

from core import storage
from runs.models import Artifact, Run

IMAGE = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".svg"}
JSON = {".json"}
CSV = {".csv", ".tsv"}
TEXT = {".txt", ".log", ".md", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".py", ".sh", ".html", ".xml", ".jsonl",
        ".rst", ".sql", ".r", ".ipynb"}
MAX_TEXT_BYTES = 256 * 1024  # read of each run's text, JSON or CSV artifact
MAX_IMAGE_BYTES = 20 * 1024 * 1024  # larger images are linked, not shown
MAX_DIFF_LINES = 2000
MAX_CSV_ROWS = 200
MAX_CSV_COLUMNS = 50
MAX_PATHS = 500


def artifact_kind(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    ext = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    for kind, exts in (("image", IMAGE), ("json", JSON), ("csv", CSV), ("text", TEXT)):
        if ext in exts:
            return kind
    return "binary"


def artifact_table(runs: list[Run]) -> list[dict]:
    """Every artifact path of the runs: ``{"path", "kind", "sizes": [bytes or None per run]}``."""
    sizes: dict[str, dict[int, int]] = defaultdict(dict)
    for run_id, path, size in Artifact.objects.filter(run__in=runs).values_list("run_id", "path", "size"):
        sizes[path][run_id] = size
    return [{"path": path, "kind": artifact_kind(path), "sizes": [sizes[path].get(r.pk) for r in runs]}
            for path in sorted(sizes)[:MAX_PATHS]]


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _csv_rows(text: str, path: str) -> list[list[str]]:
    dialect = "excel-tab" if path.lower().endswith(".tsv") else "excel"
    rows = []
    for row in csv.reader(io.StringIO(text), dialect=dialect):
        rows.append(row[:MAX_CSV_COLUMNS])
        if len(rows) >= MAX_CSV_ROWS:
            break
    return rows


def _diff(base: list[str], other: list[str], base_name: str, other_name: str) -> list[str]:
    lines = list(difflib.unified_diff(base, other, base_name, other_name, lineterm="", n=3))
    return lines[:MAX_DIFF_LINES]


def artifact_side_by_side(*, runs: list[Run], path: str) -> dict:
    """``{"path", "kind", "items": [one per run]}``. Each item has ``run``, ``present``,
    ``size``, ``url`` (the download link), and by kind: ``shown`` (an image small enough to
    show), ``text`` (text and JSON, JSON pretty-printed), ``truncated``, ``diff`` (unified
    diff lines against the first run that has the path; None for that run), ``rows`` (CSV)."""
    path = storage.clean_relpath(path)
    kind = artifact_kind(path)
    found = {a.run_id: a for a in Artifact.objects.filter(run__in=runs, path=path)}
    items, base = [], None
    for run in runs:
        artifact = found.get(run.pk)
        item: dict = {"run": run.pk, "present": artifact is not None}
        items.append(item)
        if artifact is None:
            continue
        item.update(size=artifact.size, url=reverse("runs:artifact", args=[run.pk, artifact.path]))
        if kind == "image":
            item["shown"] = artifact.size <= MAX_IMAGE_BYTES
            continue
        if kind == "binary":
            continue
        data = storage.read_range(storage.artifact_key(run.pk, path), 0, MAX_TEXT_BYTES)
        truncated = artifact.size > len(data)
        text = _decode(data)
        if kind == "json" and not truncated:
            try:
                text = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False)
            except ValueError:
                pass  # not JSON after all: shown and diffed as text
        item.update(text=text, truncated=truncated)
        if kind == "csv":
            item["rows"] = _csv_rows(text, path)
        lines = text.splitlines()
        if base is None:
            base = (run, lines)
            item["diff"] = None
        else:
            item["diff"] = _diff(base[1], lines, f"run {base[0].pk}/{path}", f"run {run.pk}/{path}")
    return {"path": path, "kind": kind, "items": items}
