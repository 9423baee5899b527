import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# DjangoTask adds delay_on_commit(), so dispatch waits for the transaction that
# created the rows the task will read.
app = Celery("flowdeck", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Every worker keeps its row in the worker registry: its queues (resource classes) and when it was last seen.
import runs.worker_registry  # noqa: E402,F401
# Worker processes are marked not dumpable, so step code cannot read their /proc files.
import core.hardening  # noqa: E402,F401
# A worker reconnects after a Redis restart instead of exiting (see the module's docstring).
import core.broker_recovery  # noqa: E402,F401
