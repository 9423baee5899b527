"""What one no-op step costs in the fork server and its child, without Django, a broker or
a database: ``python bench/forkserver_cost.py [-n 500]``.

It starts ``python -m flowdeck.forkserver`` with a clean environment (as the worker does),
prepares N work folders the way the worker does (scratch/, an empty log.txt;
the manifest goes in the request) for a one-file compiled bundle whose step returns
``time.time()``, then asks the server for one step at a time and waits for its exit.
Under ``$TMPDIR``: set it to a tmpfs to leave the disk's cost of new files out.
``SERVER="/path/to/script.py"`` runs another server script; ``WRAP="strace -f -c -o f"``
runs the server under a tool. Printed, per step: CPU ms of the
server and of its children (user, system), page faults, and the wall time from request
to exit event. Linux only (/proc).
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HZ = os.sysconf("SC_CLK_TCK")
BUNDLE = "import time\n\nfrom flowdeck import Workflow\n\n\ndef noop():\n    return time.time()\n"


def proc_stat(pid: int) -> dict:
    raw = Path(f"/proc/{pid}/stat").read_text()
    f = raw[raw.rindex(")") + 2:].split()
    return {"minflt": int(f[7]), "cminflt": int(f[8]), "utime": int(f[11]) / HZ, "stime": int(f[12]) / HZ,
            "cutime": int(f[13]) / HZ, "cstime": int(f[14]) / HZ}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def prepare(root: Path, bundle: Path, i: int, step_json: bool) -> dict:
    workdir = root / f"w{i:05d}"
    (workdir / "scratch").mkdir(parents=True)  # as the worker: outputs/ only if an output is too long for the pipe
    manifest = {
        "run_id": 1, "step": f"c{i:04d}", "attempt": 1, "fn": "workflow:noop", "bundle": str(bundle),
        "args": {}, "input_files": {}, "outputs": ["t"], "limits": {"memory_mb": None, "cpu_s": None},
        "inline_max": 4096,  # as the worker: a short output comes on the results pipe, no file
    }
    if step_json:  # for a server from before manifests came in the request
        (workdir / "step.json").write_text(json.dumps(manifest))
    log = workdir / "log.txt"
    log.touch()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(workdir / "scratch"), "TMPDIR": str(workdir / "scratch"),
           "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
           "FLOWDECK_URL": "http://127.0.0.1:9", "FLOWDECK_TOKEN": "fds_1.1.x", "FLOWDECK_RUN_ID": "1",
           "FLOWDECK_STEP": f"c{i:04d}"}
    return {"workdir": str(workdir), "cwd": str(workdir / "scratch"), "env": env, "log": str(log), "user": None,
            "manifest": manifest}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--step-json", action="store_true", help="also write step.json (servers whose steps read it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bundle = root / "bundle"
        bundle.mkdir()
        (bundle / "workflow.py").write_text(BUNDLE)
        compileall.compile_dir(bundle, quiet=2)  # as the worker's bundle cache does
        home = root / "home"
        home.mkdir()
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8",
               "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO)}
        server = subprocess.Popen(os.environ.get("WRAP", "").split() + [sys.executable] + (os.environ.get("SERVER", "").split() or ["-m", "flowdeck.forkserver"]), cwd=home, env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        requests = [prepare(root, bundle, i, args.step_json) for i in range(args.n + 20)]
        buf = b""

        def event() -> dict:
            nonlocal buf
            while b"\n" not in buf:
                select.select([server.stdout.fileno()], [], [])
                buf += os.read(server.stdout.fileno(), 65536)
            line, buf = buf.split(b"\n", 1)
            return json.loads(line)

        def one(request: dict) -> float:
            t0 = time.perf_counter()
            server.stdin.write((json.dumps(request) + "\n").encode())
            server.stdin.flush()
            pid = None
            while True:
                e = event()
                if "pid" in e:
                    pid = e["pid"]
                elif "exit" in e and e["exit"] == pid:
                    if e["code"] != 0:
                        raise SystemExit(f"step exited {e['code']}: {Path(request['log']).read_text()}")
                    return time.perf_counter() - t0

        for request in requests[:20]:  # warm-up
            one(request)
        rss = rss_kb(server.pid)
        before = proc_stat(server.pid)
        walls = sorted(one(r) for r in requests[20:])
        after = proc_stat(server.pid)
        server.stdin.close()
        server.wait()
        n = args.n
        d = {k: after[k] - before[k] for k in after}
        out = Path(requests[-1]["workdir"]) / "outputs"
        made = sorted(os.listdir(out)) if out.is_dir() else []
        print(f"fork server RSS {rss / 1024:.1f} MB; {n} steps; output files of the last: {made}")
        print(f"server:   user {d['utime'] * 1000 / n:.2f} ms, sys {d['stime'] * 1000 / n:.2f} ms, "
              f"minflt {d['minflt'] / n:.0f}")
        print(f"children: user {d['cutime'] * 1000 / n:.2f} ms, sys {d['cstime'] * 1000 / n:.2f} ms, "
              f"minflt {d['cminflt'] / n:.0f}")
        total = d["utime"] + d["stime"] + d["cutime"] + d["cstime"]
        print(f"total CPU {total * 1000 / n:.2f} ms per step; wall request -> exit p50 "
              f"{walls[n // 2] * 1000:.2f} ms, p95 {walls[int(n * 0.95)] * 1000:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
