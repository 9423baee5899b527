"""Quality gates and the step cache for local runs (``flowdeck.local``).

The rules are those of the server (``flowdeck.gates``); only the sources differ: values
come from this process's memory, and cached outputs live under ``.flowdeck/cache/<key>/``
(next to the runs folder) as pickles, with a ``meta.json`` saying which run made them.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import json
import os
import pickle
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import bundle
from .gates import (
    NOT_SCALAR,
    GateRef,
    cache_inputs,
    cache_key,
    gate_evaluate,
    json_scalar,
    missing_metric_error,
    not_scalar_error,
)


class LocalSteps:
    """What gates and caching need during one local run. ``points`` returns the metric
    points logged so far in the run."""

    def __init__(self, *, wf, run_id: str, cache_dir: Path, points: Callable[[], list[dict]], ignore: list[Path] = ()) -> None:
        self.wf = wf
        self.run_id = run_id
        self.cache_dir = Path(cache_dir)
        self.points = points
        self.ignore = [Path(p).resolve() for p in ignore]
        self._bundle_digest: str | None = None
        self._digests: dict[tuple[str, str], str | None] = {}
        self.cached_metrics: dict[str, dict[str, float]] = {}  # step -> its metrics, for cache hits
        self.warnings: list[str] = []

    # --- gates ---------------------------------------------------------------------------------
    def gate(self, text: str, params: dict[str, Any], results: dict) -> dict[str, Any]:
        """Evaluate a gate; returns the record ``{"expr", "passed", "values"}`` or raises GateError."""

        def lookup(ref: GateRef) -> Any:
            if ref.kind == "param":
                return params.get(ref.key)  # the expression refuses what it cannot use (a dict)
            if ref.kind == "metric":
                cached = self.cached_metrics.get(ref.step)
                if cached is not None:
                    if ref.key not in cached:
                        raise missing_metric_error(ref)
                    return cached[ref.key]
                last = _last_values(self.points()).get(ref.key)
                if last is None:
                    raise missing_metric_error(ref)
                return last
            value = json_scalar(results[ref.step].outputs.get(ref.key))
            if value is NOT_SCALAR:
                raise not_scalar_error(ref)
            return value

        return gate_evaluate(text, lookup)

    # --- the cache -----------------------------------------------------------------------------
    def bundle_digest(self) -> str:
        """sha256 of the workflow's source folder: every file a bundle of it would hold, by
        path and content. Computed once per run. The runs and cache folders are left out
        even when they sit inside the source folder, or each run would change the digest."""
        if self._bundle_digest is None:
            root = self.source_root()
            h = hashlib.sha256()
            for rel, path in bundle.collect(root):
                resolved = path.resolve()
                if any(resolved.is_relative_to(p) for p in self.ignore):
                    continue
                h.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
            self._bundle_digest = h.hexdigest()
        return self._bundle_digest

    def source_root(self) -> Path:
        source = getattr(self.wf, "source_file", None)
        if not source:
            first = next(iter(self.wf.steps.values()))
            source = inspect.getsourcefile(first.fn)
        return Path(source).resolve().parent

    def output_digest(self, step: str, name: str, results: dict) -> str | None:
        """sha256 of the pickle of an upstream output; None if it cannot be pickled."""
        if (step, name) not in self._digests:
            try:
                data = pickle.dumps(results[step].outputs[name], protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:
                self._digests[(step, name)] = None
            else:
                self._digests[(step, name)] = hashlib.sha256(data).hexdigest()
        return self._digests[(step, name)]

    def key(self, step_spec: dict, params: dict[str, Any], results: dict) -> str | None:
        inputs = cache_inputs(step_spec, params, lambda s, o: self.output_digest(s, o, results))
        if inputs is None:
            return None
        return cache_key(bundle_digest=self.bundle_digest(), step=step_spec["name"], inputs=inputs)

    def lookup(self, key: str, step: str) -> tuple[dict[str, Any], dict] | None:
        """The outputs and meta of a cached result, or None on a miss (or an unreadable entry)."""
        folder = self.cache_dir / key
        try:
            meta = json.loads((folder / "meta.json").read_text())
            outputs = {}
            for name in meta["outputs"]:
                with open(folder / "outputs" / f"{name}.pkl", "rb") as fh:
                    outputs[name] = pickle.load(fh)
        except FileNotFoundError:
            return None
        except Exception as exc:
            self.warnings.append(f"cache entry {folder} is unreadable ({exc}); running {step}")
            return None
        for name, digest in (meta.get("sha256") or {}).items():
            self._digests[(step, name)] = digest
        self.cached_metrics[step] = meta.get("metrics") or {}
        return outputs, meta

    def store(self, key: str, step: str, outputs: dict[str, Any], points: list[dict]) -> str | None:
        """Write a result to the cache; returns a warning instead when an output cannot be pickled."""
        tmp = self.cache_dir / f".tmp-{uuid.uuid4().hex}"
        try:
            (tmp / "outputs").mkdir(parents=True)
            digests = {}
            for name, value in outputs.items():
                data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
                (tmp / "outputs" / f"{name}.pkl").write_bytes(data)
                digests[name] = hashlib.sha256(data).hexdigest()
            meta = {
                "run": self.run_id, "step": step, "outputs": list(outputs), "sha256": digests,
                "metrics": _last_values(points), "created": dt.datetime.now(dt.UTC).isoformat(),
            }
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
            try:
                os.rename(tmp, self.cache_dir / key)  # atomic; a concurrent run may have won
            except OSError:
                pass
            return None
        except Exception as exc:
            return f"not cached: {type(exc).__name__}: {exc}"
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _last_values(points: list[dict]) -> dict[str, float]:
    """Each key's value at its highest step (the later one on a tie), as the server keeps it."""
    last: dict[str, tuple[int, float]] = {}
    for p in points:
        seen = last.get(p["key"])
        if seen is None or p.get("step", 0) >= seen[0]:
            last[p["key"]] = (p.get("step", 0), p["value"])
    return {k: v for k, (_, v) in last.items()}

