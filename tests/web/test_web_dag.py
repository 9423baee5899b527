"""registry/dag.py: the layered layout and the SVG it draws."""
from __future__ import annotations

import re

from registry.dag import dag_layers, dag_layout, dag_svg


def step(name: str, *deps: str) -> dict:
    return {"name": name, "fn": "workflow:f", "depends_on": list(deps)}


DIAMOND = [step("load"), step("clean", "load"), step("features", "load"), step("train", "clean", "features")]


def test_it_puts_each_step_in_the_column_of_its_longest_path():
    steps = [step("a"), step("b", "a"), step("c", "b"), step("d", "a", "c"), step("e")]
    assert dag_layers(steps) == {"a": 0, "b": 1, "c": 2, "d": 3, "e": 0}


def test_it_centres_short_columns_and_orders_rows_by_parents():
    placed, node_w, width, height = dag_layout(DIAMOND)
    by_name = {p.name: p for p in placed}
    assert [by_name[n].col for n in ("load", "clean", "features", "train")] == [0, 1, 1, 2]
    assert by_name["clean"].row == 0 and by_name["features"].row == 1
    # load and train sit halfway between clean and features
    middle = (by_name["clean"].y + by_name["features"].y) / 2
    assert by_name["load"].y == middle == by_name["train"].y
    assert by_name["clean"].x == by_name["features"].x > by_name["load"].x
    assert width > 3 * node_w and height > 0


def test_it_draws_one_node_per_step_and_one_edge_per_dependency():
    svg = str(dag_svg(DIAMOND))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="dag-node"') == 4
    assert svg.count('class="dag-edge"') == 4
    assert 'data-from="load" data-to="clean"' in svg
    assert 'marker-end="url(#dag-arrow)"' in svg
    edge = re.search(r'data-from="clean" data-to="train"', svg)
    assert edge is not None
    # edges are cubic béziers
    assert all(d.split()[0].startswith("M") and " C" in d for d in re.findall(r'<path class="dag-edge" d="([^"]+)"', svg))


def test_it_escapes_step_names():
    # The spec validator refuses such names, but the drawing must be safe on its own.
    evil = '<script>alert("x")</script>&'
    svg = str(dag_svg([step(evil), step("b", evil)]))
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert 'data-from="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;"' in svg


def test_it_is_deterministic():
    assert str(dag_svg(DIAMOND)) == str(dag_svg([dict(s) for s in DIAMOND]))


def test_it_colours_nodes_by_status_when_given():
    svg = str(dag_svg(DIAMOND, statuses={"load": "succeeded", "clean": "running"}))
    assert 'class="dag-node status-succeeded" data-step="load"' in svg
    assert 'class="dag-node status-running" data-step="clean"' in svg
    assert 'class="dag-node" data-step="train"' in svg


def test_it_truncates_long_labels_but_keeps_the_full_name_in_the_title():
    name = "a_really_long_step_name_that_goes_on_and_on_and_on_forever"
    svg = str(dag_svg([step(name)]))
    assert f"<title>{name}</title>" in svg
    assert "…</text>" in svg


def test_it_draws_nothing_for_no_steps():
    assert str(dag_svg([])) == ""
