"""Starting step processes on a worker, through the fork server or a plain spawn.

``FLOWDECK_STEP_LAUNCHER=forkserver`` (the default) keeps one ``flowdeck.forkserver``
per worker process, started with the clean step environment, and forks each step from
it (about a millisecond). ``spawn`` starts ``python -m flowdeck.runner`` per step (about
20 ms more each), for systems where fork is not wanted. Both give a step its own
process group, environment and log file; the caller sees one ``StepProcess`` either way.
"""
from __future__ import annotations

import json
import os
import pwd
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings

KILL_GRACE_S = 2.0


class LauncherError(RuntimeError):
    pass


class StepProcess:
    """A started step: wait for its exit code, or kill its whole process group."""

    def __init__(self, pid: int, waiter, results=lambda pid: None):
        self.pid = pid
        self._waiter = waiter
        self._results = results
        self.returncode: int | None = None

    def results(self) -> str | None:
        """Once it ended: what a forked step wrote on its results pipe (its short outputs as
        JSON, written by step code's process, so untrusted), or None."""
        return self._results(self.pid)

    def wait(self, timeout: float) -> int | None:
        if self.returncode is None:
            self.returncode = self._waiter(self.pid, timeout)
        return self.returncode

    def kill(self) -> None:
        """SIGTERM to the group, then SIGKILL after a grace period."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            _signal_group(self.pid, sig)
            deadline = time.monotonic() + KILL_GRACE_S
            while time.monotonic() < deadline:
                if self.wait(0.05) is not None:
                    return


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        try:  # the child may not have called setsid() yet
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def base_environment(home: str) -> dict[str, str]:
    """What every step process (and the fork server) starts from. Nothing of the worker's."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if settings.FLOWDECK_STEP_PYTHONPATH:
        env["PYTHONPATH"] = settings.FLOWDECK_STEP_PYTHONPATH
    return env


def step_python() -> str:
    """The interpreter steps run in: the worker's own unless FLOWDECK_STEP_PYTHON names
    another (one with the flowdeck SDK and the steps' libraries installed)."""
    return settings.FLOWDECK_STEP_PYTHON or sys.executable


class ForkServer:
    def __init__(self) -> None:
        home = Path(settings.FLOWDECK_WORKER_CACHE) / "forkserver-home"
        home.mkdir(parents=True, exist_ok=True)
        env = base_environment(str(home))
        # Where steps log to (not a secret): over https, the server loads the CA bundle once
        # for every step; over http it leaves it out (a few MB fewer to copy at each fork).
        env["FLOWDECK_URL"] = settings.FLOWDECK_INTERNAL_URL
        if settings.FLOWDECK_FORKSERVER_PRELOAD:
            env["FLOWDECK_FORKSERVER_PRELOAD"] = settings.FLOWDECK_FORKSERVER_PRELOAD
        self.owner = os.getpid()
        self.proc = subprocess.Popen(
            [step_python(), "-m", "flowdeck.forkserver"],
            cwd=home,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        self._buffer = b""
        self._exits: dict[int, int] = {}
        self._results: dict[int, str] = {}
        self._lock = threading.Lock()

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.proc.poll() is None

    def start(self, request: dict) -> StepProcess:
        with self._lock:
            try:
                self.proc.stdin.write((json.dumps(request) + "\n").encode())
                self.proc.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise LauncherError(f"the fork server is gone ({exc})") from None
            deadline = time.monotonic() + 30
            while True:
                event = self._next_event(deadline - time.monotonic())
                if event is None:
                    raise LauncherError("the fork server did not answer within 30 s")
                if "pid" in event:
                    return StepProcess(event["pid"], self._wait, self._take_results)
                if "error" in event:
                    raise LauncherError(event["error"])
                self._exited(event)

    def _wait(self, pid: int, timeout: float) -> int | None:
        with self._lock:
            deadline = time.monotonic() + timeout
            while pid not in self._exits:
                event = self._next_event(deadline - time.monotonic())
                if event is None:
                    return None
                if "exit" in event:
                    self._exited(event)
            return self._exits.pop(pid)

    def _exited(self, event: dict) -> None:
        self._exits[event["exit"]] = event["code"]
        if isinstance(event.get("results"), str):
            self._results[event["exit"]] = event["results"]

    def _take_results(self, pid: int) -> str | None:
        with self._lock:
            return self._results.pop(pid, None)

    def _next_event(self, timeout: float) -> dict | None:
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise LauncherError(f"the fork server exited (code {self.proc.poll()})")
            self._buffer += chunk
            timeout = 0.0 if timeout <= 0 else timeout
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()


_server: ForkServer | None = None


def fork_server() -> ForkServer:
    """This process's fork server, started on first use and again if it died."""
    global _server
    if _server is None or not _server.alive():
        _server = ForkServer()
    return _server


def step_user() -> tuple[int, int] | None:
    """(uid, gid) of FLOWDECK_STEP_USER, the account steps run as, or None to keep the
    worker's own. Only a worker running as root can switch; it then must."""
    name = settings.FLOWDECK_STEP_USER
    if not name:
        return None
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except KeyError:
        raise LauncherError(f"FLOWDECK_STEP_USER {name!r} is not a user on this worker.") from None
    if os.geteuid() != 0 and os.geteuid() != entry.pw_uid:
        raise LauncherError("FLOWDECK_STEP_USER needs the worker to run as root.")
    return entry.pw_uid, entry.pw_gid


def hand_over(workdir: Path, user: tuple[int, int] | None) -> None:
    """Give the step's work folder to the account it runs as."""
    if user is None:
        return
    for root, dirs, names in os.walk(workdir):
        os.chown(root, *user)
        for name in dirs + names:
            os.chown(os.path.join(root, name), *user)


def step_start(
    *, workdir: Path, cwd: Path, env: dict[str, str], log_path: Path, manifest: dict | None = None
) -> StepProcess:
    """Start the step of ``workdir``. ``manifest`` (what to call) goes to a forked step in
    its request, and to a spawned one as WORKDIR/step.json; without it, step.json must be
    there already."""
    user = step_user()
    spawn = settings.FLOWDECK_STEP_LAUNCHER == "spawn"
    if manifest is not None and spawn:
        (workdir / "step.json").write_text(json.dumps(manifest))
    log_path.touch()
    hand_over(workdir, user)
    if spawn:
        return _spawn(workdir, cwd, env, log_path, user)
    request = {"workdir": str(workdir), "cwd": str(cwd), "env": env, "log": str(log_path), "user": user}
    if manifest is not None:
        request["manifest"] = manifest
    try:
        return fork_server().start(request)
    except LauncherError:
        global _server
        _server = None  # start a fresh server once, then give up
        return fork_server().start(request)


def _spawn(workdir: Path, cwd: Path, env: dict[str, str], log_path: Path, user: tuple[int, int] | None) -> StepProcess:
    as_user = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            [step_python(), "-m", "flowdeck.runner", str(workdir)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a kill reaches its children
            **as_user,
        )

    def wait(pid: int, timeout: float) -> int | None:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    return StepProcess(proc.pid, wait)
