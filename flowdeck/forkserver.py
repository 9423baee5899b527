"""A pre-warmed interpreter that forks step processes: ``python -m flowdeck.forkserver``.

Starting ``python -m flowdeck.runner`` costs 20 ms or more per step (interpreter start and
imports). The worker instead starts this server once, with the clean step environment
(no database URL, no storage keys, no Django: nothing secret is ever in its memory), and
the server forks one child per step. A fork of a warm interpreter starts in about a
millisecond, and each step still runs in its own process, with its own environment,
session (process group), log file and resource limits (the runner sets those).

Protocol, one JSON object per line. The worker writes requests on the server's stdin:

    {"workdir": ..., "cwd": ..., "env": {...}, "log": path, "user": [uid, gid] or null,
     "manifest": {...}}

and reads events on its stdout: ``{"pid": n}`` once the child is forked (or
``{"error": "..."}``), then ``{"exit": n, "code": c, "results": "..."}`` when it ends
(``c`` is negative for a signal, as with subprocess). ``results`` is what the child wrote
on a pipe of its own (the runner: its short outputs, as JSON), so that they need no files;
it is the step's to write, so the worker reads it as untrusted, as it reads files. End of input (the worker exited, even by SIGKILL)
makes the server kill its children and leave, so no step outlives its worker.

``manifest`` is what WORKDIR/step.json would hold (the child reads that file when it is
absent). A request is the step's own: its environment with its token, and its arguments.
It may linger in the server's freed memory, where a later step of the same worker process
could dig it out; that is no more than one step can read of another running under the same
account (its folder, /proc/PID/environ), and the token of a step that ended is refused.

The server is single-threaded: it waits with select() on its stdin and on a wakeup pipe
written by the SIGCHLD handler, so fork() never copies a lock held by another thread.
"""
from __future__ import annotations

import gc
import importlib
import json
import os
import py_compile
import select
import shutil
import signal
import sys
import tempfile
import traceback
from pathlib import Path

# Imported once here so that every child starts with them loaded.
# Not httpx (flowdeck.client): each page held here costs every step at fork and at exit;
# steps log through flowdeck.step_client.
from . import files, gates, local, runner, step_client, tracking  # noqa: F401

PRELOAD_ENV = "FLOWDECK_FORKSERVER_PRELOAD"  # extra modules to import, comma-separated
PR_SET_PDEATHSIG = 1


def _preload() -> None:
    for name in filter(None, (m.strip() for m in os.environ.get(PRELOAD_ENV, "").split(","))):
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional library must not stop the server
            print(f"[flowdeck] fork server could not preload {name}: {exc}", file=sys.stderr, flush=True)


_libc = None


def _die_with_parent(sig: int) -> None:
    """Linux: have the kernel send ``sig`` to this process when its parent dies, even by
    SIGKILL, so no step outlives the worker that started it. libc is found once, in the
    server (``find_library`` runs ldconfig), and children inherit it."""
    global _libc
    if not sys.platform.startswith("linux"):
        return
    try:
        if _libc is None:
            import ctypes
            import ctypes.util

            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except OSError:
        pass


def _child(request: dict, keep_open: tuple[int, ...], results_fd: int) -> None:
    """In the forked child: become the step. Never returns. (``keep_open``: the server's
    own descriptors, closed here.)"""
    code = 1
    try:
        _die_with_parent(signal.SIGKILL)  # the fork server died without cleaning up: go too
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        for fd in keep_open:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        os.close(devnull)
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
        if request.get("user"):
            uid, gid = request["user"]
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)  # a root worker runs steps as FLOWDECK_STEP_USER; there is no way back
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # re-read TMPDIR from the step's environment
        code = runner.main([request["workdir"]], manifest=request.get("manifest"), results_fd=results_fd)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


REHEARSALS = 12  # enough for the interpreter to specialise the code a step runs through
_REHEARSAL_MODULE = "flowdeck_forkserver_rehearsal"


def _rehearse() -> None:
    """Run a no-op step through the runner a few times in the server itself, before its heap
    is frozen. What a step's first run fills in (attribute caches, specialised bytecode,
    imports done on first use) is then shared by every child, rather than written, and so
    copied page by page, in each (about 120 fewer page faults per step). Only Flowdeck's own
    code runs: the step is a module written here, its output goes to a folder removed after."""
    root = Path(tempfile.mkdtemp(prefix="flowdeck-rehearsal-"))
    saved = sys.stdout, sys.stderr, list(sys.path), dict(os.environ)
    try:
        bundle = root / "bundle"
        bundle.mkdir()
        (bundle / f"{_REHEARSAL_MODULE}.py").write_text("def noop():\n    return 0.5\n")
        py_compile.compile(str(bundle / f"{_REHEARSAL_MODULE}.py"), doraise=True)  # bundles are compiled
        os.environ.update({"FLOWDECK_URL": "http://127.0.0.1:9", "FLOWDECK_TOKEN": "rehearsal"})
        for i in range(REHEARSALS):
            workdir = root / str(i)
            (workdir / "scratch").mkdir(parents=True)
            results_r, results_w = os.pipe()
            with open(workdir / "log.txt", "w", buffering=1, encoding="utf-8", errors="backslashreplace") as log:
                sys.stdout = sys.stderr = log  # never the worker's pipe
                runner.main([str(workdir)], manifest={
                    "run_id": 0, "step": "rehearsal", "attempt": 1, "fn": f"{_REHEARSAL_MODULE}:noop",
                    "bundle": str(bundle), "args": {}, "input_files": {}, "outputs": ["t"], "limits": {},
                    "inline_max": 4096,
                }, results_fd=results_w)
            os.close(results_w)
            while os.read(results_r, 65536):
                pass
            os.close(results_r)
            sys.stdout, sys.stderr = saved[0], saved[1]
            sys.modules.pop(_REHEARSAL_MODULE, None)
            sys.path[:] = saved[2]
        sys.path_importer_cache.pop(str(bundle), None)
    except Exception as exc:  # a server that could not rehearse still works, a little slower per step
        print(f"[flowdeck] fork server could not rehearse a step: {exc}", file=saved[1], flush=True)
    finally:
        sys.stdout, sys.stderr = saved[0], saved[1]
        sys.path[:] = saved[2]
        os.environ.clear()
        os.environ.update(saved[3])
        shutil.rmtree(root, ignore_errors=True)


def _send(event: dict) -> None:
    data = (json.dumps(event) + "\n").encode()
    while data:
        data = data[os.write(1, data):]


def serve() -> int:
    # The worker process that started us dies: SIGTERM, whose handler kills every step's
    # process group on the way out (end of input does the same when the worker exits).
    _die_with_parent(signal.SIGTERM)
    if os.environ.get("FLOWDECK_URL", "").startswith("https:"):
        step_client.warm_up()  # the CA bundle, loaded once here (tens of ms), not in every step
    _preload()
    _rehearse()
    # Everything imported so far is shared with every child: moved out of the collector's
    # reach, so a collection in a child does not touch (and copy) every page of it.
    gc.collect()
    gc.freeze()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    children: dict[int, _Results] = {}
    pending = b""
    try:
        while True:
            reading = {r.fd: r for r in children.values() if r.fd is not None}
            try:
                readable, _, _ = select.select([0, wake_r, *reading], [], [])
            except InterruptedError:
                readable = [wake_r]
            for fd in readable:
                if fd in reading:
                    reading[fd].read()
            if wake_r in readable:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
                _reap(children)
            if 0 in readable:
                chunk = os.read(0, 65536)
                if not chunk:
                    return 0  # the worker is gone
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    _start(json.loads(line), children, (wake_r, wake_w))
    finally:
        for pid in children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass


RESULTS_MAX_BYTES = 4 * 1024 * 1024  # past it a child's results are dropped (its outputs then missing)


class _Results:
    """The read end of a child's results pipe, and what came through it so far."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd
        self.data = bytearray()
        self.too_big = False

    def read(self) -> None:
        """What is waiting (the pipe is non-blocking), closing it at its end."""
        while self.fd is not None:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                os.close(self.fd)
                self.fd = None
                return
            if len(self.data) + len(chunk) > RESULTS_MAX_BYTES:
                self.too_big = True
                self.data.clear()
            if not self.too_big:
                self.data += chunk

    def text(self) -> str | None:
        self.read()  # the child is gone: the rest is in the pipe, and then its end
        if self.fd is not None:  # a grandchild holds the write end open: what came is all there is
            os.close(self.fd)
            self.fd = None
        return None if self.too_big or not self.data else self.data.decode("utf-8", "replace")


def _start(request: dict, children: dict[int, _Results], keep_open: tuple[int, ...]) -> None:
    try:
        results_r, results_w = os.pipe()
    except OSError as exc:
        _send({"error": f"pipe failed: {exc}"})
        return
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(results_r)
        os.close(results_w)
        _send({"error": f"fork failed: {exc}"})
        return
    if pid == 0:
        others = tuple(r.fd for r in children.values() if r.fd is not None)
        _child(request, (*keep_open, *others, results_r), results_w)
    os.close(results_w)
    os.set_blocking(results_r, False)
    children[pid] = _Results(results_r)
    _send({"pid": pid})


def _reap(children: dict[int, _Results]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        results = children.pop(pid, None)
        event = {"exit": pid, "code": os.waitstatus_to_exitcode(status)}
        text = results.text() if results is not None else None
        if text is not None:
            event["results"] = text
        _send(event)


if __name__ == "__main__":
    sys.exit(serve())
