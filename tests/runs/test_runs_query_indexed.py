"""The runs query's indexed form for texts (``id IN (SELECT run_id ...)`` over (key, value))
and its numbers read at ingest (``RunParam.value_num``) answer exactly what comparing each
run's text answers, on the edges too (a workflow param beside a logged one of the same
name, long texts, numbers written as text, tags compared as numbers)."""
from __future__ import annotations

import pytest
from django.db import connection

from runs.models import RunParam
from runs.numbers import text_number
from runs.query import parse
from runs.query_sql import QueryBuilder, _indexed, compile_query
from runs.run_table import run_table
from runs.services.lifecycle import run_start
from runs.services.tracked import run_create_tracked
from runs.services.tracking import log_batch
from tests.factories import make_spec, publish

pytestmark = pytest.mark.django_db

LONG = "x" * 250


@pytest.fixture
def runs(user) -> dict[str, int]:
    logged = {
        "a": {"lr": "0.01", "optimizer": "adam", "note": LONG, "size": "32"},
        "b": {"lr": "1e-3", "optimizer": "sgd", "note": "short", "size": "32.0"},
        "c": {"lr": "abc", "optimizer": "adam"},
        "d": {},
    }
    ids = {}
    for name, params in logged.items():
        run = run_create_tracked(user=user, experiment="q", name=name, namespace=None, tags={"team": name})
        log_batch(run=run, params=params, tags={"n": str(ord(name))})
        ids[name] = run.pk
    spec = make_spec(params=[{"name": "n", "type": "int", "default": 3}, {"name": "lr", "type": "float", "default": 0.5}])
    run = run_start(user=user, version=publish(user, spec=spec), params={"lr": 0.2}, name="wf")
    log_batch(run=run, params={"lr": "0.001"})  # logged under the same name: the workflow's input wins
    ids["wf"] = run.pk
    return ids


def matching(user, q: str) -> set[str]:
    return {r.name for r in run_table(user=user, q=q, limit=100).runs}


@pytest.mark.parametrize("q, expected", [
    ("params.lr > 0.005", {"a", "wf"}),
    ("params.lr <= 0.001", {"b"}),
    ("params.lr = 0.2", {"wf"}),
    ("params.lr = 0.001", {"b"}),  # 1e-3 as a number; the workflow run's logged 0.001 is overridden
    ("params.lr in (0.01, abc)", {"a", "c"}),
    ("params.optimizer = adam", {"a", "c"}),
    ("params.optimizer in (sgd, adam)", {"a", "b", "c"}),
    ("params.size = 32", {"a", "b"}),
    ("params.note = short", {"b"}),
    (f"params.note = {LONG}", {"a"}),  # too long for the index: the join answers
    ("tags.team = c", {"c"}),
    ("tags.team in (a, d)", {"a", "d"}),
    ("tags.n > 98", {"c", "d"}),  # a tag as a number: the join's cast answers
    ("params.lr != 0.01", {"b", "c", "wf"}),
    ("params.optimizer > adam", {"b"}),  # text order is not indexed: the join answers
])
def test_indexed_and_joined_forms_agree(user, runs, q, expected):
    assert matching(user, q) == expected


def test_the_indexed_form_is_used_where_it_can_be(user, runs):
    for q in ("params.optimizer = adam", "tags.team in (a, b)"):
        c = parse(q)
        assert _indexed(c.field, c.op, list(c.values), QueryBuilder()) is not None, q
    for q in ("params.lr > 0.005", "params.lr != 1", "params.note like 'x%'", f"params.note = {LONG}", "tags.n > 3",
              "params.optimizer in (adam, 3)"):
        c = parse(q)
        assert _indexed(c.field, c.op, list(c.values), QueryBuilder()) is None, q
    if connection.vendor == "postgresql":
        builder = QueryBuilder()
        where = compile_query(parse("params.optimizer = adam and tags.team = a"), builder)
        from runs.models import Run

        sql = str(builder.apply(Run.objects.all()).filter(where).query)
        assert "LENGTH" in sql and "LEFT OUTER JOIN" not in sql
        where = compile_query(parse("params.lr > 0.005"), builder)
        sql = str(builder.apply(Run.objects.all()).filter(where).query)
        assert "value_num" in sql


def test_value_num_is_written_by_the_one_rule(runs):
    got = dict(RunParam.objects.filter(run_id=runs["b"]).values_list("key", "value_num"))
    assert got == {"lr": 0.001, "optimizer": None, "note": None, "size": 32.0}
    for text, number in [("1e99", 1e99), ("-.5", -0.5), ("1e999", None), ("1_000", None), ("nan", None),
                         ("inf", None), ("", None), ("7\n", None), ("9" * 101, None)]:
        assert text_number(text) == number, text


def test_a_workflows_text_params_match_whatever_their_json_type(user):
    """The indexed form also says "Run.params has the text" as containment, for the planner;
    a workflow param that is true compares as its text still, and one that is null is still
    the workflow's, as its cell in the table shows: a logged param of that name does not answer."""
    spec = make_spec(params=[{"name": "n", "type": "int", "default": 3}, {"name": "opt", "type": "str", "default": "adam"},
                             {"name": "flag", "type": "bool", "default": True},
                             {"name": "extra", "type": "json", "default": None}])
    version = publish(user, spec=spec)
    first = run_start(user=user, version=version, params={}, name="wf1")
    log_batch(run=first, params={"extra": "logged", "opt": "sgd"})  # the workflow's opt and null extra win
    run_start(user=user, version=version, params={"opt": "sgd", "flag": False}, name="wf2")
    assert matching(user, "params.opt = adam") == {"wf1"}
    assert matching(user, "params.opt in (sgd, rmsprop)") == {"wf2"}
    assert matching(user, "params.flag = true") == {"wf1"}
    assert matching(user, "params.extra = logged") == set()
    assert matching(user, "params.opt = sgd and params.flag = false") == {"wf2"}
    table = run_table(user=user, q="name = wf1", columns=["params.extra", "params.opt"])
    assert table.values[first.pk] == {"params.extra": None, "params.opt": "adam"}
    assert [r.name for r in run_table(user=user, sort="params.opt", q="params.opt in (adam, sgd)").runs] == ["wf1", "wf2"]
