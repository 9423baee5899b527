"""Real ``celery worker`` processes for tests: how they are started, watched and stopped.

The fixtures that hand them out (``celery_worker``, ``celery_worker_factory``) are in
``tests/conftest.py``; the fault-injection tools (``tests/fault_tools.py``) use these too.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKER_READY_TIMEOUT_S = 60.0
WORKER_STOP_GRACE_S = 10.0


# Runs `argv[2:]` in place of itself, asking Linux first to send it SIGTERM if this test
# process dies: a session killed by `timeout` or SIGKILL never gets to run its teardown,
# and an orphaned worker would go on taking messages meant for other sessions' workers.
# (An exec keeps the setting; preexec_fn would also do it but is unsafe with threads.)
EXEC_WITH_PARENT_DEATH_SIGNAL = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (AttributeError, OSError):
    pass  # not Linux: teardown is the only cleanup
if os.getppid() != int(sys.argv[1]):
    sys.exit("the test session is gone")
os.execv(sys.argv[2], sys.argv[2:])
"""


@dataclass
class CeleryWorker:
    """A running ``celery worker`` process, attached to the test database and store."""

    proc: subprocess.Popen
    log_path: Path
    name: str
    env: dict[str, str] = field(repr=False)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 120) -> str:
        return "\n".join(self.log().splitlines()[-lines:]) or "(empty)"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, predicate: Callable[[], Any], *, timeout: float = 60.0, interval: float = 0.2, what: str = "the condition") -> Any:
        """Poll ``predicate`` until it returns something truthy, and return that.

        Fails the test at once if the worker dies, or after ``timeout`` seconds, with the
        worker's log tail."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if not self.alive():
                pytest.fail(f"the Celery worker died (exit {self.proc.returncode}) while waiting for {what}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; worker log:\n{self.log_tail()}")
            time.sleep(interval)

    def wait_for_run(self, run_id: int, *, timeout: float = 60.0):
        """Wait until run ``run_id`` is final; returns the fresh Run."""
        from runs.models import Run

        def final():
            run = Run.objects.get(pk=run_id)
            return run if run.is_final else None

        return self.wait_for(final, timeout=timeout, what=f"run {run_id} to finish")

    def stop(self) -> None:
        """A warm shutdown (SIGTERM: the task at hand finishes, the worker leaves the registry),
        for a test about how a worker stops; then nothing of it is left."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # warm shutdown: finish the task at hand
            try:
                self.proc.wait(timeout=WORKER_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        """SIGKILL to the worker's process group (its pool, their fork servers; steps follow
        their fork server), then wait for it. Teardown uses this: a warm shutdown takes 3 to
        6 s per worker (billiard closing its pool), most of a worker test's time."""
        # The pool children share the worker's process group; make sure none outlives it.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


class WorkerFactory:
    """Starts real ``celery worker`` processes for one test (see ``celery_worker_factory``)."""

    def __init__(self, request: pytest.FixtureRequest, env: dict[str, str], tmp_path_factory) -> None:
        self.request, self.env, self.tmp_path_factory = request, env, tmp_path_factory
        self.started: list[CeleryWorker] = []

    def __call__(self, queues: Sequence[str] = ("flowdeck",), *, name_prefix: str = "test", purge: bool = True,
                 concurrency: int = 2, extra_env: dict[str, str] | None = None) -> CeleryWorker:
        """A worker consuming ``queues`` (``-Q``), named ``<name_prefix>-<random>@<host>``,
        ready when this returns. ``purge`` first drops stale messages from those queues (pass
        False for a queue that holds messages this test sent and wants served); ``extra_env``
        goes on top of its environment (e.g. engine timings)."""
        workdir = self.tmp_path_factory.mktemp("celery-worker")
        log_path = workdir / "worker.log"
        name = f"{name_prefix}-{uuid.uuid4().hex[:10]}@%h"
        # Steps' folders under the test's own: a killed worker leaves them, and pytest prunes these.
        env = {**self.env, "FLOWDECK_WORKER_CACHE": str(workdir / "cache"), "FLOWDECK_WORKDIR_ROOT": str(workdir / "steps"),
               **(extra_env or {})}
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker",
            "--pool=prefork", f"--concurrency={concurrency}", "-Q", ",".join(queues), "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", name,
        ]
        if purge:  # stale messages from an earlier session must not run against this test database
            self.purge(queues)
        with open(log_path, "wb") as log_file:
            proc = subprocess.Popen(
                [sys.executable, "-c", EXEC_WITH_PARENT_DEATH_SIGNAL, str(os.getpid()), *command],
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so teardown reaches the pool too
            )
        worker = CeleryWorker(proc=proc, log_path=log_path, name=name, env=env)
        self.started.append(worker)
        if getattr(self.request.node, "_flowdeck_worker", None) is None:
            self.request.node._flowdeck_worker = worker
        else:
            self.request.node._flowdeck_more_workers = [*getattr(self.request.node, "_flowdeck_more_workers", []), worker]
        deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
        while " ready." not in worker.log():
            if not worker.alive():
                pytest.fail(f"the Celery worker exited with {proc.returncode} before it was ready:\n{worker.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the Celery worker was not ready after {WORKER_READY_TIMEOUT_S:.0f} s:\n{worker.log_tail()}")
            time.sleep(0.1)
        return worker

    @staticmethod
    def purge(queues: Sequence[str]) -> None:
        """Drop every message waiting in ``queues`` on the session's broker."""
        from config.celery import app

        with app.connection_for_write() as conn:
            app.amqp.TaskConsumer(conn, queues=[app.amqp.queues[q] for q in queues]).purge()

    def stop_all(self) -> None:
        for worker in reversed(self.started):
            worker.kill()
