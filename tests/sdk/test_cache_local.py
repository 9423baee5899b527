"""Step caching (``cache=True``) on local runs: a hit reuses the outputs without calling the step."""
from __future__ import annotations

import json
import textwrap
import uuid

import pytest

from flowdeck.loader import load_workflow

SOURCE = textwrap.dedent(
    '''
    from flowdeck import Param, Workflow, log_metric

    CALLS = {calls!r}

    wf = Workflow("cached", params=[Param("n", int, 3), Param("label", str, "a")])


    def called(name):
        with open(CALLS, "a") as fh:
            fh.write(name + "\\n")


    @wf.step(outputs=["rows"], cache=True)
    def load(n):
        called("load")
        return list(range(n))


    @wf.step(depends_on=["load"], outputs=["total"], cache=True)
    def train(rows):
        called("train")
        log_metric("accuracy", 0.9)
        return sum(rows)


    @wf.step(depends_on=["train"], when="train.metrics.accuracy > 0.5")
    def report(total, label):
        called("report")
        print(f"{{label}}: total={{total}}")
    '''
)


@pytest.fixture
def project(tmp_path):
    """A workflow in its own folder; runs and the cache live outside it, as with .flowdeck/."""
    folder = tmp_path / "project"
    folder.mkdir()
    calls = tmp_path / "calls.txt"
    path = folder / f"flow_{uuid.uuid4().hex[:8]}.py"
    path.write_text(SOURCE.format(calls=str(calls)))

    class Project:
        source = path
        runs = tmp_path / "state" / "runs"
        cache = tmp_path / "state" / "cache"

        def run(self, **params):
            wf, _root = load_workflow(path)
            return wf.run(params=params, track_dir=self.runs, track=False)

        def calls(self) -> list[str]:
            lines = calls.read_text().split() if calls.exists() else []
            calls.unlink(missing_ok=True)
            return lines

    return Project()


def test_a_second_run_with_the_same_inputs_hits_the_cache(project, capsys):
    first = project.run()
    assert first.status == "succeeded"
    assert project.calls() == ["load", "train", "report"]
    assert {s.cached_from for s in first.steps.values()} == {None}
    assert len(list(project.cache.iterdir())) == 2  # load and train

    capsys.readouterr()
    second = project.run(label="b")  # report reads label, the cached steps do not
    assert second.status == "succeeded"
    assert project.calls() == ["report"]  # load and train were not called again
    assert second.steps["load"].cached_from == {"run": first.id, "step": "load"}
    assert second.steps["train"].cached_from == {"run": first.id, "step": "train"}
    assert second.outputs["train"] == {"total": 3}
    # The gate reads the metric the cached step logged when it ran.
    assert second.steps["report"].gate["values"] == {"train.metrics.accuracy": 0.9}
    printed = capsys.readouterr().out
    assert f"✓ load                     cached (from {first.id})" in printed
    assert "b: total=3" in printed

    record = json.loads((second.folder / "run.json").read_text())
    assert record["steps"]["train"]["cached_from"] == {"run": first.id, "step": "train"}


def test_a_changed_param_misses_and_so_does_what_reads_the_new_output(project):
    project.run()
    project.calls()

    run = project.run(n=4)
    assert project.calls() == ["load", "train", "report"]
    assert run.outputs["train"] == {"total": 6}
    assert {s.cached_from for s in run.steps.values()} == {None}

    project.run(n=4)
    assert project.calls() == ["report"]


def test_a_changed_source_file_misses(project):
    project.run()
    project.calls()
    project.source.write_text(project.source.read_text() + "\n# a comment changes the code's digest\n")
    project.run()
    assert project.calls() == ["load", "train", "report"]


def test_a_failed_step_is_not_cached(project, tmp_path):
    project.source.write_text(project.source.read_text().replace("return sum(rows)", "raise ValueError('no')"))
    run = project.run()
    assert run.status == "failed"
    assert len(list(project.cache.iterdir())) == 1  # only load
    project.calls()
    project.source.write_text(project.source.read_text().replace("raise ValueError('no')", "return sum(rows)"))
    run = project.run()
    assert run.status == "succeeded"
    assert project.calls() == ["load", "train", "report"]  # the source changed, so load misses too


def test_an_output_that_cannot_be_pickled_is_run_every_time(project, capsys):
    project.source.write_text(project.source.read_text().replace("return list(range(n))", "return lambda: n"))
    project.source.write_text(project.source.read_text().replace("return sum(rows)", "return 1"))
    project.run()
    assert "load: not cached" in capsys.readouterr().out
    project.calls()
    project.run()
    assert project.calls() == ["load", "train", "report"]
