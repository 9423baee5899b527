"""The step subprocess: ``python -m flowdeck.runner WORKDIR``.

The worker writes WORKDIR/step.json (what to call, with which arguments; a step forked
by the fork server gets it in its request instead) and the input pickles (a short one
comes base64 in the manifest's ``input_inline`` instead of a file), and reads back
WORKDIR/outputs/*.pkl (plus <name>.json for outputs that are JSON scalars, which quality
gates read). This process has only the environment the
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


def main(argv: list[str] | None = None, manifest: dict | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    workdir = Path(argv[0])
    if manifest is None:
        manifest = json.loads((workdir / "step.json").read_text())
    print(f"[flowdeck] step {manifest['step']} of run {manifest['run_id']}, attempt {manifest['attempt']}", flush=True)

    from .step_client import StepClient
    from .files import pack, unpack
    from .gates import NOT_SCALAR, json_scalar
    from .local import map_outputs
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
        for name, value in outputs.items():
            with open(workdir / "outputs" / f"{name}.pkl", "wb") as fh:
                pickle.dump(pack(value), fh, protocol=pickle.HIGHEST_PROTOCOL)
            # The server never unpickles step outputs; a scalar also goes as JSON so that
            # quality gates can read it.
            scalar = json_scalar(value)
            if scalar is not NOT_SCALAR:
                (workdir / "outputs" / f"{name}.json").write_text(json.dumps(scalar))
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
