"""flowdeck.spec: the rules shared by the SDK and the server."""
from __future__ import annotations

import pytest

from flowdeck.spec import SpecError, coerce_value, find_cycle, resolve_params, topo_order, validate_spec
from tests.factories import make_spec


def step(name: str, *deps: str, inputs: dict | None = None, outputs: list[str] | None = None, **extra) -> dict:
    return {"name": name, "fn": f"workflow:{name}", "depends_on": list(deps), "inputs": inputs or {}, "outputs": outputs or [], **extra}


def spec_error(spec) -> SpecError:
    with pytest.raises(SpecError) as exc:
        validate_spec(spec)
    return exc.value


def test_it_normalises_a_valid_spec():
    clean = validate_spec(make_spec())
    assert clean["schema_version"] == 1
    assert clean["name"] == "demo"
    assert [s["name"] for s in clean["steps"]] == ["a", "b", "c"]
    assert clean["steps"][0] == {
        "name": "a", "fn": "workflow:a", "depends_on": [], "inputs": {}, "outputs": ["x"],
        "retries": 0, "timeout_s": None, "cache": False, "resources": "cpu", "when": None, "description": "",
    }
    assert clean["params"][0]["default"] == 3 and clean["params"][0]["required"] is False


def test_it_shows_the_cycle_as_a_path():
    exc = spec_error(make_spec(steps=[step("a", "c"), step("b", "a"), step("c", "b"), step("d")]))
    assert "a -> c -> b -> a" in exc.message
    assert exc.field == "steps.a.depends_on"


def test_it_finds_a_cycle_off_the_first_node():
    assert find_cycle({"a": [], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]
    assert find_cycle({"a": [], "b": ["a"]}) is None


def test_it_refuses_a_step_that_depends_on_itself():
    exc = spec_error(make_spec(steps=[step("a", "a")]))
    assert exc.field == "steps.a.depends_on" and "itself" in exc.message


def test_it_refuses_a_duplicate_step():
    exc = spec_error(make_spec(steps=[step("a"), step("b", "a"), step("a")]))
    assert exc.field == "steps.a" and "twice" in exc.message


def test_it_refuses_a_duplicate_parameter():
    exc = spec_error(make_spec(params=[{"name": "n", "type": "int"}, {"name": "n", "type": "str"}]))
    assert exc.field == "params.n"


def test_it_names_an_unknown_dependency():
    exc = spec_error(make_spec(steps=[step("a"), step("train", "ghost")]))
    assert exc.field == "steps.train.depends_on"
    assert "train" in exc.message and "ghost" in exc.message


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        ("params.ghost", ["unknown parameter", "ghost"]),
        ("ghost.x", ["unknown step", "ghost"]),
        ("a", ["reference"]),
    ],
)
def test_it_names_an_unknown_input_reference(ref, words):
    exc = spec_error(make_spec(steps=[step("a", outputs=["x"]), step("b", "a", inputs={"arg": ref})]))
    assert exc.field == "steps.b.inputs.arg"
    for word in words:
        assert word in exc.message


def test_it_refuses_an_output_that_is_never_produced():
    exc = spec_error(make_spec(steps=[step("a", outputs=["x"]), step("b", "a", inputs={"arg": "a.z"})]))
    assert exc.field == "steps.b.inputs.arg"
    assert "'z'" in exc.message and "never produces" in exc.message


def test_it_refuses_reading_a_step_it_does_not_depend_on():
    exc = spec_error(make_spec(steps=[step("a", outputs=["x"]), step("b", inputs={"arg": "a.x"})]))
    assert exc.field == "steps.b.inputs.arg" and "does not depend" in exc.message


def test_it_accepts_reading_an_indirect_ancestor():
    clean = validate_spec(make_spec(steps=[step("a", outputs=["x"]), step("b", "a"), step("c", "b", inputs={"x": "a.x", "all": "params"})]))
    assert clean["steps"][2]["inputs"] == {"x": "a.x", "all": "params"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Not Valid"}, "name"),
        ({"steps": []}, "steps"),
        ({"params": {"n": 1}}, "params"),
        ({"schema_version": 99}, "schema_version"),
        ({"steps": [{"name": "a", "fn": "no-colon"}]}, "steps.a.fn"),
        ({"steps": [{"name": "a b", "fn": "m:f"}]}, "steps[0].name"),
        ({"steps": [{"name": "a", "fn": "m:f", "retries": 11}]}, "steps.a.retries"),
        ({"steps": [{"name": "a", "fn": "m:f", "timeout_s": 0}]}, "steps.a.timeout_s"),
        ({"steps": [{"name": "a", "fn": "m:f", "outputs": ["x", "x"]}]}, "steps.a.outputs"),
        ({"params": [{"name": "n", "type": "complex"}]}, "params.n.type"),
        ({"params": [{"name": "n", "type": "enum"}]}, "params.n.choices"),
        ({"params": [{"name": "n", "type": "int", "choices": [1]}]}, "params.n.choices"),
        ({"params": [{"name": "n", "type": "int", "min": 5, "max": 1}]}, "params.n.min"),
        ({"params": [{"name": "n", "type": "int", "min": "1"}]}, "params.n.min"),
        ({"params": [{"name": "1n", "type": "int"}]}, "params[0].name"),
    ],
)
def test_it_names_the_culprit(change, field):
    spec = make_spec(**change)
    if "steps" not in change:
        spec["steps"] = [step("a")]
    assert spec_error(spec).field == field


@pytest.mark.parametrize(
    ("pdef", "value", "expected"),
    [
        ({"type": "int"}, "3", 3),
        ({"type": "int"}, " 42 ", 42),
        ({"type": "int"}, 2.0, 2),
        ({"type": "float"}, "0.5", 0.5),
        ({"type": "float"}, 1, 1.0),
        ({"type": "bool"}, "true", True),
        ({"type": "bool"}, "off", False),
        ({"type": "bool"}, "1", True),
        ({"type": "str"}, "hello", "hello"),
        ({"type": "enum", "choices": ["adam", "sgd"]}, "sgd", "sgd"),
        ({"type": "enum", "choices": [16, 32]}, "32", 32),
        ({"type": "json"}, '{"k": [1, 2]}', {"k": [1, 2]}),
        ({"type": "list"}, "a, b,c", ["a", "b", "c"]),
        ({"type": "list"}, "[1, 2]", [1, 2]),
        ({"type": "list"}, "", []),
        ({"type": "list"}, ("x",), ["x"]),
    ],
)
def test_it_coerces_form_values(pdef, value, expected):
    result = coerce_value({"name": "p", **pdef}, value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("pdef", "value"),
    [
        ({"type": "int"}, "abc"),
        ({"type": "int"}, 1.5),
        ({"type": "int"}, True),
        ({"type": "float"}, "fast"),
        ({"type": "float"}, float("nan")),
        ({"type": "bool"}, "maybe"),
        ({"type": "str"}, 5),
        ({"type": "enum", "choices": ["adam", "sgd"]}, "rmsprop"),
        ({"type": "json"}, "{oops"),
        ({"type": "list"}, 5),
        ({"type": "int", "min": 1}, 0),
        ({"type": "float", "max": 1.0}, "1.5"),
        ({"type": "str", "max": 3}, "long"),
        ({"type": "list", "min": 1}, []),
    ],
)
def test_it_refuses_values_of_the_wrong_type_or_range(pdef, value):
    with pytest.raises(SpecError) as exc:
        coerce_value({"name": "p", **pdef}, value)
    assert exc.value.field == "params.p"
    assert "'p'" in exc.value.message


def test_it_does_not_parse_strings_for_defaults():
    with pytest.raises(SpecError):
        coerce_value({"name": "p", "type": "int"}, "3", parse_strings=False)
    assert coerce_value({"name": "p", "type": "str"}, "3", parse_strings=False) == "3"


PARAMS = [
    {"name": "lr", "type": "float", "default": 0.1, "min": 0.0, "max": 1.0},
    {"name": "epochs", "type": "int", "required": True},
    {"name": "opt", "type": "enum", "choices": ["adam", "sgd"], "default": "adam"},
    {"name": "note", "type": "str"},
]


def test_it_merges_values_over_defaults():
    assert resolve_params(PARAMS, {"epochs": "5", "lr": "0.5"}) == {"lr": 0.5, "epochs": 5, "opt": "adam", "note": None}


def test_it_names_an_unknown_parameter():
    with pytest.raises(SpecError) as exc:
        resolve_params(PARAMS, {"epochs": 1, "lrr": 0.2})
    assert exc.value.field == "params.lrr"
    assert "lrr" in exc.value.message and "epochs, lr, note, opt" in exc.value.message


def test_it_names_a_missing_required_parameter():
    with pytest.raises(SpecError) as exc:
        resolve_params(PARAMS, {})
    assert exc.value.field == "params.epochs" and "required" in exc.value.message


def test_it_checks_enum_and_bounds_at_resolution():
    with pytest.raises(SpecError) as exc:
        resolve_params(PARAMS, {"epochs": 1, "opt": "rmsprop"})
    assert exc.value.field == "params.opt" and "adam" in exc.value.message
    with pytest.raises(SpecError) as exc:
        resolve_params(PARAMS, {"epochs": 1, "lr": 2})
    assert exc.value.field == "params.lr" and "<= 1.0" in exc.value.message


def test_it_orders_steps_by_dependency_then_declaration():
    # Each pass places, in declaration order, every step whose dependencies are placed.
    steps = [step("report", "train"), step("load"), step("train", "load"), step("lint")]
    assert topo_order(steps) == ["load", "train", "lint", "report"]
