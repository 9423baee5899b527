"""Tools for tests that inject real faults: killing workers, a Redis server of the test's
own, a TCP proxy that can cut a connection, process probes, and publishing a workflow
written with the SDK's decorators.

Nothing here touches shared services: the Redis server and the proxy listen on free
loopback ports of their own and are stopped by the test that started them.
"""
from __future__ import annotations

import importlib.util
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db.models import Count

from core import storage
from runs.models import Metric, MetricSummary, Run, RunStatus, StepRun
from runs.services.lifecycle import run_start
from runs.stored_outputs import output_bytes
from tests.factories import publish
from tests.worker_procs import EXEC_WITH_PARENT_DEATH_SIGNAL, CeleryWorker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- workers ----------------------------------------------------------------------------------
def worker_kill_all(worker: CeleryWorker) -> None:
    """SIGKILL the worker's main process and its pool (one process group): a machine that
    lost power, as far as the broker and the database can tell."""
    try:
        os.killpg(worker.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    worker.proc.wait(timeout=10)


def pool_pids(worker: CeleryWorker) -> set[int]:
    """The pids of the worker's pool processes (children of its main process)."""
    return {pid for pid in process_children(worker.proc.pid) if process_alive(pid)}


# --- processes ----------------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    return raw[raw.rindex(")") + 2:].split()


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (dead, waiting for a parent to reap it) is not alive."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def process_children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                children.append(int(entry.name))
    return children


def process_group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def process_rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


# --- a Redis server of the test's own ------------------------------------------------------------
class RedisServer:
    """``redis-server`` on a free loopback port that keeps nothing on disk, so a restart
    loses every message it held, as a broker that crashed would."""

    def __init__(self, workdir: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}:
                pytest.fail("CI=true but redis-server is not installed; the broker fault test must run in CI.")
            pytest.skip("redis-server is not installed")
        self.executable = executable
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "redis.log", "ab") as log_file:
            self.proc = subprocess.Popen(
                [
                    sys.executable, "-c", EXEC_WITH_PARENT_DEATH_SIGNAL, str(os.getpid()), self.executable,
                    "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", str(self.workdir), "--daemonize", "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while not self.ping():
            if self.proc.poll() is not None:
                pytest.fail(f"redis-server exited with {self.proc.returncode}:\n{(self.workdir / 'redis.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server on port {self.port} did not answer PING")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the broker crashes, with every queued and unacknowledged message."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


# --- a TCP proxy that can cut the line ---------------------------------------------------------
class TcpProxy:
    """Forwards a loopback port to ``upstream``. ``down()`` closes the listening socket and
    every open connection (new ones are refused); ``up()`` listens again on the same port."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.refused_while_down = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    server.close()
                    return
                self._conns.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)


# --- workflows written with the SDK ---------------------------------------------------------------
def publish_sdk_workflow(user, root: Path, source: str, *, version: str = "1.0.0"):
    """Write ``source`` (a module defining ``wf`` with the SDK's decorators) as
    ``root/workflow.py``, build its spec and bundle as ``flowdeck publish`` does, and publish
    it through the registry service. Returns the AssetVersion."""
    from flowdeck.publish import publish_plan
    from registry.services import version_publish

    root.mkdir(parents=True, exist_ok=True)
    path = root / "workflow.py"
    path.write_text(source)
    module_name = f"fault_wf_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plan = publish_plan(module.wf, root)
    return version_publish(user=user, spec=plan["spec"], bundle=plan["bundle"].data, version=version, visibility="public")


# --- reading a run back ------------------------------------------------------------------------
def steps_of(run: Run) -> dict[str, StepRun]:
    return {s.name: s for s in run.steps.all()}


def describe(run: Run) -> dict:
    return {s.name: (s.status, s.attempt, s.exit_code, s.error[:300]) for s in run.steps.all()} | {"run": (run.status, run.error)}


def wait_for_run(worker, run_id: int, *, timeout: float = 60.0, each: Callable[[], None] | None = None) -> Run:
    """Wait until the run is final, calling ``each`` (e.g. the reaper) on every poll."""

    def final():
        if each is not None:
            each()
        run = Run.objects.get(pk=run_id)
        return run if run.is_final else None

    return worker.wait_for(final, timeout=timeout, interval=0.25, what=f"run {run_id} to finish")


def pids_in(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def assert_points_once(run: Run, expected: dict[str, int]) -> None:
    """Each metric key has exactly ``expected[key]`` points, one per step: nothing doubled,
    nothing lost, and the summaries agree."""
    per_step = list(Metric.objects.filter(run=run).values("key", "step").annotate(n=Count("id")).filter(n__gt=1))
    assert per_step == [], f"duplicate metric points: {per_step}"
    counts = dict(Metric.objects.filter(run=run).values_list("key").annotate(n=Count("id")))
    assert counts == expected
    summaries = {s.key: s.count for s in MetricSummary.objects.filter(run=run)}
    assert summaries == expected


def assert_healthy(worker, user) -> None:
    """The worker is alive and runs another workflow to success."""
    assert worker.alive(), worker.log_tail()
    version = publish(user, version="9.0.0")
    run = run_start(user=user, version=version, params={"n": 5})
    run = worker.wait_for_run(run.pk, timeout=45)
    assert run.status == RunStatus.SUCCEEDED, describe(run)
    assert pickle.loads(output_bytes(steps_of(run)["b"].outputs["y"])) == 10
