"""`make run`: the web server and one Celery worker (running beat too), with demo data. Ctrl-C stops both."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand

from core import storage
from core.demo import DEMO_PASSWORD, DEMO_USER, demo_user_ensure, demo_workflows_publish
from runs.routing import queues_for


def embedded_queues() -> str:
    """The one worker serves every resource class in FLOWDECK_WORKER_QUEUES, and always the
    default queue, which also carries the orchestration tasks."""
    return ",".join(queues_for(["cpu", *settings.FLOWDECK_WORKER_QUEUES]))


class Command(BaseCommand):
    help = "Start the web server and a Celery worker, seed demo data, and wait for Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("FLOWDECK_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("FLOWDECK_PORT", "8000")))
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument("--no-seed", action="store_true")

    def handle(self, *args, host: str, port: int, concurrency: int, no_seed: bool, **options):
        url = f"http://{host}:{port}"
        storage.ensure_bucket()
        env = os.environ | {"FLOWDECK_INTERNAL_URL": os.environ.get("FLOWDECK_INTERNAL_URL", url)}
        base = settings.BASE_DIR
        children = [
            subprocess.Popen([sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload", "--insecure"], cwd=base, env=env),
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=WARNING",
                 f"--concurrency={concurrency}", "-Q", embedded_queues(), "-n", f"embedded-{os.getpid()}@%h",
                 # Beat inside the worker fires schedules and the static entries: fine for the
                 # one embedded worker; production runs a single `celery beat` of its own.
                 "-B", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
                 "-s", str(settings.DATA_DIR / "celerybeat-schedule")],
                cwd=base, env=env,
            ),
        ]
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            self._wait_ready(url, children)
            user = demo_user_ensure()
            if not no_seed:
                for ref in demo_workflows_publish(user=user, url=url):
                    self.stdout.write(f"Published sample workflow {ref}")
            self.stdout.write(self.style.SUCCESS(
                f"\nFlowdeck is running at {url}/\n"
                f"  Log in as {DEMO_USER} / {DEMO_PASSWORD}\n"
                f"  CLI: flowdeck login --url {url} --username {DEMO_USER}\n"
                f"  API docs: {url}/api/docs/\n"
                f"Press Ctrl-C to stop the web server and the worker.\n"
            ))
            while not stopping and all(c.poll() is None for c in children):
                time.sleep(0.5)
        finally:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
            self.stdout.write("Stopped the web server and the worker.")

    def _wait_ready(self, url: str, children: list[subprocess.Popen]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(c.poll() is not None for c in children):
                raise SystemExit("A Flowdeck process exited during start-up; see the messages above.")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise SystemExit(f"The web server did not answer at {url} within 60 s.")
