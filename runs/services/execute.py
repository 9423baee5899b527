"""The worker side: claim a step, run it in an isolated subprocess, store what it made.

The subprocess is someone else's code. It gets a clean environment (no database URL, no
storage keys, no Django secret) and a short-lived token that can log to its own run only.
The worker, which holds the credentials, moves the bytes of inputs, outputs and logs.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q
from django.utils import timezone

from accounts.step_tokens import step_token_issue
from core import storage
from flowdeck.gates import NOT_SCALAR, SCALAR_MAX_CHARS, json_scalar

from ..bundle_cache import bundle_dir
from ..launcher import base_environment, step_start
from ..models import Run, RunStatus, StepRun, StepStatus
from ..routing import step_queue
from ..step_files import append_step_file, open_step_file
from ..stored_outputs import output_inline_record, output_keep, output_kept
from ..workdirs import workdir_create, workdir_discard
from .claims import claim, claim_next, step_record, worker_name  # noqa: F401 (claim, for callers of this module)
from .dispatch import batch_resend
from .graph import version_graph
from .lifecycle import Pickup, run_advance
from .logs import log_chunks_clear, log_ship
from .reaper import forget_attempt, takeover_dead_local

log = logging.getLogger(__name__)
WATCH_S = 1.0  # how often a running step's log is shipped and a stop request looked for
HANDOFF_S = 1.0  # a batch's step running this long hands the rest of the batch back to the queue


class StepFailure(Exception):
    """A failure to report on the step, as opposed to a bug in Flowdeck."""


class _RunCache:
    """What the steps of one message share: their run (its parameters never change while
    it runs) and the outputs of the steps they read from, which ended before they were queued."""

    def __init__(self) -> None:
        self.runs: dict[int, Run] = {}
        self.outputs: dict[tuple[int, str], dict] = {}

    def run(self, run_id: int) -> Run:
        if run_id not in self.runs:
            self.runs[run_id] = Run.objects.only("id", "params", "asset_version_id").get(pk=run_id)
        return self.runs[run_id]

    def upstream_outputs(self, run_id: int, names: set[str]) -> dict[str, dict]:
        missing = [n for n in names if (run_id, n) not in self.outputs]
        if missing:
            for name, outputs in StepRun.objects.filter(run_id=run_id, name__in=missing).values_list("name", "outputs"):
                self.outputs[(run_id, name)] = outputs or {}
        return {n: self.outputs[(run_id, n)] for n in names if (run_id, n) in self.outputs}


def step_execute(*, step_run_id: int) -> None:
    """Run one queued step (or take over one whose worker process on this host died), then
    the steps it makes ready that this process picks up itself (``_picks_up``)."""
    step = claim_next([step_run_id]) or _take_over([step_run_id])
    cache, since = _RunCache(), time.monotonic()
    while step is not None:
        step = _execute(step, cache, pickup=_picks_up(since))


def _picks_up(since: float) -> bool:
    """Whether a message that started at ``since`` (monotonic) still runs the steps its
    steps make ready itself, rather than through the queue: for FLOWDECK_PICKUP_S. A warm
    shutdown, which waits for the messages in hand, thus waits for no more than that and one
    step; and a long chain goes back through the queue now and then, where other runs'
    steps wait their turn."""
    return time.monotonic() - since < settings.FLOWDECK_PICKUP_S


def _take_over(step_run_ids: list[int]) -> StepRun | None:
    """A message delivered again after its worker process died: the step that process was
    running, if it is dead (of the message's own, or one it picked up or took from another
    batch of the same run), taken over; None if there is none."""
    for pk in _left_running(step_run_ids):
        if takeover_dead_local(pk, worker_name()):
            return StepRun.objects.get(pk=pk)
    return None


def steps_execute(*, step_run_ids: list[int]) -> int:
    """Run the steps of one batch message, one after another in this worker process: each
    still queued is claimed just before it runs (a step stopped, or sent again and taken by
    another worker meanwhile, is passed over); recording one claims the next. A batch
    delivered again after its worker died first takes over the step that worker was running.

    A batch whose step runs longer than ``HANDOFF_S`` hands the steps it has not started
    back to the queue as a new batch and ends after that step: batches are for many short
    steps; long ones go to whichever worker is free, as single messages would. A batch done
    with its own steps takes those of other batches of its run not started yet (the tail of
    a fan-out then ends on every process at once). Returns how many steps it ran."""
    cache, ran, since = _RunCache(), 0, time.monotonic()
    left = list(step_run_ids)
    handed_off = False

    def hand_off(current: StepRun) -> None:
        nonlocal handed_off
        rest = [pk for pk in left if pk != current.pk]
        # Kept if the broker is away: this worker then runs them after all.
        handed_off = not rest or batch_resend(rest, step_queue(current))

    def then() -> list[int] | None:
        # Empty once its own steps are done: the record then claims a step another batch of
        # the run holds but has not started (the tail of a fan-out ends on every process at
        # once), in the same statement, so that helping costs no extra round trip.
        return None if handed_off else left

    step = _take_over(left)
    if step is None and left:
        step = claim_next(left)
    while step is not None:
        if step.pk in left:
            left.remove(step.pk)
        step = _execute(step, cache, on_slow=hand_off, then=then, pickup=_picks_up(since))
        ran += 1
    return ran


def _left_running(step_run_ids: list[int]) -> list[int]:
    """Steps a dead process of this worker may have left running, for a message delivered
    again to take over: the message's own, and those of its run that a process here picked
    up or took from other batches (no message names those, so no one else would until the
    reaper)."""
    node = worker_name().rpartition(":")[0]
    runs = StepRun.objects.filter(pk__in=step_run_ids).values("run_id")
    return list(StepRun.objects.filter(Q(pk__in=step_run_ids) | Q(run_id__in=runs, worker__startswith=f"{node}:"),
                                       status=StepStatus.RUNNING).values_list("pk", flat=True))


def _execute(
    step: StepRun, cache: _RunCache, on_slow: Callable[[StepRun], None] | None = None,
    then: Callable[[], list[int] | None] = lambda: None, pickup: bool = False,
) -> StepRun | None:
    """Run a claimed step in its own process and record how it ended. ``on_slow(step)`` is
    called once if the step is still running after ``HANDOFF_S``; the next step of
    ``then()`` (if any; for an empty list, a step of another batch of the run) is claimed
    as this one is recorded, and returned. Failing that, with ``pickup``, one of the steps
    this one made ready is claimed for this process (``lifecycle.Pickup``) and returned."""
    run = step.run = cache.run(step.run_id)
    if step.attempt > 1:
        forget_attempt(step)  # what an earlier attempt logged
    graph = version_graph(run.asset_version_id)
    spec = graph.specs[step.name]
    workdir = workdir_create(run.pk, step.name)
    shipped = 0  # bytes of log shipped live: rows to clear at the end
    status, error, exit_code = StepStatus.FAILED, "", None
    outputs: dict = {}
    log_path = workdir / "log.txt"
    try:
        bundle = bundle_dir(graph.digest)
        manifest = _prepare(workdir, bundle, run, step, spec, cache)
        plaintext = step_token_issue(step_run_id=step.pk, attempt=step.attempt)  # dies with this attempt
        exit_code, stopped, timed_out, shipped, results = _run_subprocess(
            workdir, log_path, step, spec, plaintext, on_slow, manifest)
        if stopped:
            status, error = StepStatus.STOPPED, "Stopped by request."
        elif timed_out:
            error = f"Timed out after {spec.get('timeout_s') or settings.FLOWDECK_STEP_TIMEOUT_S} s."
        elif exit_code != 0:
            last = _last_line(log_path)
            said = last if last and not last.startswith("[flowdeck] step ") else ""
            error = f"Exited with code {exit_code}" + (f": {said}" if said else ".")
        else:
            outputs = _store_outputs(workdir, run, step, spec, results)
            status = StepStatus.SUCCEEDED
    except StepFailure as exc:
        error = str(exc)
        _append(log_path, f"\n[flowdeck] {error}\n")
    except Exception as exc:  # infrastructure trouble: report it on the step, not silently
        log.exception("step %s of run %s failed in the executor", step.name, run.pk)
        error = f"Executor error: {type(exc).__name__}: {exc}"
        _append(log_path, f"\n[flowdeck] {error}\n")
    log_key, log_size, log_inline = _store_log(log_path, run, step)
    if shipped and (log_key or log_inline is not None):  # with no stored log, the live text is all there is: keep it
        log_chunks_clear(step_id=step.pk)
    try:
        return _record(step, spec, status, error, exit_code, outputs, (log_key, log_size, log_inline), then(), pickup)
    finally:
        workdir_discard(workdir)  # in the background: the next step need not wait for the disk


def _prepare(workdir: Path, bundle: Path, run: Run, step: StepRun, spec: dict, cache: _RunCache) -> dict:
    """Make the step's folders, copy its input pickles in, and return its manifest (what
    the runner calls, with which arguments). Only what the step needs is created: on some
    disks each new file or folder costs more than a no-op step's own code."""
    (workdir / "scratch").mkdir()  # outputs/ is made by the runner, if a step has an output too long for its pipe
    upstream = {ref.partition(".")[0] for ref in spec["inputs"].values()} - {"params"}
    siblings = cache.upstream_outputs(run.pk, upstream) if upstream else {}
    args: dict = {}
    input_files: dict[str, str] = {}
    input_inline: dict[str, str] = {}  # short pickles kept in the upstream step's row, base64
    for arg, ref in spec["inputs"].items():
        if ref == "params":
            args[arg] = run.params
            continue
        head, _, tail = ref.partition(".")
        if head == "params":
            args[arg] = run.params.get(tail)
            continue
        produced = siblings.get(head, {}).get(tail)
        if not output_kept(produced):
            raise StepFailure(f"Input '{arg}' needs output '{tail}' of step '{head}', which is missing.")
        if produced.get("inline") is not None:  # goes in the request: no file, no folder
            input_inline[arg] = produced["inline"]
            continue
        rel = f"inputs/{arg}.pkl"
        (workdir / "inputs").mkdir(exist_ok=True)
        with storage.open_read(produced["key"]) as src, open(workdir / rel, "wb") as dst:
            shutil.copyfileobj(src, dst)
        input_files[arg] = rel
    return {
        "run_id": run.pk,
        "step": step.name,
        "attempt": step.attempt,
        "fn": spec["fn"],
        "bundle": str(bundle),
        "args": args,
        "input_files": input_files,
        "input_inline": input_inline,
        "outputs": spec["outputs"],
        "inline_max": settings.FLOWDECK_INLINE_OUTPUT_MAX_BYTES,  # shorter outputs may come on the results pipe
        "limits": step_limits(spec),
    }


def step_limits(spec: dict) -> dict:
    """Memory and CPU limits for the step: its own, else the worker's defaults (0 = none)."""
    return {
        "memory_mb": spec.get("memory_mb") or settings.FLOWDECK_STEP_MEMORY_MB or None,
        "cpu_s": spec.get("cpu_s") or settings.FLOWDECK_STEP_CPU_S or None,
    }


def step_environment(workdir: Path, token: str, run_id: int, step_name: str) -> dict[str, str]:
    """Everything the step subprocess may know. Nothing from the worker's own environment."""
    return {
        **base_environment(str(workdir / "scratch")),
        "FLOWDECK_URL": settings.FLOWDECK_INTERNAL_URL,
        "FLOWDECK_TOKEN": token,
        "FLOWDECK_RUN_ID": str(run_id),
        "FLOWDECK_STEP": step_name,
    }


def _run_subprocess(
    workdir: Path, log_path: Path, step: StepRun, spec: dict, token: str, on_slow: Callable[[StepRun], None] | None,
    manifest: dict,
) -> tuple[int | None, bool, bool, int, str | None]:
    """Run the step; ship its log, heartbeat, and kill it on stop or timeout.
    Returns (exit code, stopped, timed out, bytes of log shipped live, what it wrote on its
    results pipe)."""
    timeout = float(spec.get("timeout_s") or settings.FLOWDECK_STEP_TIMEOUT_S)
    env = step_environment(workdir, token, step.run_id, step.name)
    proc = step_start(workdir=workdir, cwd=workdir / "scratch", env=env, log_path=log_path, manifest=manifest)
    started = last_watch = last_beat = time.monotonic()
    shipped = 0
    stopped = timed_out = False
    try:
        while True:
            return_code = proc.wait(timeout=0.05 if time.monotonic() - started < 1 else 0.2)
            if return_code is not None:
                return return_code, stopped, timed_out, shipped, proc.results()
            now = time.monotonic()
            if on_slow is not None and now - started >= HANDOFF_S:
                on_slow, slow = None, on_slow
                slow(step)
            if now - started > timeout:
                timed_out = True
                proc.kill()
                continue
            try:
                if now - last_watch >= WATCH_S:
                    last_watch = now
                    shipped = log_ship(step_id=step.pk, attempt=step.attempt, path=log_path, offset=shipped)
                    if Run.objects.filter(pk=step.run_id, status=RunStatus.STOPPING).exists():
                        stopped = True
                        proc.kill()
                        continue
                if now - last_beat >= settings.FLOWDECK_HEARTBEAT_S:
                    last_beat = now
                    StepRun.objects.filter(pk=step.pk).update(heartbeat_at=timezone.now())
            except DatabaseError as exc:
                # The database is away for a moment: the step goes on; the next beat reconnects.
                # (Away for longer than FLOWDECK_HEARTBEAT_TIMEOUT_S, the reaper takes the step back.)
                log.warning("step %s of run %s: could not reach the database (%s)", step.name, step.run_id, exc)
                connection.close()
    except BaseException:
        proc.kill()  # nothing that stops this worker leaves the step running behind it
        raise


def _store_outputs(workdir: Path, run: Run, step: StepRun, spec: dict, results: str | None = None) -> dict:
    """Keep each output pickle (a short one in the row, else in storage: stored_outputs);
    record its size and sha256 (cache keys use it) and, when the runner wrote one, its JSON
    scalar value (quality gates read it). A forked step's short outputs come in ``results``
    (its results pipe), the others in files."""
    outputs = {}
    piped = _piped_outputs(results)
    for name in spec["outputs"]:
        if name in piped:
            outputs[name] = piped[name]
            continue
        fh = open_step_file(workdir / "outputs" / f"{name}.pkl")
        if fh is None:
            raise StepFailure(f"Step '{step.name}' did not produce its declared output '{name}'.")
        with fh:
            outputs[name] = output_keep(fh, os.fstat(fh.fileno()).st_size, lambda name=name: storage.step_key(
                run.pk, step.name, step.attempt, f"outputs/{name}.pkl"))
        found, value = _scalar_value(workdir / "outputs" / f"{name}.json")
        if found:
            outputs[name]["value"] = value
    return outputs


def _piped_outputs(results: str | None) -> dict[str, dict]:
    """The output records of what a step wrote on its results pipe, checked as untrusted
    (step code could write there): each a pickle of at most the inline size, base64, and a
    value that passes as a scalar. Anything else is left out (the output is then looked for
    in its file, and is missing if there is none)."""
    try:
        raw = json.loads(results, parse_constant=_refuse_constant) if results else {}
    except ValueError:
        return {}
    found: dict[str, dict] = {}
    for name, entry in (raw.items() if isinstance(raw, dict) else ()):
        text = entry.get("pickle") if isinstance(entry, dict) else None
        if not isinstance(text, str) or len(text) > 4 * (settings.FLOWDECK_INLINE_OUTPUT_MAX_BYTES // 3 + 1):
            continue
        try:
            data = base64.b64decode(text, validate=True)
        except ValueError:
            continue
        if len(data) > settings.FLOWDECK_INLINE_OUTPUT_MAX_BYTES:
            continue
        record = output_inline_record(data)
        if "value" in entry:
            scalar = json_scalar(entry["value"])  # bounded: a number, a bool, null or a short string
            if scalar is not NOT_SCALAR:
                record["value"] = scalar
        found[name] = record
    return found


def _scalar_value(path: Path) -> tuple[bool, object]:
    """The scalar the runner wrote as JSON, checked again here: the file sits in a folder
    the step's own code can write to, so it is read as untrusted (bounded, scalars only)."""
    fh = open_step_file(path)
    if fh is None:
        return False, None
    try:
        with fh:
            raw = fh.read(4 * SCALAR_MAX_CHARS + 1)
        if len(raw) > 4 * SCALAR_MAX_CHARS:
            return False, None
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (OSError, ValueError):
        return False, None
    scalar = json_scalar(value)
    return (False, None) if scalar is NOT_SCALAR else (True, scalar)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a scalar a gate can read")


def _store_log(log_path: Path, run: Run, step: StepRun) -> tuple[str, int, bytes | None]:
    """Keep the step's log: (storage key, size, bytes kept in the row). A short log goes in
    the row, recorded in the same UPDATE as the step (no storage PUT, one file fewer); a
    longer one to storage. ("", 0, None) when there is none or it could not be stored."""
    try:
        fh = open_step_file(log_path)  # not a symlink the step put in its place
        if fh is None:
            return "", 0, None
        with fh:
            head = fh.read(settings.FLOWDECK_INLINE_LOG_MAX_BYTES + 1)
            if len(head) <= settings.FLOWDECK_INLINE_LOG_MAX_BYTES:
                return "", len(head), head
            fh.seek(0)
            key = storage.step_key(run.pk, step.name, step.attempt, "log.txt")
            return key, storage.put(key, fh), None
    except FileNotFoundError:
        return "", 0, None
    except Exception:
        log.exception("could not store the log of step %s of run %s", step.name, run.pk)
        return "", 0, None


def _record(
    step: StepRun, spec: dict, status: str, error: str, exit_code, outputs,
    kept_log: tuple[str, int, bytes | None], claim_from, pickup: bool = False,
) -> StepRun | None:
    """Record the step (queued again when a retry is due), claim the next of ``claim_from``,
    then move the run on (picking up one of the steps it makes ready, if ``pickup`` and
    nothing was claimed). Returns the step claimed."""
    retry = status == StepStatus.FAILED and step.attempt <= int(spec.get("retries") or 0)
    recorded, claimed = step_record(
        step, status=StepStatus.QUEUED if retry else status, error=error, exit_code=exit_code, outputs=outputs,
        log_key=kept_log[0], log_size=kept_log[1], log_inline=kept_log[2], claim_from=claim_from,
    )
    if not recorded:
        log.warning("step %s of run %s: attempt %s was taken over meanwhile; its result is dropped",
                    step.name, step.run_id, step.attempt)
    elif retry:
        from ..tasks import step_execute_task

        step_execute_task.apply_async((step.pk,), countdown=min(2 ** step.attempt, 60), queue=step_queue(step))
    else:
        offer = Pickup(step.resource_class) if pickup and claimed is None else None
        run_advance(run_id=step.run_id, finished=step.name, version_id=step.run.asset_version_id,
                    running=claimed.name if claimed is not None and claimed.run_id == step.run_id else None,
                    pickup=offer)
        if offer is not None:
            claimed = offer.step
    return claimed


def _last_line(path: Path) -> str:
    fh = open_step_file(path)
    if fh is None:
        return ""
    try:
        with fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - 4096))
            lines = [ln.strip() for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        return lines[-1][:500] if lines else ""
    except OSError:
        return ""


def _append(path: Path, text: str) -> None:
    append_step_file(path, text)
