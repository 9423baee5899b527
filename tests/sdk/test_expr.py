"""The gate expression language: parsing, precedence, errors with positions, strict types."""
from __future__ import annotations

import pytest

from flowdeck.expr import MAX_DEPTH, MAX_LENGTH, ExprError, parse


def ev(text: str, **values):
    return parse(text).evaluate({k.replace("__", "."): v for k, v in values.items()})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),  # left-associative
        ("2 * 3 % 4", 2),
        ("7 / 2", 3.5),
        ("-2 - -3", 1),
        ("--2", 2),
        ("-(1 + 2) * 2", -6),
        ("1.5e1", 15.0),
        (".5 + 1", 1.5),
        ("1 < 2 and 2 < 1 or true", True),  # and binds tighter than or
        ("not 1 < 2", False),  # not binds looser than comparison
        ("not not true", True),
        ("1 < 2 < 3", True),  # chained like Python
        ("3 > 2 > 2", False),
        ("1 == 1.0", True),
        ("'a' + \"b\" == 'ab'", True),
        ("'it\\'s'", "it's"),
        ("'b' > 'a'", True),
        ("2 in [1, 2, 3]", True),
        ("'x' not in ['a', 'b']", True),
        ("'ell' in 'hello'", True),
        ("null == null", True),
        ("1 != null", True),
        ("[1, 2,] == [1, 2]", True),
        ("[]", []),
        ("true in [1]", False),  # membership never mixes kinds: true is not 1
    ],
)
def test_it_evaluates_with_the_right_precedence(text, expected):
    assert ev(text) == expected
    assert type(ev(text)) is type(expected)


def test_it_reads_dotted_names_from_the_mapping():
    expr = parse("evaluate.metrics.accuracy >= params.min_accuracy and train.outputs.n_rows > 100")
    assert expr.names() == {"evaluate.metrics.accuracy", "params.min_accuracy", "train.outputs.n_rows"}
    values = {"evaluate.metrics.accuracy": 0.91, "params.min_accuracy": 0.8, "train.outputs.n_rows": 500}
    assert expr.evaluate(values) is True
    assert expr.evaluate({**values, "train.outputs.n_rows": 50}) is False


def test_keywords_are_names_after_a_dot():
    assert parse("a.metrics.in + a.metrics.not").names() == {"a.metrics.in", "a.metrics.not"}


def test_and_or_short_circuit_past_missing_names():
    assert ev("false and missing.x > 1") is False
    assert ev("true or missing.x > 1") is True
    with pytest.raises(ExprError, match="unknown name 'missing.x' at position 9"):
        ev("true and missing.x > 1")


@pytest.mark.parametrize(
    "text, position, message",
    [
        ("", 0, "expected a value at position 0"),
        ("1 +", 3, "expected a value at position 3, got the end"),
        ("params.min_accuracy >= ", 23, "expected a value at position 23"),
        ("(1 + 2", 6, "expected ')' at position 6"),
        ("[1, 2", 5, "expected ',' or ']' at position 5"),
        ("1 2", 2, "expected an operator or the end at position 2, got '2'"),
        ("a = 1", 2, "unexpected '=' at position 2 (use '==' to compare)"),
        ("a && b", 2, "unexpected '&' at position 2"),
        ("!a", 0, "unexpected '!' at position 0"),
        ("1 + $", 4, "unexpected character '$' at position 4"),
        ("'abc", 0, "unterminated string starting at position 0"),
        ("a.", 2, "expected a name after '.' at position 2"),
        ("a.1", 2, "expected a name after '.' at position 2"),
        ("12abc", 0, "invalid number at position 0"),
        ("'\\q'", 1, "unknown escape"),
        ("not", 3, "expected a value at position 3"),
        ("a not b", 2, "expected an operator or the end at position 2, got 'not'"),
    ],
)
def test_syntax_errors_say_what_was_expected_and_where(text, position, message):
    with pytest.raises(ExprError) as info:
        parse(text)
    assert info.value.position == position
    assert message in info.value.message
    assert message in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("'a' < 1", "cannot compare string 'a' with number 1 using '<' at position 4"),
        ("x.y == 1", "cannot compare string '1' with number 1 using '=='"),
        ("true + 1", "'+' at position 5 needs numbers, got bool true"),
        ("'a' * 3", "'*' at position 4 needs numbers"),
        ("1 and true", "'and' at position 2 needs true or false, got number 1"),
        ("not 0", "'not' at position 0 needs true or false"),
        ("-'a'", "'-' at position 0 needs numbers"),
        ("1 / 0", "division by zero at position 2"),
        ("1 % 0", "division by zero at position 2"),
        ("1 in 2", "'in' at position 2 needs a list or two strings"),
        ("[1] < [2]", "cannot compare list"),
        ("1e308 * 10", "overflows"),
        ("null < 1", "cannot compare null"),
    ],
)
def test_type_errors_are_expr_errors_never_python_errors(text, message):
    with pytest.raises(ExprError) as info:
        parse(text).evaluate({"x.y": "1"})
    assert message in info.value.message
    assert info.value.position is not None


def test_a_missing_name_is_named():
    with pytest.raises(ExprError) as info:
        ev("params.min_accuracy > 0.5")
    assert info.value.message == "unknown name 'params.min_accuracy' at position 0"
    assert info.value.position == 0


class Secret:
    password = "hunter2"

    def __eq__(self, other):  # would be called by a naive ==
        raise AssertionError("never compared")


def test_it_never_reaches_into_python_objects():
    # Names are plain keys of the mapping: there is no attribute access, call or subscript.
    with pytest.raises(ExprError, match="unknown name 'obj.password'"):
        ev("obj.password == 'hunter2'", obj=Secret())
    with pytest.raises(ExprError, match="'obj' is a Secret, which an expression cannot use"):
        ev("obj == 1", obj=Secret())
    with pytest.raises(ExprError, match="is a dict"):
        ev("cfg == null", cfg={"a": 1})
    for text in ("__import__('os')", "x.__class__", "len(x)", "x[0]", "lambda: 1", "x if y else z"):
        with pytest.raises(ExprError):
            parse(text).evaluate({"x": [1], "y": True, "z": 1, "__import__": None})
    with pytest.raises(ExprError, match="is nan"):
        ev("x > 1", x=float("nan"))


def test_lists_from_values_are_checked_element_by_element():
    assert ev("'a' in tags", tags=["a", "b"]) is True
    assert ev("'a' in tags", tags=("a",)) is True
    with pytest.raises(ExprError, match="is a set"):
        ev("1 in tags", tags=[{1}])


def test_deep_nesting_is_refused_before_it_hurts():
    assert ev("(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)) == 1
    for text in (
        "(" * 200 + "1" + ")" * 200,
        "-" * 200 + "1",
        "not " * 200 + "true",
        "[" * 200 + "]" * 200,
        " + ".join(["1"] * 200),
    ):
        with pytest.raises(ExprError, match="nested too deeply"):
            parse(text)
    with pytest.raises(ExprError, match=f"longer than {MAX_LENGTH}"):
        parse("1" + " " * MAX_LENGTH)


def test_it_refuses_non_strings():
    with pytest.raises(ExprError, match="must be a string"):
        parse(42)  # type: ignore[arg-type]
