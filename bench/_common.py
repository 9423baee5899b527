"""Helpers the benchmarks share: logging, scratch PostgreSQL databases, machine facts, percentiles."""
from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def admin_database_url() -> str:
    """DATABASE_URL (a PostgreSQL server where scratch databases are made), or exit 2."""
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith(("postgres://", "postgresql://")):
        print(f"DATABASE_URL must point at PostgreSQL, got {url.split('://')[0]}://", file=sys.stderr)
        raise SystemExit(2)
    return url


def django_in_process(db_url: str, name: str) -> None:
    """Set Django up in this process on the scratch database ``db_url`` and migrate it."""
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("FLOWDECK_LOG_LEVEL", "WARNING")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    log(f"migrating {name}")
    call_command("migrate", "--no-input", verbosity=0)


def ensure_databases(admin_url: str, names: list[str]) -> None:
    """Create each scratch database that does not exist yet."""
    import psycopg

    with psycopg.connect(libpq(admin_url), autocommit=True) as conn:
        for name in names:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
                log(f"created database {name}")


def machine(pg_version: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, PostgreSQL {pg_version}, {platform.system()}"


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# Runs argv[2:] in place of itself after asking Linux to SIGTERM it when the bench dies,
# so a killed bench leaves no server behind (teardown covers the normal exit).
EXEC_WITH_PARENT_DEATH_SIGNAL = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
except (AttributeError, OSError):
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit("the bench is gone")
os.execv(sys.argv[2], sys.argv[2:])
"""


def spawn(argv: list[str], *, env: dict, log_path: Path, cwd: Path = REPO) -> subprocess.Popen:
    """Start a server or worker in its own process group, its output going to ``log_path``."""
    fh = open(log_path, "wb")
    return subprocess.Popen(
        [sys.executable, "-c", EXEC_WITH_PARENT_DEATH_SIGNAL, str(os.getpid()), *argv],
        cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: teardown reaches every worker
    )


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group of what ``spawn`` started; SIGKILL it after 15 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def peer_venv(venv: Path, probe: str, pins: list[str]) -> tuple[Path | None, str]:
    """The python of a peer's own virtualenv (bench/.venv-*), created and filled with
    ``pins`` on first use; ``probe`` is the import that proves it works. (None, why) if not."""
    python = venv / "bin" / "python"
    if python.exists():
        if subprocess.run([str(python), "-c", probe], capture_output=True, text=True).returncode == 0:
            return python, ""
    log(f"installing {' '.join(pins)} into {venv.relative_to(REPO)} (first run only)")
    try:
        if not python.exists():
            subprocess.run(["python3", "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *pins],
                              capture_output=True, text=True, timeout=1800)
        if done.returncode != 0:
            return None, f"pip install {pins[0]} failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not create {venv.relative_to(REPO)}: {exc}"
    return python, ""


class Namespaces(NamedTuple):
    """Who reads, and what they may and may not see, for the benches that seed runs."""

    reader: Any  # the user whose requests are timed; a member of ``team``
    other: Any  # owns the hidden runs
    team: Any
    hidden: Any  # a team the reader is not in
    experiment: Any  # in ``team``
    hidden_experiment: Any  # in ``hidden``


def seed_namespaces(reader: str, other: str) -> Namespaces:
    """Users ``reader`` and ``other``, team ``bench`` (``reader`` a member) and ``bench-hidden``,
    each with an experiment ``sweep``: the seeded runs' visible and hidden halves (Django set up)."""
    from django.contrib.auth import get_user_model

    from accounts.models import Membership, Team
    from runs.models import Experiment

    User = get_user_model()
    reader_user, _ = User.objects.get_or_create(username=reader)
    other_user, _ = User.objects.get_or_create(username=other)
    team, _ = Team.objects.get_or_create(slug="bench", defaults={"display_name": "Bench"})
    hidden, _ = Team.objects.get_or_create(slug="bench-hidden", defaults={"display_name": "Hidden"})
    Membership.objects.get_or_create(team=team, user=reader_user)
    exp, _ = Experiment.objects.get_or_create(namespace=team, name="sweep")
    hidden_exp, _ = Experiment.objects.get_or_create(namespace=hidden, name="sweep")
    return Namespaces(reader_user, other_user, team, hidden, exp, hidden_exp)
