"""Where the CPU of a benchmark phase went, read from /proc (Linux): the worker's processes
(main and pool), its fork servers with the step processes they forked and reaped, the
PostgreSQL backends of the bench database, the Redis server, this process, and the whole
machine. On a shared machine the wall time says how busy everyone else was; these say what
Flowdeck itself spent."""
from __future__ import annotations

import os
from pathlib import Path

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, own CPU seconds, reaped children's CPU seconds)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _HZ, (int(fields[13]) + int(fields[14])) / _HZ


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (st := _stat(int(entry))) is not None:
            parents.setdefault(st[0], []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def _machine_busy() -> float:
    """CPU seconds the whole machine spent on anything but idle and iowait."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / _HZ


class CpuMeter:
    """``start()`` and ``stop()`` around a phase; ``stop()`` returns CPU seconds by part.
    A process that started during the phase counts whole; one that ended during it is lost
    (the worker keeps its processes and database connections, so that is rare)."""

    def __init__(self, worker_pid: int, pg_pids, redis_pid: int | None) -> None:
        self.worker_pid, self.pg_pids, self.redis_pid = worker_pid, pg_pids, redis_pid

    def _sample(self) -> dict[tuple[str, int], float]:
        seen: dict[tuple[str, int], float] = {}
        for pid in _descendants(self.worker_pid):
            if (st := _stat(pid)) is not None:
                if "flowdeck.forkserver" in _cmdline(pid):
                    seen[("fork servers and steps", pid)] = st[1] + st[2]
                else:
                    seen[("worker", pid)] = st[1]
        for pid in self.pg_pids():
            if (st := _stat(pid)) is not None:
                seen[("postgresql", pid)] = st[1]
        if self.redis_pid and (st := _stat(self.redis_pid)) is not None:
            seen[("redis", self.redis_pid)] = st[1]
        own = os.times()
        seen[("bench process", 0)] = own.user + own.system
        seen[("whole machine", 0)] = _machine_busy()
        return seen

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> dict[str, float]:
        parts = {"worker": 0.0, "fork servers and steps": 0.0, "postgresql": 0.0, "redis": 0.0}
        for key, value in self._sample().items():
            parts[key[0]] = parts.get(key[0], 0.0) + value - self._before.get(key, 0.0)
        return {k: round(v, 3) for k, v in parts.items()}
