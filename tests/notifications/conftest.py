"""Fixtures for notification tests: Celery tasks run in-process, and real HTTP receivers."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.webhook_receiver import Receiver, receiver_start


@pytest.fixture
def eager_tasks(settings) -> Iterator[None]:
    """Celery tasks run in this process when sent (still only on commit where the code says so)."""
    from config.celery import app

    settings.FLOWDECK_WEBHOOK_ALLOW_PRIVATE = True
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture
def receiver_factory() -> Iterator[Callable[..., Receiver]]:
    """``receiver_factory([500, 200])``: a started webhook receiver; all are stopped at teardown."""
    started: list[Receiver] = []

    def start(statuses: list[int] | None = None) -> Receiver:
        started.append(receiver_start(statuses))
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()
