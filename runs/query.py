"""The runs query language: ``params.lr > 0.01 and metrics.accuracy >= 0.9 and tags.team = 'cv'``.

A hand-written tokenizer and recursive-descent parser, pure standard library. The text
becomes a small tree of comparisons joined by ``and``/``or``/``not``; ``runs/query_sql.py``
turns that tree into ORM filters, so values only ever reach SQL as bound parameters and
nothing is evaluated in Python.

Grammar, loosest binding first::

    query      := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | "(" or ")" | comparison
    comparison := FIELD op value
                | FIELD ["not"] "in" "(" value ("," value)* [","] ")"
                | FIELD ["not"] ("like" | "contains") value
    op         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
    value      := NUMBER | 'string' | "string" | WORD
    FIELD      := params.<name> | metrics.<key>[.last|.min|.max|.best] | tags.<key>
                | status | name | version | workflow | experiment | user | created | started | duration | id

A key with other characters is written in backticks: ``metrics.`val loss`.min``. Keywords
are case-insensitive. Positions in errors are 0-based character offsets.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from core.errors import InvalidInput

MAX_LENGTH = 2000
MAX_DEPTH = 40
MAX_COMPARISONS = 50
MAX_LIST = 500

KEYWORDS = {"and", "or", "not", "in", "like", "contains"}
PLAIN_FIELDS = {"status", "name", "version", "workflow", "experiment", "user", "created", "started", "duration", "id"}
KEYED_FIELDS = {"params": "param", "metrics": "metric", "tags": "tag"}
METRIC_AGGS = {"last", "min", "max", "best"}
COMPARE_OPS = {"=", "!=", "<", "<=", ">", ">="}
NUMBER_RE = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_WORD_CHARS = re.compile(r"[\w/:@+-]")
_VALUE_CHARS = re.compile(r"[\w/:@+.-]")


class QueryError(InvalidInput):
    """A malformed query: 400 on field ``q``, the message naming the position."""

    def __init__(self, message: str, position: int, *, field: str = "q", hint: str = "") -> None:
        super().__init__(f"{message} at position {position}." + (f" {hint}" if hint else ""), field=field)
        self.position = position


# --- tokens ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # "word" (a bare name, maybe dotted), "num", "str", "op", "kw", "end"
    text: str  # the source text (a keyword lower-cased)
    value: object  # the parsed value: a float for "num", the unescaped text for "str", segments for "word"
    pos: int


def _describe(tok: Token) -> str:
    return "the end of the query" if tok.kind == "end" else f"'{tok.text}'"


def _read_segment(text: str, i: int) -> tuple[str, int]:
    """A name segment at ``i``: backticked, or word characters."""
    if text[i] == "`":
        end = text.find("`", i + 1)
        if end < 0:
            raise QueryError("Unterminated `name`", i)
        if end == i + 1:
            raise QueryError("Empty `name`", i)
        return text[i + 1:end], end + 1
    start = i
    while i < len(text) and _WORD_CHARS.match(text[i]):
        i += 1
    return text[start:i], i


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_LENGTH:
        raise QueryError(f"The query is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch.isdigit() or (ch in "-." and i + 1 < n and (text[i + 1].isdigit() or text[i + 1] == ".")):
            # A number, or a value that starts like one: a date (2026-01-31), a version
            # (1.2.0), a duration (90s) or a relative time (-7d) stays a string.
            start = i
            i += 1
            while i < n and _VALUE_CHARS.match(text[i]):
                i += 1
            raw = text[start:i]
            kind = "num" if NUMBER_RE.fullmatch(raw) else "str"
            if kind == "num" and not math.isfinite(float(raw)):
                raise QueryError(f"The number {raw} is too large", start)
            tokens.append(Token(kind, raw, float(raw) if kind == "num" else raw, start))
        elif ch in "'\"":
            start, quote, chars = i, ch, []
            i += 1
            while True:
                if i >= n:
                    raise QueryError(f"Unterminated string (missing {quote})", start)
                c = text[i]
                if c == "\\" and i + 1 < n and text[i + 1] in (quote, "\\"):
                    chars.append(text[i + 1])
                    i += 2
                    continue
                i += 1
                if c == quote:
                    break
                chars.append(c)
            tokens.append(Token("str", text[start:i], "".join(chars), start))
        elif ch.isalpha() or ch in "_`":
            start, segments = i, []
            while True:
                segment, i = _read_segment(text, i)
                segments.append(segment)
                if i + 1 < n and text[i] == "." and (_WORD_CHARS.match(text[i + 1]) or text[i + 1] == "`"):
                    i += 1
                    continue
                break
            raw = text[start:i]
            if len(segments) == 1 and raw.lower() in KEYWORDS:
                tokens.append(Token("kw", raw.lower(), raw.lower(), start))
            else:
                tokens.append(Token("word", raw, tuple(segments), start))
        elif text[i:i + 2] in ("<=", ">=", "!=", "=="):
            tokens.append(Token("op", "=" if text[i:i + 2] == "==" else text[i:i + 2], None, i))
            i += 2
        elif ch in "=<>(),":
            tokens.append(Token("op", ch, None, i))
            i += 1
        else:
            raise QueryError(f"Unexpected character '{ch}'", i)
    tokens.append(Token("end", "", None, n))
    return tokens


# --- the tree -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    kind: str  # "param", "metric", "tag", or a plain field's name
    key: str = ""  # the param, metric or tag key
    agg: str = ""  # for metrics: last, min, max or best
    text: str = ""  # as written

    @property
    def name(self) -> str:
        """The canonical column name: ``metrics.loss.min``, ``params.lr``, ``status``."""
        if self.kind == "metric":
            return f"metrics.{self.key}" + ("" if self.agg == "last" else f".{self.agg}")
        if self.kind in ("param", "tag"):
            return f"{self.kind}s.{self.key}"
        return self.kind


@dataclass(frozen=True)
class Value:
    value: object  # float for numbers, str otherwise
    raw: str  # as written (without quotes for strings)
    pos: int

    @property
    def is_number(self) -> bool:
        return isinstance(self.value, float)


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str  # = != < <= > >= in "not in" like "not like" contains "not contains"
    values: tuple[Value, ...]
    pos: int  # of the field


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and", "or", "not"
    items: tuple


def field_from_segments(segments: tuple[str, ...], pos: int, text: str, *, error_field: str = "q") -> Field:
    head = segments[0].lower()
    if head in KEYED_FIELDS:
        if len(segments) < 2:
            raise QueryError(f"'{text}' needs a key, like {head}.<name>", pos, field=error_field)
        kind, rest = KEYED_FIELDS[head], list(segments[1:])
        if kind == "metric":
            agg = "last"
            if len(rest) > 1 and rest[-1].lower() in METRIC_AGGS:
                agg = rest.pop().lower()
            return Field("metric", ".".join(rest), agg, text)
        return Field(kind, ".".join(rest), "", text)
    if len(segments) == 1 and head in PLAIN_FIELDS:
        return Field(head, text=text)
    known = ", ".join(sorted(PLAIN_FIELDS))
    raise QueryError(f"Unknown field '{text}'", pos, field=error_field,
                     hint=f"Fields: params.<name>, metrics.<key>[.min|.max|.best], tags.<key>, {known}.")


def parse_field(text: str, *, error_field: str = "columns") -> Field:
    """One field name on its own, as ``columns=`` and ``sort=`` give them."""
    tokens = tokenize(text.strip())
    if len(tokens) != 2 or tokens[0].kind != "word":
        raise QueryError(f"'{text}' is not a field name", 0, field=error_field)
    return field_from_segments(tokens[0].value, tokens[0].pos, tokens[0].text, error_field=error_field)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.comparisons = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def at(self, kind: str, *texts: str) -> bool:
        return self.tok.kind == kind and (not texts or self.tok.text in texts)

    def take(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def parse(self) -> Comparison | BoolOp:
        if self.at("end"):
            raise QueryError("The query is empty", 0)
        node = self.or_()
        if not self.at("end"):
            raise QueryError(f"Expected 'and', 'or' or the end of the query, got {_describe(self.tok)}", self.tok.pos)
        return node

    def or_(self):
        items = [self.and_()]
        while self.at("kw", "or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_(self):
        items = [self.not_()]
        while self.at("kw", "and"):
            self.take()
            items.append(self.not_())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QueryError(f"The query nests deeper than {MAX_DEPTH} levels", self.tok.pos)
        try:
            if self.at("kw", "not"):
                self.take()
                return BoolOp("not", (self.not_(),))
            if self.at("op", "("):
                opening = self.take()
                node = self.or_()
                if not self.at("op", ")"):
                    raise QueryError(f"Expected ')' to close the '(' at position {opening.pos}, got {_describe(self.tok)}",
                                     self.tok.pos)
                self.take()
                return node
            return self.comparison()
        finally:
            self.depth -= 1

    def comparison(self) -> Comparison:
        tok = self.tok
        if tok.kind != "word":
            raise QueryError(f"Expected a field such as params.lr or status, got {_describe(tok)}", tok.pos)
        self.take()
        field = field_from_segments(tok.value, tok.pos, tok.text)
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise QueryError(f"The query has more than {MAX_COMPARISONS} comparisons", tok.pos)
        negate = ""
        if self.at("kw", "not"):
            self.take()
            negate = "not "
            if not self.at("kw", "in", "like", "contains"):
                raise QueryError(f"Expected 'in', 'like' or 'contains' after 'not', got {_describe(self.tok)}", self.tok.pos)
        if self.at("kw", "in"):
            op_tok = self.take()
            if not self.at("op", "("):
                raise QueryError(f"Expected '(' after 'in', got {_describe(self.tok)}", self.tok.pos)
            self.take()
            values = [self.value(op_tok)]
            while self.at("op", ","):
                self.take()
                if self.at("op", ")"):
                    break
                values.append(self.value(op_tok))
                if len(values) > MAX_LIST:
                    raise QueryError(f"A list holds at most {MAX_LIST} values", self.tok.pos)
            if not self.at("op", ")"):
                raise QueryError(f"Expected ',' or ')' in the list, got {_describe(self.tok)}", self.tok.pos)
            self.take()
            return Comparison(field, negate + "in", tuple(values), tok.pos)
        if self.at("kw", "like", "contains"):
            op_tok = self.take()
            return Comparison(field, negate + op_tok.text, (self.value(op_tok),), tok.pos)
        if not self.at("op", *COMPARE_OPS):
            raise QueryError(f"Expected an operator (= != < <= > >= in like contains) after '{tok.text}', "
                             f"got {_describe(self.tok)}", self.tok.pos)
        op_tok = self.take()
        return Comparison(field, op_tok.text, (self.value(op_tok),), tok.pos)

    def value(self, after: Token) -> Value:
        tok = self.tok
        if tok.kind in ("num", "str"):
            self.take()
            return Value(tok.value, tok.value if tok.kind == "str" else tok.text, tok.pos)
        if tok.kind == "word":  # a bare word is a string: status = succeeded
            self.take()
            return Value(tok.text, tok.text, tok.pos)
        raise QueryError(f"Expected a value after '{after.text}', got {_describe(tok)}", tok.pos)


def parse(text: str) -> Comparison | BoolOp:
    """The tree of a query; :class:`QueryError` (400, field ``q``) naming the position otherwise."""
    return _Parser(text).parse()


def comparisons(node) -> list[Comparison]:
    """Every comparison in the tree, left to right."""
    if isinstance(node, Comparison):
        return [node]
    return [c for item in node.items for c in comparisons(item)]
