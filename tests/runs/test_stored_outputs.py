"""Where a step's outputs are kept (runs/stored_outputs.py), and how the worker reads what a
step wrote: a short pickle in the row, a longer one in storage, never a symlink or a FIFO."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest

from core import storage
from runs.services.execute import StepFailure, _scalar_value, _store_outputs
from runs.stored_outputs import output_bytes, output_keep, output_kept, output_present


def test_a_short_pickle_is_kept_in_the_row_and_reads_back(local_storage: Path, settings):
    settings.FLOWDECK_INLINE_OUTPUT_MAX_BYTES = 64
    data = pickle.dumps({"accuracy": 0.93})
    meta = output_keep(io.BytesIO(data), len(data), key=lambda: pytest.fail("no storage key for a short output"))
    assert set(meta) == {"inline", "size", "sha256"}
    assert meta["size"] == len(data) and meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert output_bytes(meta) == data and output_kept(meta) and output_present(meta)
    assert list(storage.list_keys("")) == []


def test_a_longer_pickle_goes_to_storage_at_its_key(local_storage: Path, settings):
    settings.FLOWDECK_INLINE_OUTPUT_MAX_BYTES = 64
    data = pickle.dumps(list(range(100)))
    meta = output_keep(io.BytesIO(data), len(data), key=lambda: "runs/1/steps/a/1/outputs/x.pkl")
    assert meta == {"key": "runs/1/steps/a/1/outputs/x.pkl", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert storage.read(meta["key"]) == data and output_bytes(meta) == data
    assert output_present(meta)
    storage.delete(meta["key"])
    assert output_kept(meta) and not output_present(meta)  # a cache hit must not point at it now


def test_zero_keeps_every_output_in_storage(local_storage: Path, settings):
    settings.FLOWDECK_INLINE_OUTPUT_MAX_BYTES = 0
    meta = output_keep(io.BytesIO(b"\x80\x05K\x01."), 5, key=lambda: "runs/1/steps/a/1/outputs/one.pkl")
    assert "inline" not in meta and storage.read(meta["key"]) == b"\x80\x05K\x01."


@pytest.mark.parametrize("meta", [None, {}, {"size": 3}, "runs/1/x.pkl", {"key": ""}])
def test_a_record_without_a_pickle_is_not_kept(meta):
    assert not output_kept(meta) and not output_present(meta)


def _step_dir(tmp_path: Path) -> Path:
    (tmp_path / "outputs").mkdir()
    return tmp_path


STEP = SimpleNamespace(name="train", attempt=1)
RUN = SimpleNamespace(pk=7)


def test_the_worker_keeps_what_the_runner_wrote(tmp_path: Path, local_storage: Path):
    workdir = _step_dir(tmp_path)
    (workdir / "outputs" / "score.pkl").write_bytes(pickle.dumps(0.5))
    (workdir / "outputs" / "score.json").write_text("0.5")
    outputs = _store_outputs(workdir, RUN, STEP, {"outputs": ["score"]})
    assert pickle.loads(output_bytes(outputs["score"])) == 0.5 and outputs["score"]["value"] == 0.5


def test_a_symlinked_output_is_not_followed(tmp_path: Path, local_storage: Path):
    """Step code could point its output at a file only the worker may read (its settings,
    /proc/<worker>/environ): the worker refuses the output rather than store that file."""
    workdir = _step_dir(tmp_path)
    secret = tmp_path / "worker-secret"
    secret.write_bytes(b"DJANGO_SECRET_KEY=...")
    os.symlink(secret, workdir / "outputs" / "model.pkl")
    with pytest.raises(StepFailure, match="did not produce its declared output 'model'"):
        _store_outputs(workdir, RUN, STEP, {"outputs": ["model"]})
    os.symlink(secret, workdir / "outputs" / "score.json")
    assert _scalar_value(workdir / "outputs" / "score.json") == (False, None)


def test_a_fifo_in_place_of_an_output_neither_blocks_nor_counts(tmp_path: Path, local_storage: Path):
    workdir = _step_dir(tmp_path)
    os.mkfifo(workdir / "outputs" / "model.pkl")
    os.mkfifo(workdir / "outputs" / "model.json")
    with pytest.raises(StepFailure, match="did not produce"):
        _store_outputs(workdir, RUN, STEP, {"outputs": ["model"]})
    assert _scalar_value(workdir / "outputs" / "model.json") == (False, None)


def test_a_folder_in_place_of_an_output_does_not_count(tmp_path: Path, local_storage: Path):
    workdir = _step_dir(tmp_path)
    (workdir / "outputs" / "model.pkl").mkdir()
    with pytest.raises(StepFailure, match="did not produce"):
        _store_outputs(workdir, RUN, STEP, {"outputs": ["model"]})


def _piped(**outputs) -> str:
    return json.dumps({name: entry for name, entry in outputs.items()})


def test_short_outputs_from_the_results_pipe_are_kept_without_files(tmp_path: Path, local_storage: Path):
    workdir = _step_dir(tmp_path)
    data = pickle.dumps(0.75)
    text = _piped(score={"pickle": base64.b64encode(data).decode(), "value": 0.75})
    outputs = _store_outputs(workdir, RUN, STEP, {"outputs": ["score"]}, text)
    assert outputs["score"]["value"] == 0.75 and output_bytes(outputs["score"]) == data
    assert outputs["score"]["sha256"] == hashlib.sha256(data).hexdigest() and "key" not in outputs["score"]


@pytest.mark.parametrize("entry", [
    {"pickle": "not base64!"},
    {"pickle": base64.b64encode(b"x" * 5000).decode()},  # over FLOWDECK_INLINE_OUTPUT_MAX_BYTES
    {"pickle": 12},
    "a string",
])
def test_what_the_pipe_should_not_hold_is_not_taken_for_an_output(tmp_path: Path, local_storage: Path, settings, entry):
    """Step code can write on its results pipe: a bad entry is not an output (and with no
    file either, the step did not produce it)."""
    settings.FLOWDECK_INLINE_OUTPUT_MAX_BYTES = 4096
    workdir = _step_dir(tmp_path)
    with pytest.raises(StepFailure, match="did not produce its declared output 'score'"):
        _store_outputs(workdir, RUN, STEP, {"outputs": ["score"]}, _piped(score=entry))


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"score": {"pickle": "gAVLAS4=", "value": NaN}}'])
def test_a_garbled_pipe_falls_back_to_the_files(tmp_path: Path, local_storage: Path, text):
    workdir = _step_dir(tmp_path)
    (workdir / "outputs" / "score.pkl").write_bytes(pickle.dumps(2))
    outputs = _store_outputs(workdir, RUN, STEP, {"outputs": ["score"]}, text)
    assert pickle.loads(output_bytes(outputs["score"])) == 2


def test_a_value_that_is_not_a_scalar_is_not_kept_for_gates(tmp_path: Path, local_storage: Path):
    workdir = _step_dir(tmp_path)
    text = _piped(score={"pickle": base64.b64encode(pickle.dumps([1])).decode(), "value": [1, 2, 3]},
                  name={"pickle": base64.b64encode(pickle.dumps("x")).decode(), "value": "x" * 5000})
    outputs = _store_outputs(workdir, RUN, STEP, {"outputs": ["score", "name"]}, text)
    assert "value" not in outputs["score"] and "value" not in outputs["name"]
