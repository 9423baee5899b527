"""A step can return a file or a folder; a downstream step on a worker gets a Path to a copy."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from flowdeck.files import PackedPath, pack, unpack
from runs.services.lifecycle import run_start
from runs.stored_outputs import output_bytes
from tests.factories import make_spec, publish

SOURCE = '''\
import pickle
from pathlib import Path


def a():
    folder = Path("shards")
    folder.mkdir()
    (folder / "part-0.txt").write_text("alpha")
    (folder / "sub").mkdir()
    (folder / "sub" / "part-1.txt").write_text("beta")
    single = Path("model.bin")
    single.write_bytes(b"\\x00\\x01weights")
    return {"x": folder, "model": single}


def b(x, model, n):
    texts = sorted(p.read_text() for p in x.rglob("*.txt"))
    return {"y": "+".join(texts) + f":{len(model.read_bytes())}:{n}"}


def c(y):
    print(f"y={y}")
'''


def test_it_packs_and_unpacks_paths(tmp_path):
    folder = tmp_path / "data"
    (folder / "deep").mkdir(parents=True)
    (folder / "deep" / "f.txt").write_text("hi")
    packed = pack(folder)
    assert isinstance(packed, PackedPath) and packed.is_dir
    restored = unpack(packed, tmp_path / "copy")
    assert (restored / "deep" / "f.txt").read_text() == "hi"
    assert pack(42) == 42 and pack(tmp_path / "missing") == tmp_path / "missing"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_folder_and_a_file_flow_between_steps_on_workers(celery_worker, user):
    spec = make_spec(name="files")
    spec["steps"][0]["outputs"] = ["x", "model"]
    spec["steps"][1]["inputs"]["model"] = "a.model"
    version = publish(user, spec=spec, files={"workflow.py": SOURCE})
    run = celery_worker.wait_for_run(run_start(user=user, version=version, params={"n": 5}).pk)
    assert run.status == "succeeded", run.error
    b = run.steps.get(name="b")
    assert b.outputs["y"]["value"] == "alpha+beta:9:5"
    assert pickle.loads(output_bytes(b.outputs["y"])) == "alpha+beta:9:5"
