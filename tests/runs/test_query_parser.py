"""The runs query language's tokenizer and parser (no database)."""
from __future__ import annotations

import pytest

from runs.query import BoolOp, Comparison, QueryError, comparisons, parse, parse_field


def shape(node) -> object:
    """The tree as nested tuples: ("and", a, b) / ("params.lr", ">", 0.01)."""
    if isinstance(node, Comparison):
        values = tuple(v.value for v in node.values)
        return (node.field.name, node.op, values[0] if node.op not in ("in", "not in") else values)
    return (node.op, *[shape(i) for i in node.items])


def error_of(text: str) -> QueryError:
    with pytest.raises(QueryError) as info:
        parse(text)
    assert info.value.field == "q" and info.value.status == 400
    return info.value


def test_it_parses_the_issue_example():
    tree = parse("params.lr > 0.01 and metrics.accuracy >= 0.9 and status = succeeded and tags.team = 'cv'")
    assert shape(tree) == ("and", ("params.lr", ">", 0.01), ("metrics.accuracy", ">=", 0.9),
                           ("status", "=", "succeeded"), ("tags.team", "=", "cv"))


def test_and_binds_tighter_than_or_and_parentheses_override():
    assert shape(parse("status = failed or name = a and id = 3")) == (
        "or", ("status", "=", "failed"), ("and", ("name", "=", "a"), ("id", "=", 3.0)))
    assert shape(parse("(status = failed or name = a) and id = 3")) == (
        "and", ("or", ("status", "=", "failed"), ("name", "=", "a")), ("id", "=", 3.0))
    assert shape(parse("not status = failed and id = 1")) == ("and", ("not", ("status", "=", "failed")), ("id", "=", 1.0))


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_every_comparison_operator(op):
    assert shape(parse(f"metrics.loss {op} 1.5")) == ("metrics.loss", op, 1.5)


def test_double_equals_is_equals_and_keywords_ignore_case():
    assert shape(parse("name == x AND status IN (failed, stopped)")) == (
        "and", ("name", "=", "x"), ("status", "in", ("failed", "stopped")))


def test_in_not_in_like_contains():
    assert shape(parse("params.opt in ('adam', sgd, 3,)")) == ("params.opt", "in", ("adam", "sgd", 3.0))
    assert shape(parse("tags.team not in (cv)")) == ("tags.team", "not in", ("cv",))
    assert shape(parse("name like 'exp-%'")) == ("name", "like", "exp-%")
    assert shape(parse("name not like 'exp-%'")) == ("name", "not like", "exp-%")
    assert shape(parse("experiment contains base")) == ("experiment", "contains", "base")


def test_metric_aggregates_and_keys_with_dots_slashes_and_backticks():
    fields = [c.field for c in comparisons(parse(
        "metrics.acc.max > 1 and metrics.val/loss.min < 2 and metrics.a.b < 3 and metrics.`f1 score`.best > 0 "
        "and metrics.max > 0 and params.`learning rate` = 1"))]
    assert [(f.kind, f.key, f.agg) for f in fields] == [
        ("metric", "acc", "max"), ("metric", "val/loss", "min"), ("metric", "a.b", "last"),
        ("metric", "f1 score", "best"), ("metric", "max", "last"), ("param", "learning rate", "")]
    assert parse_field("metrics.acc.last").name == "metrics.acc"
    assert parse_field("metrics.acc.max").name == "metrics.acc.max"


def test_values_numbers_strings_and_words():
    values = [c.values[0] for c in comparisons(parse(
        "id = 12 and metrics.x > -1.5e-3 and metrics.y < .5 and created > 2026-01-31 and version >= 1.2.0 "
        "and duration < 5m and started > -7d and name = \"it's\" and name = 'say \\'hi\\''"))]
    assert [v.value for v in values] == [12.0, -0.0015, 0.5, "2026-01-31", "1.2.0", "5m", "-7d", "it's", "say 'hi'"]
    assert values[0].is_number and not values[3].is_number


def test_injection_attempts_are_just_values():
    tree = parse("params.x = '1; drop table runs_run; --' or name = \"x' or 1=1 --\"")
    assert shape(tree) == ("or", ("params.x", "=", "1; drop table runs_run; --"), ("name", "=", "x' or 1=1 --"))
    # Outside quotes, SQL is not even a token.
    assert error_of("params.x = '1'; drop table runs_run").position == 14
    assert error_of("name = 'a'' or 1=1'").message == "Expected 'and', 'or' or the end of the query, got '' or 1=1'' at position 10."


@pytest.mark.parametrize("text,message,position", [
    ("metrics.accuracy > ", "Expected a value after '>', got the end of the query", 19),
    ("params.lr > and", "Expected a value after '>', got 'and'", 12),
    ("", "The query is empty", 0),
    ("status", "Expected an operator (= != < <= > >= in like contains) after 'status', got the end of the query", 6),
    ("foo = 1", "Unknown field 'foo'", 0),
    ("params = 1", "'params' needs a key, like params.<name>", 0),
    ("(status = failed", "Expected ')' to close the '(' at position 0, got the end of the query", 16),
    ("status = failed)", "Expected 'and', 'or' or the end of the query, got ')'", 15),
    ("name = 'abc", "Unterminated string (missing ')", 7),
    ("id in 1, 2", "Expected '(' after 'in', got '1'", 6),
    ("id in (1 2)", "Expected ',' or ')' in the list, got '2'", 9),
    ("name not = x", "Expected 'in', 'like' or 'contains' after 'not', got '='", 9),
    ("status = failed and", "Expected a field such as params.lr or status, got the end of the query", 19),
    ("metrics.x > 1e999", "The number 1e999 is too large", 12),
    ("name = a & id = 1", "Unexpected character '&'", 9),
    ("metrics.`x > 1", "Unterminated `name`", 8),
])
def test_syntax_errors_name_the_position(text, message, position):
    error = error_of(text)
    assert error.position == position
    assert error.message.startswith(f"{message} at position {position}.")


def test_limits():
    assert "longer than 2000" in error_of("name = " + "x" * 2000).message
    assert "deeper than" in error_of("(" * 100 + "id = 1" + ")" * 100).message
    assert "more than 50 comparisons" in error_of(" or ".join(["id = 1"] * 51)).message
    assert "at most 500 values" in error_of("id in (" + ",".join(["1"] * 600) + ")").message


def test_a_bool_tree_is_returned_for_nested_queries():
    tree = parse("(id = 1 or id = 2) and not (name = a)")
    assert isinstance(tree, BoolOp) and tree.op == "and"
    assert [c.field.name for c in comparisons(tree)] == ["id", "id", "name"]
