"""Live step logs: log_ship stores a growing log file as chunks, step_log_read follows it
while the step runs and, once it has ended, in the stored log, from the same offset."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from core import storage
from runs.log_selectors import step_log_read
from runs.models import StepLogChunk, StepRun, StepStatus
from runs.services import logs as live_logs
from runs.services.lifecycle import run_start
from runs.services.logs import TRUNCATED_MARKER, log_chunks_clear, log_ship
from tests.factories import publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def step(user) -> StepRun:
    """Step "a" of a fresh run, running its first attempt."""
    run = run_start(user=user, version=publish(user))
    StepRun.objects.filter(run=run, name="a").update(status=StepStatus.RUNNING, attempt=1, started_at=timezone.now())
    return StepRun.objects.get(run=run, name="a")


@pytest.fixture(params=["s3", "local"])
def any_store(request) -> str:
    if request.param == "local":
        request.getfixturevalue("local_storage")
    return request.param


class LogFile:
    """The step's log file on the worker, written to as a step subprocess would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.write_bytes(b"")

    def write(self, data: bytes) -> None:
        with open(self.path, "ab") as fh:
            fh.write(data)


@pytest.fixture
def logfile(tmp_path: Path) -> LogFile:
    return LogFile(tmp_path / "log.txt")


def ship(step: StepRun, logfile: LogFile, offset: int) -> int:
    return log_ship(step_id=step.pk, attempt=step.attempt, path=logfile.path, offset=offset)


def read_all(step: StepRun, offset: int = 0, **kwargs) -> tuple[str, int]:
    """Everything a reader gets from ``offset`` by asking until nothing new comes."""
    text = []
    while True:
        step.refresh_from_db()
        got = step_log_read(step=step, offset=offset, **kwargs)
        text.append(got["text"])
        if got["complete"] or got["next_offset"] == offset:
            return "".join(text), got["next_offset"]
        offset = got["next_offset"]


def finish(step: StepRun, logfile: LogFile, status: str = StepStatus.SUCCEEDED) -> None:
    """What the executor does when the step ends: store the whole log, then drop the chunks."""
    key = storage.step_key(step.run_id, step.name, step.attempt, "log.txt")
    size = storage.put(key, logfile.path.read_bytes())
    StepRun.objects.filter(pk=step.pk).update(status=status, finished_at=timezone.now(), log_key=key, log_size=size)
    log_chunks_clear(step_id=step.pk)
    step.refresh_from_db()


# --- log_ship ---------------------------------------------------------------------------------
def test_it_ships_what_was_written_since_the_offset(step, logfile):
    logfile.write(b"loading data\n")
    offset = ship(step, logfile, 0)
    assert offset == 13
    got = step_log_read(step=step, offset=0)
    assert got == {"text": "loading data\n", "next_offset": 13, "complete": False, "start": 0, "truncated": False,
                   "attempt": 1, "status": "running"}

    logfile.write(b"epoch 1\nepoch 2")
    offset = ship(step, logfile, offset)
    assert offset == 28
    assert step_log_read(step=step, offset=13)["text"] == "epoch 1\nepoch 2"
    assert step_log_read(step=step, offset=0)["text"] == "loading data\nepoch 1\nepoch 2"
    assert step_log_read(step=step, offset=28)["text"] == ""
    assert step_log_read(step=step, offset=28)["next_offset"] == 28
    assert StepLogChunk.objects.filter(step=step).count() == 2


def test_nothing_new_is_a_stat_and_no_query(step, logfile, tmp_path, django_assert_num_queries):
    logfile.write(b"one line\n")
    offset = ship(step, logfile, 0)
    with django_assert_num_queries(0):
        assert ship(step, logfile, offset) == offset
        assert log_ship(step_id=step.pk, attempt=1, path=tmp_path / "not-yet.txt", offset=0) == 0
    assert StepLogChunk.objects.filter(step=step).count() == 1


@pytest.mark.parametrize(("char", "cut"), [("é", 1), ("€", 1), ("€", 2), ("🚀", 1), ("🚀", 2), ("🚀", 3)])
def test_a_character_cut_by_the_writer_waits_for_its_other_bytes(step, logfile, char, cut):
    encoded = char.encode()
    logfile.write(b"x" + encoded[:cut])
    offset = ship(step, logfile, 0)
    assert offset == 1  # only the "x": the character is not whole yet
    assert step_log_read(step=step, offset=0)["text"] == "x"
    logfile.write(encoded[cut:] + b"!\n")
    offset = ship(step, logfile, offset)
    assert offset == 1 + len(encoded) + 2
    assert step_log_read(step=step, offset=1)["text"] == f"{char}!\n"
    assert step_log_read(step=step, offset=0)["text"] == f"x{char}!\n"


def test_bad_bytes_and_nul_become_replacement_characters(step, logfile):
    logfile.write(b"ok \xff\xfe then\x00nul\n")
    offset = ship(step, logfile, 0)
    assert offset == 15  # offsets count the file's bytes, whatever the text became
    assert step_log_read(step=step, offset=0)["text"] == "ok \ufffd\ufffd then\ufffdnul\n"


def test_a_large_write_is_split_into_bounded_rows_on_character_boundaries(step, logfile, monkeypatch):
    monkeypatch.setattr(live_logs, "CHUNK_MAX_BYTES", 10)
    text = "ab€cdé🚀fg\n" * 5
    logfile.write(text.encode())
    assert ship(step, logfile, 0) == len(text.encode())
    rows = list(StepLogChunk.objects.filter(step=step).order_by("offset"))
    assert len(rows) > 5
    assert all(len(r.data.encode()) <= 10 for r in rows)
    assert "".join(r.data for r in rows) == text
    assert read_all(step) == (text, len(text.encode()))
    # A reader that asks for little at a time still gets every piece, in order.
    assert read_all(step, max_bytes=7) == (text, len(text.encode()))


# --- the live cap -----------------------------------------------------------------------------
@override_settings(FLOWDECK_LIVE_LOG_MAX_BYTES=100)
def test_past_the_cap_one_marker_is_stored_and_nothing_more(step, logfile, django_assert_num_queries):
    logfile.write(b"a" * 59 + b"\n")
    offset = ship(step, logfile, 0)
    assert offset == 60
    logfile.write(b"b" * 99 + b"\n")
    offset = ship(step, logfile, offset)
    assert offset > 100

    rows = list(StepLogChunk.objects.filter(step=step).order_by("offset", "pk").values_list("offset", "data"))
    marker = TRUNCATED_MARKER.format(limit=100)
    assert rows == [(60, "a" * 59 + "\n"), (100, "b" * 40), (100, marker)]
    assert "The whole log is available when the step ends" in marker

    # A reader where the previous chunk ended gets the rest and the marker, once.
    got = step_log_read(step=step, offset=60)
    assert got["text"] == "b" * 40 + marker and got["next_offset"] == 100
    assert step_log_read(step=step, offset=100)["text"] == ""

    logfile.write(b"c" * 1000)
    with django_assert_num_queries(0):
        assert ship(step, logfile, offset) == offset
    assert StepLogChunk.objects.filter(step=step).count() == 3
    assert sum(len(d.encode()) for o, d in rows if d != marker) <= 100

    # When the step ends, the same reader goes on from byte 100 of the stored log.
    finish(step, logfile)
    text, end = read_all(step, offset=100)
    assert text == "b" * 59 + "\n" + "c" * 1000
    assert end == 60 + 100 + 1000


@override_settings(FLOWDECK_LIVE_LOG_MAX_BYTES=100)
def test_the_cap_after_a_chunk_that_ended_just_below_it(step, logfile):
    logfile.write(b"x" * 99)
    offset = ship(step, logfile, 0)
    assert offset == 99
    assert step_log_read(step=step, offset=0)["next_offset"] == 99
    logfile.write(b"yz")
    assert ship(step, logfile, offset) == 101
    got = step_log_read(step=step, offset=99)
    assert got["text"] == "y" + TRUNCATED_MARKER.format(limit=100)
    assert got["next_offset"] == 100


@override_settings(FLOWDECK_LIVE_LOG_MAX_BYTES=20)
def test_the_live_view_ends_at_the_last_whole_line_before_the_cap(step, logfile):
    logfile.write(b"line one\nline two is longer\n")
    ship(step, logfile, 0)
    got = step_log_read(step=step, offset=0)
    assert got["text"] == "line one\n" + TRUNCATED_MARKER.format(limit=20)
    assert got["next_offset"] == 9
    finish(step, logfile)
    assert read_all(step, offset=9)[0] == "line two is longer\n"


@override_settings(FLOWDECK_LIVE_LOG_MAX_BYTES=10)
def test_a_character_across_the_cap_is_left_to_the_stored_log(step, logfile):
    logfile.write("abcdefgh€ and more".encode())  # € is bytes 8-10, across the cap at 10
    ship(step, logfile, 0)
    got = step_log_read(step=step, offset=0)
    assert got["text"] == "abcdefgh" + TRUNCATED_MARKER.format(limit=10)
    assert got["next_offset"] == 8
    finish(step, logfile)
    assert read_all(step, offset=8)[0] == "€ and more"


def test_clear_drops_every_chunk_of_the_step(step, logfile, user):
    logfile.write(b"hello\n")
    ship(step, logfile, 0)
    other = StepRun.objects.get(run=step.run, name="b")
    StepLogChunk.objects.create(step=other, attempt=1, offset=3, data="hi\n")
    log_chunks_clear(step_id=step.pk)
    assert not StepLogChunk.objects.filter(step=step).exists()
    assert StepLogChunk.objects.filter(step=other).count() == 1


# --- reading: attempts and states -------------------------------------------------------------
def test_a_reader_of_an_earlier_attempt_starts_over(step, logfile):
    StepLogChunk.objects.create(step=step, attempt=1, offset=500, data="old attempt\n")
    StepRun.objects.filter(pk=step.pk).update(attempt=2)
    step.refresh_from_db()
    logfile.write(b"second try\n")
    ship(step, logfile, 0)
    assert step_log_read(step=step, offset=500, attempt=1)["text"] == "second try\n"
    got = step_log_read(step=step, offset=0, attempt=2)
    assert got["text"] == "second try\n" and got["attempt"] == 2


def test_a_step_not_started_has_nothing_yet_and_is_not_complete(step):
    pending = StepRun.objects.get(run=step.run, name="c")
    got = step_log_read(step=pending, offset=0)
    assert (got["text"], got["next_offset"], got["complete"], got["status"]) == ("", 0, False, "pending")


def test_a_step_queued_again_for_a_retry_shows_its_stored_log_but_is_not_complete(step, logfile):
    logfile.write(b"Traceback: boom\n")
    finish(step, logfile, status=StepStatus.FAILED)
    StepRun.objects.filter(pk=step.pk).update(status=StepStatus.QUEUED, finished_at=None)
    step.refresh_from_db()
    got = step_log_read(step=step, offset=0)
    assert got["text"] == "Traceback: boom\n" and got["complete"] is False


def test_a_step_that_ended_without_a_stored_log_shows_what_was_shipped(step, logfile):
    """Its worker died: the live chunks are all there is of its log."""
    logfile.write(b"epoch 1\nepoch 2\n")
    ship(step, logfile, 0)
    StepRun.objects.filter(pk=step.pk).update(status=StepStatus.FAILED, error="The worker running it was lost.")
    step.refresh_from_db()
    got = step_log_read(step=step, offset=0)
    assert (got["text"], got["next_offset"], got["complete"]) == ("epoch 1\nepoch 2\n", 16, False)
    got = step_log_read(step=step, offset=16)
    assert (got["text"], got["next_offset"], got["complete"]) == ("", 16, True)


def test_an_ended_step_without_a_log_is_complete(step):
    skipped = StepRun.objects.get(run=step.run, name="c")
    StepRun.objects.filter(pk=skipped.pk).update(status=StepStatus.SKIPPED)
    skipped.refresh_from_db()
    got = step_log_read(step=skipped, offset=0)
    assert (got["text"], got["complete"]) == ("", True)


# --- reading an ended step from storage -------------------------------------------------------
def test_a_reader_goes_on_from_the_live_view_into_the_stored_log(any_store, step, logfile):
    logfile.write("starting ✓\n".encode())
    offset = ship(step, logfile, 0)
    seen, at = read_all(step)
    assert seen == "starting ✓\n" and at == offset

    logfile.write(b"done\n[flowdeck] step ended\n")  # written after the last ship
    finish(step, logfile)
    rest = step_log_read(step=step, offset=at)
    assert rest["text"] == "done\n[flowdeck] step ended\n"
    assert rest["complete"] is True and rest["next_offset"] == logfile.path.stat().st_size
    assert step_log_read(step=step, offset=rest["next_offset"])["text"] == ""
    assert step_log_read(step=step, offset=10**9) | {"status": None} == {
        "text": "", "next_offset": rest["next_offset"], "complete": True, "start": rest["next_offset"],
        "truncated": False, "attempt": 1, "status": None,
    }


def test_a_stored_log_is_read_in_bounded_pieces_on_character_boundaries(any_store, step, logfile):
    body = "".join(f"line {i} — ünïcödé 🚀\n" for i in range(3000))
    logfile.write(body.encode())
    finish(step, logfile)
    pieces = []
    offset = 1  # not a first read: no jump to the tail
    first = step_log_read(step=step, offset=0, max_bytes=len(body.encode()))
    assert first["text"] == body and first["complete"] and not first["truncated"]
    while True:
        got = step_log_read(step=step, offset=offset, max_bytes=1000)
        assert len(got["text"].encode()) <= 1000
        pieces.append(got["text"])
        offset = got["next_offset"]
        if got["complete"]:
            break
    assert body[0] + "".join(pieces) == body
    assert "\ufffd" not in "".join(pieces)


def test_a_first_read_of_a_huge_stored_log_starts_near_its_tail(step, monkeypatch):
    """A 24 MiB log on the S3 server: the first read is one ranged GET of the last 256 KiB,
    starting at a line; the object is never read whole."""
    line = b"".join(b"%08d some training output that goes on for a while\n" % i for i in range(1000))
    body = line * 480 + b"the very last line\n"
    assert len(body) > 24 * 1024 * 1024
    key = storage.step_key(step.run_id, step.name, 1, "log.txt")
    size = storage.put(key, body)
    StepRun.objects.filter(pk=step.pk).update(status=StepStatus.SUCCEEDED, log_key=key, log_size=size)
    step.refresh_from_db()

    def whole_read(*args, **kwargs):
        raise AssertionError("the stored log was opened whole")

    monkeypatch.setattr(storage, "open_read", whole_read)
    monkeypatch.setattr(storage, "read", whole_read)
    got = step_log_read(step=step, offset=0)
    assert got["truncated"] is True and got["complete"] is True
    assert size - 256 * 1024 <= got["start"] < size - 256 * 1024 + 80
    assert body[got["start"] - 1:got["start"]] == b"\n"  # it starts at a line
    assert got["text"].endswith("the very last line\n")
    assert len(got["text"]) <= 256 * 1024
    assert got["text"] == body[got["start"]:].decode()

    # A reader that has the start follows the rest in pieces.
    middle = step_log_read(step=step, offset=12 * 1024 * 1024)
    assert middle["truncated"] is False and middle["complete"] is False
    assert middle["next_offset"] == 12 * 1024 * 1024 + 256 * 1024
    assert middle["text"] == body[12 * 1024 * 1024:middle["next_offset"]].decode()
