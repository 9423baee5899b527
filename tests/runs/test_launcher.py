"""Step processes from the fork server (and the spawn fallback), without Celery: what a
step can see of the worker, limits, kills, and the account it runs as."""
from __future__ import annotations

import base64
import json
import os
import pickle
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest

from runs import launcher
from tests.conftest import REPO_ROOT
from runs.launcher import LauncherError, step_start
from runs.services.execute import step_environment

PROBE = '''
import json, os, sys

def probe():
    found = {"env": sorted(os.environ), "uid": os.getuid(), "pid": os.getpid(), "ppid": os.getppid()}
    for who, pid in (("parent", os.getppid()), ("worker", int(os.environ.get("PROBE_WORKER_PID", "0") or 0))):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                found[who] = fh.read().decode(errors="replace")
        except OSError as exc:
            found[who] = f"denied: {type(exc).__name__}"
    return json.dumps(found)

def hog():
    blob = bytearray(600 * 1024 * 1024)
    return len(blob)

def nap():
    import subprocess, time
    subprocess.Popen(["sleep", "300"])  # a grandchild: a kill must reach it too
    print("napping", flush=True)
    time.sleep(300)

def noop():
    return 1

def big():
    return "x" * 10000

def held():
    import flowdeck
    return json.dumps({"modules": sorted({m.split(".")[0] for m in sys.modules} & {"httpx", "httpcore", "click", "pygments"}),
                       "client": type(flowdeck.Client).__name__})

def leftovers():
    return json.dumps({"modules": sorted(m for m in sys.modules if "rehearsal" in m),
                       "path": [p for p in sys.path if "rehearsal" in p],
                       "token": os.environ.get("FLOWDECK_TOKEN")})
'''


@pytest.fixture
def step_dir(settings):
    """A bundle holding the probe module and a function to make a step's work folder.
    Under /tmp itself, as the executor's are: pytest's own folders are private to root,
    and a step may run as another account."""
    base = Path(tempfile.mkdtemp(prefix="flowdeck-launcher-test-"))
    os.chmod(base, 0o755)
    settings.FLOWDECK_WORKER_CACHE = base / "cache"
    bundle = base / "bundle"
    bundle.mkdir()
    (bundle / "probe.py").write_text(PROBE)

    def make(fn: str, limits: dict | None = None) -> Path:
        workdir = base / f"step-{fn}-{time.monotonic_ns()}"
        for sub in ("inputs", "outputs", "scratch"):
            (workdir / sub).mkdir(parents=True)
        (workdir / "step.json").write_text(json.dumps({
            "run_id": 1, "step": fn, "attempt": 1, "fn": f"probe:{fn}", "bundle": str(bundle),
            "args": {}, "input_files": {}, "outputs": ["out"], "limits": limits or {},
        }))
        return workdir

    yield make
    if launcher._server is not None:  # it may have been started with this test's settings
        launcher._server.close()
        launcher._server = None
    shutil.rmtree(base, ignore_errors=True)


def _start(workdir: Path, **extra_env):
    env = {**step_environment(workdir, "fdk_run_token", 1, "probe"), **extra_env}
    return step_start(workdir=workdir, cwd=workdir / "scratch", env=env, log_path=workdir / "log.txt")


def _output(workdir: Path):
    with open(workdir / "outputs" / "out.pkl", "rb") as fh:
        return pickle.load(fh)


@pytest.fixture(params=["forkserver", "spawn"])
def launcher_kind(request, settings):
    settings.FLOWDECK_STEP_LAUNCHER = request.param
    return request.param


def test_a_step_sees_none_of_the_workers_secrets(step_dir, launcher_kind, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p4ss@db/flowdeck")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "dj4ngo")
    launcher._server = None  # a fork server started now, with those in the worker's environment
    workdir = step_dir("probe")
    assert _start(workdir).wait(30) == 0, (workdir / "log.txt").read_text()
    found = json.loads(_output(workdir))
    assert "DATABASE_URL" not in found["env"] and "AWS_SECRET_ACCESS_KEY" not in found["env"]
    assert {"FLOWDECK_URL", "FLOWDECK_TOKEN", "FLOWDECK_RUN_ID", "HOME", "PATH"} <= set(found["env"])
    # The process it came from (the fork server, or the worker itself when spawned) holds none.
    if launcher_kind == "forkserver":
        for secret in ("p4ss", "s3cr3t", "dj4ngo"):
            assert secret not in found["parent"]


def test_each_step_is_its_own_process(step_dir, settings):
    settings.FLOWDECK_STEP_LAUNCHER = "forkserver"
    pids = set()
    for _ in range(3):
        workdir = step_dir("probe")
        assert _start(workdir).wait(30) == 0
        pids.add(json.loads(_output(workdir))["pid"])
    assert len(pids) == 3


@pytest.mark.skipif(os.geteuid() != 0, reason="switching accounts needs a root worker")
def test_a_root_worker_runs_steps_as_the_step_user(step_dir, settings, launcher_kind):
    settings.FLOWDECK_STEP_USER = "nobody"
    if not _readable_by_others(Path(sys.base_prefix)):
        # This machine's Python lives under /root, which other accounts cannot enter: give
        # steps Debian's interpreter of the same version, with the project's packages.
        settings.FLOWDECK_STEP_PYTHON = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
        settings.FLOWDECK_STEP_PYTHONPATH = os.pathsep.join([sysconfig.get_paths()["purelib"], str(REPO_ROOT)])
        if not os.path.exists(settings.FLOWDECK_STEP_PYTHON):
            pytest.skip("no interpreter the step account can run")
        launcher._server = None
    workdir = step_dir("probe")
    proc = _start(workdir, PROBE_WORKER_PID=str(os.getpid()))
    assert proc.wait(30) == 0, (workdir / "log.txt").read_text()
    found = json.loads(_output(workdir))
    assert found["uid"] == 65534
    # This test process stands in for the worker: root's /proc files are closed to the step.
    assert found["worker"].startswith("denied")


def _readable_by_others(path: Path) -> bool:
    return all(os.stat(p).st_mode & 0o005 == 0o005 for p in [path, *path.parents])


def test_an_unknown_step_user_is_a_clear_error(step_dir, settings):
    settings.FLOWDECK_STEP_USER = "no-such-user-here"
    with pytest.raises(LauncherError, match="not a user"):
        _start(step_dir("probe"))


def test_the_memory_limit_stops_a_step_that_takes_too_much(step_dir, launcher_kind):
    workdir = step_dir("hog", limits={"memory_mb": 300})
    assert _start(workdir).wait(30) == 1
    assert "MemoryError" in (workdir / "log.txt").read_text()
    workdir = step_dir("hog", limits={"memory_mb": 2000})
    assert _start(workdir).wait(30) == 0


def test_kill_ends_the_step_and_its_children(step_dir, launcher_kind):
    workdir = step_dir("nap")
    proc = _start(workdir)
    deadline = time.monotonic() + 20
    while "napping" not in (workdir / "log.txt").read_text():
        assert proc.wait(0.05) is None and time.monotonic() < deadline
    started = time.monotonic()
    proc.kill()
    assert time.monotonic() - started < 5
    assert proc.returncode is not None and proc.returncode < 0
    deadline = time.monotonic() + 2
    while _live_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live_members(proc.pid) == []  # nothing of its process group lives on, the grandchild included


def _live_members(group: int) -> list[int]:
    """Processes of the group that are not zombies (an orphan may wait to be reaped)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def test_a_dead_fork_server_is_replaced(step_dir, settings):
    settings.FLOWDECK_STEP_LAUNCHER = "forkserver"
    assert _start(step_dir("noop")).wait(30) == 0
    server = launcher.fork_server()
    server.proc.kill()
    server.proc.wait()
    assert _start(step_dir("noop")).wait(30) == 0


def test_forking_a_step_is_fast(step_dir, settings):
    """Not a benchmark (bench/dispatch.py is): a guard that the server is really used."""
    settings.FLOWDECK_STEP_LAUNCHER = "forkserver"
    _start(step_dir("noop")).wait(30)  # the server's own start is paid once
    times = []
    for _ in range(10):
        workdir = step_dir("noop")
        began = time.perf_counter()
        assert _start(workdir).wait(30) == 0
        times.append(time.perf_counter() - began)
    assert statistics.median(times) < 0.1, times


def test_a_steps_own_limits_come_from_its_spec(settings):
    from flowdeck import Workflow
    from flowdeck.spec import SpecError, validate_spec
    from runs.services.execute import step_limits

    wf = Workflow("limited")

    @wf.step(memory_mb=512, cpu_s=60)
    def train():
        return None

    spec = validate_spec(wf.spec())
    assert step_limits(spec["steps"][0]) == {"memory_mb": 512, "cpu_s": 60}
    settings.FLOWDECK_STEP_MEMORY_MB = 4096
    assert step_limits({"name": "x"}) == {"memory_mb": 4096, "cpu_s": None}
    with pytest.raises(SpecError, match="memory_mb must be a whole number") as caught:
        validate_spec({"name": "bad", "steps": [{"name": "a", "fn": "m:f", "memory_mb": "lots"}]})
    assert caught.value.field == "steps.a.memory_mb"


def test_a_forked_step_finds_nothing_of_the_servers_rehearsal(step_dir, settings):
    """The fork server runs a no-op step of its own before forking any (to warm its caches):
    no module, import path or token of it reaches a real step."""
    settings.FLOWDECK_STEP_LAUNCHER = "forkserver"
    workdir = step_dir("leftovers")
    assert _start(workdir).wait(30) == 0, (workdir / "log.txt").read_text()
    found = json.loads(_output(workdir))
    assert found == {"modules": [], "path": [], "token": "fdk_run_token"}


def test_a_forked_step_starts_without_httpx_and_can_still_make_a_client(step_dir, settings):
    """The fork server holds no httpx (each page it holds is copied for every step, the no-op
    one included): steps log through flowdeck.step_client; flowdeck.Client imports it on use."""
    settings.FLOWDECK_STEP_LAUNCHER = "forkserver"
    workdir = step_dir("held")
    assert _start(workdir).wait(30) == 0, (workdir / "log.txt").read_text()
    assert json.loads(_output(workdir)) == {"modules": [], "client": "type"}


@pytest.mark.parametrize("fn, piped", [("noop", True), ("big", False)])
def test_a_forked_steps_short_output_comes_on_its_results_pipe_and_a_long_one_in_a_file(step_dir, settings, fn, piped):
    settings.FLOWDECK_STEP_LAUNCHER = "forkserver"
    workdir = step_dir(fn)
    manifest = json.loads((workdir / "step.json").read_text()) | {"inline_max": 4096}
    (workdir / "step.json").unlink()
    env = step_environment(workdir, "fdk_run_token", 1, "probe")
    proc = step_start(workdir=workdir, cwd=workdir / "scratch", env=env, log_path=workdir / "log.txt", manifest=manifest)
    assert proc.wait(30) == 0, (workdir / "log.txt").read_text()
    results = json.loads(proc.results())
    if piped:  # no file at all: the pickle, base64, and the scalar value
        assert sorted(os.listdir(workdir / "outputs")) == []
        assert pickle.loads(base64.b64decode(results["out"]["pickle"])) == 1 and results["out"]["value"] == 1
    else:
        assert results == {} and sorted(os.listdir(workdir / "outputs")) == ["out.pkl"]  # 10 KB: no .json either
        assert _output(workdir) == "x" * 10000


def test_a_spawned_step_writes_its_outputs_to_files(step_dir, settings):
    settings.FLOWDECK_STEP_LAUNCHER = "spawn"
    workdir = step_dir("noop")
    proc = _start(workdir)
    assert proc.wait(60) == 0, (workdir / "log.txt").read_text()
    assert proc.results() is None and sorted(os.listdir(workdir / "outputs")) == ["out.json", "out.pkl"]
