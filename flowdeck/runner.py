"""The step subprocess: ``python -m flowdeck.runner WORKDIR``.

The worker writes WORKDIR/step.json (what to call, with which arguments; a step forked
by the fork server gets it in its request instead) and the input pickles (a short one
comes base64 in the manifest's ``input_inline`` instead of a file), and reads back
WORKDIR/outputs/*.pkl (plus <name>.json for outputs that are JSON scalars, which quality
gates read). A forked step writes its short outputs on the fork server's results pipe
instead (``results_fd``), and no file for them. This process has only the environment the
worker gave it: the API URL and a token that can log to this run, nothing else.
"""
from __future__ import annotations

import base64
import importlib
import json
import os
import pickle
import resource
import sys
import traceback
from pathlib import Path


def _load_function(bundle: str, ref: str):
    module_name, _, attr = ref.partition(":")
    sys.path.insert(0, bundle)
    module = importlib.import_module(module_name)
    target = getattr(module, attr)
    return getattr(target, "fn", target)  # a @wf.step function is wrapped in a Step


class _LazyClient:
    """The API client, made on first use: a step that logs nothing never builds one."""

    def __init__(self, factory, url: str, token: str):
        self._make = lambda: factory(url, token)
        self._client = None

    def __getattr__(self, name: str):
        if self._client is None:
            self._client = self._make()
        return getattr(self._client, name)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def apply_limits(limits: dict) -> None:
    """Lower this process's memory and CPU limits (RLIMIT_AS, RLIMIT_CPU) before any step
    code runs. Both limits are hard: the step cannot raise them again."""
    memory_mb = limits.get("memory_mb")
    if memory_mb:
        size = int(memory_mb) * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))
    cpu_s = limits.get("cpu_s")
    if cpu_s:
        seconds = max(1, int(cpu_s))
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))  # SIGXCPU, then SIGKILL


class _Spill:
    """A file for pickle to write to that keeps the first ``limit`` bytes in memory and goes
    on in ``path`` only past them: a short output then needs no file at all, and a long one
    is never held whole in memory."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path, self.limit = path, limit
        self.buffer: bytearray | None = bytearray()
        self.file = None

    def write(self, data) -> int:
        if self.buffer is not None and len(self.buffer) + len(data) <= self.limit:
            self.buffer += data
            return len(data)
        if self.file is None:
            self.path.parent.mkdir(exist_ok=True)  # outputs/: made only when a file goes there
            self.file = open(self.path, "wb")
            self.file.write(self.buffer)
            self.buffer = None
        return self.file.write(data)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def _write_outputs(workdir: Path, outputs: dict, results_fd: int | None, inline_max: int) -> None:
    """Each output's pickle, and its JSON value when it is a scalar (quality gates read it;
    the server never unpickles an output). With a results pipe (a forked step), outputs of
    up to ``inline_max`` bytes go on it, as one JSON object, and need no file; the others,
    and all of a spawned step's, go to WORKDIR/outputs/<name>.pkl and <name>.json."""
    from .files import pack
    from .gates import NOT_SCALAR, json_scalar

    results: dict[str, dict] = {}
    for name, value in outputs.items():
        scalar = json_scalar(value)
        spill = _Spill(workdir / "outputs" / f"{name}.pkl", inline_max if results_fd is not None else -1)
        try:
            pickle.dump(pack(value), spill, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            spill.close()
        if spill.buffer is not None:
            results[name] = {"pickle": base64.b64encode(spill.buffer).decode("ascii")}
            if scalar is not NOT_SCALAR:
                results[name]["value"] = scalar
        elif scalar is not NOT_SCALAR:  # its .pkl is there, and so the folder
            (workdir / "outputs" / f"{name}.json").write_text(json.dumps(scalar))
    if results_fd is not None:
        data = json.dumps(results).encode()
        while data:
            data = data[os.write(results_fd, data):]


def main(argv: list[str] | None = None, manifest: dict | None = None, results_fd: int | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    workdir = Path(argv[0])
    if manifest is None:
        manifest = json.loads((workdir / "step.json").read_text())
    print(f"[flowdeck] step {manifest['step']} of run {manifest['run_id']}, attempt {manifest['attempt']}", flush=True)

    from .files import unpack
    from .local import map_outputs
    from .step_client import StepClient
    from .tracking import HttpSink, activate

    client = _LazyClient(StepClient, os.environ["FLOWDECK_URL"], os.environ["FLOWDECK_TOKEN"])
    sink = HttpSink(client, manifest["run_id"])
    code = 0
    try:
        apply_limits(manifest.get("limits") or {})
        fn = _load_function(manifest["bundle"], manifest["fn"])
        kwargs = dict(manifest["args"])
        for arg, rel in manifest["input_files"].items():
            with open(workdir / rel, "rb") as fh:
                kwargs[arg] = unpack(pickle.load(fh), workdir / "scratch" / "inputs" / arg)
        for arg, text in (manifest.get("input_inline") or {}).items():  # short pickles, base64
            kwargs[arg] = unpack(pickle.loads(base64.b64decode(text)), workdir / "scratch" / "inputs" / arg)
        with activate(sink, manifest["run_id"]):
            result = fn(**kwargs)
        outputs = map_outputs(manifest["step"], manifest["outputs"], result)
        _write_outputs(workdir, outputs, results_fd, int(manifest.get("inline_max") or 0))
    except BaseException as exc:  # the traceback goes to the step log; the exit code tells the worker
        if isinstance(exc, SystemExit):  # sys.exit(n) in step code: n is the step's exit code
            code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr, flush=True)
        else:
            traceback.print_exc()
            code = 130 if isinstance(exc, KeyboardInterrupt) else 1
    finally:
        try:
            sink.close()  # flush metrics even when the step failed
        except Exception as exc:
            print(f"[flowdeck] could not send the last metrics: {exc}", file=sys.stderr, flush=True)
            code = code or 1
        client.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
