"""The worker reads a step's log through runs/step_files.py: a symlink the step put in place
of its log (to a file only the worker may read) is neither read, shipped nor written to."""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from runs.services.execute import _append, _last_line, _store_log
from runs.services.logs import log_ship
from runs.step_files import append_step_file, open_step_file

SECRET = b"DJANGO_SECRET_KEY=do-not-ship-me\n"


@pytest.fixture
def swapped(tmp_path: Path) -> tuple[Path, Path]:
    secret = tmp_path / "worker-only"
    secret.write_bytes(SECRET)
    log = tmp_path / "step" / "log.txt"
    log.parent.mkdir()
    os.symlink(secret, log)
    return log, secret


def test_a_symlinked_log_is_not_stored(swapped, local_storage):
    log, _ = swapped
    assert _store_log(log, SimpleNamespace(pk=1), SimpleNamespace(name="a", attempt=1)) == ("", 0, None)
    assert _last_line(log) == ""


@pytest.mark.django_db
def test_a_symlinked_log_is_not_shipped_live(swapped):
    log, _ = swapped
    assert log_ship(step_id=1, attempt=1, path=log, offset=0) == 0


def test_nothing_is_written_through_a_symlinked_log(swapped):
    log, secret = swapped
    _append(log, "\n[flowdeck] Executor error\n")
    append_step_file(log, "more")
    assert secret.read_bytes() == SECRET


def test_a_regular_log_is_read_and_appended_to(tmp_path: Path, local_storage):
    log = tmp_path / "log.txt"
    log.write_text("[flowdeck] step a\nhello\n")
    _append(log, "[flowdeck] done\n")
    assert _last_line(log) == "[flowdeck] done"
    key, size, inline = _store_log(log, SimpleNamespace(pk=1), SimpleNamespace(name="a", attempt=1))
    assert (key, inline) == ("", b"[flowdeck] step a\nhello\n[flowdeck] done\n") and size == len(inline)
    with open_step_file(log) as fh:
        assert fh.read() == inline
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert open_step_file(fifo) is None  # and it did not block
