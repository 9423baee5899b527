"""A small, safe expression language for quality gates (``when=``).

Pure standard library and never ``eval``: the text is tokenized and parsed here into a
tree of plain nodes, and evaluation only ever looks values up by name in a mapping, so
an expression cannot reach attributes, calls or anything else of Python.

Grammar, loosest binding first::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum (compare_op sum)*          # chains like Python: a < b < c
    compare_op := "<" | "<=" | ">" | ">=" | "==" | "!=" | "in" | "not" "in"
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/" | "%") unary)*
    unary      := "-" unary | primary
    primary    := NUMBER | STRING | "true" | "false" | "null" | NAME ("." NAME)*
                | "(" expr ")" | "[" [expr ("," expr)* [","]] "]"

Types are strict: ``and``/``or``/``not`` take booleans, arithmetic and ordering take
numbers (and ``+``, ``<`` and friends also two strings), ``==`` compares values of one kind
(or anything with ``null``). A mismatch is an :class:`ExprError`, never a Python error.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_LENGTH = 2000  # characters of expression text
MAX_DEPTH = 50  # nesting of the parsed tree

KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}
_TWO_CHAR_OPS = {"<=", ">=", "==", "!="}
_ONE_CHAR_OPS = set("<>+-*/%()[],.")


class ExprError(ValueError):
    """A syntax or evaluation error. ``position`` is a 0-based character offset, or None."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


# --- tokens -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # "num", "str", "name", "op", "end"; keywords are "op" with their word as text
    text: str
    value: Any
    pos: int


def _describe(tok: Token) -> str:
    return "the end" if tok.kind == "end" else repr(tok.text)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit() and not (tokens and tokens[-1].kind == "name")):
            start = i
            while i < n and text[i].isdigit():
                i += 1
            is_float = False
            if i < n and text[i] == "." and i + 1 < n and text[i + 1].isdigit():
                is_float = True
                i += 1
                while i < n and text[i].isdigit():
                    i += 1
            if i < n and text[i] in "eE":
                j = i + 1
                if j < n and text[j] in "+-":
                    j += 1
                if j < n and text[j].isdigit():
                    is_float = True
                    i = j
                    while i < n and text[i].isdigit():
                        i += 1
            if i < n and (text[i].isalpha() or text[i] == "_"):
                raise ExprError(f"invalid number at position {start}", start)
            raw = text[start:i]
            value = float(raw) if is_float else int(raw)
            if is_float and not math.isfinite(value):
                raise ExprError(f"number too large at position {start}", start)
            tokens.append(Token("num", raw, value, start))
        elif ch in "'\"":
            start, quote = i, ch
            i += 1
            chars: list[str] = []
            while True:
                if i >= n:
                    raise ExprError(f"unterminated string starting at position {start}", start)
                c = text[i]
                if c == quote:
                    i += 1
                    break
                if c == "\\":
                    if i + 1 >= n:
                        raise ExprError(f"unterminated string starting at position {start}", start)
                    nxt = text[i + 1]
                    escapes = {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}
                    if nxt not in escapes:
                        raise ExprError(f"unknown escape '\\{nxt}' at position {i}", i)
                    chars.append(escapes[nxt])
                    i += 2
                    continue
                chars.append(c)
                i += 1
            tokens.append(Token("str", text[start:i], "".join(chars), start))
        elif ch.isalpha() or ch == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            word = text[start:i]
            tokens.append(Token("op" if word in KEYWORDS else "name", word, word, start))
        elif text[i:i + 2] in _TWO_CHAR_OPS:
            tokens.append(Token("op", text[i:i + 2], None, i))
            i += 2
        elif ch in _ONE_CHAR_OPS:
            tokens.append(Token("op", ch, None, i))
            i += 1
        elif ch == "=":
            raise ExprError(f"unexpected '=' at position {i} (use '==' to compare)", i)
        elif ch == "!":
            raise ExprError(f"unexpected '!' at position {i} (use 'not' or '!=')", i)
        elif ch in "&|":
            raise ExprError(f"unexpected {ch!r} at position {i} (use 'and' / 'or')", i)
        else:
            raise ExprError(f"unexpected character {ch!r} at position {i}", i)
    tokens.append(Token("end", "", None, n))
    return tokens


# --- the tree ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    op: str  # "lit", "name", "list", "neg", "not", "and", "or", "+", "-", "*", "/", "%", "cmp"
    pos: int
    args: tuple = ()
    value: Any = None  # literal value, dotted name, or the comparison operators of a chain
    depth: int = 1


def _node(op: str, pos: int, args: tuple = (), value: Any = None) -> Node:
    depth = 1 + max((a.depth for a in args), default=0)
    if depth > MAX_DEPTH:
        raise ExprError(f"expression nested too deeply at position {pos} (at most {MAX_DEPTH} levels)", pos)
    return Node(op, pos, args, value, depth)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def at(self, *texts: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in texts

    def take(self) -> Token:
        tok = self.tok
        self.i += 1
        return tok

    def expect(self, text: str, what: str) -> Token:
        if not self.at(text):
            raise ExprError(f"expected {what} at position {self.tok.pos}, got {_describe(self.tok)}", self.tok.pos)
        return self.take()

    def enter(self) -> None:
        # Bounds recursion before the tree exists, e.g. "((((((...".
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprError(f"expression nested too deeply at position {self.tok.pos} (at most {MAX_DEPTH} levels)", self.tok.pos)

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise ExprError("expected a value at position 0, got an empty expression", 0)
        node = self.or_()
        if self.tok.kind != "end":
            raise ExprError(f"expected an operator or the end at position {self.tok.pos}, got {_describe(self.tok)}", self.tok.pos)
        return node

    def or_(self) -> Node:
        node = self.and_()
        while self.at("or"):
            pos = self.take().pos
            node = _node("or", pos, (node, self.and_()))
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.at("and"):
            pos = self.take().pos
            node = _node("and", pos, (node, self.not_()))
        return node

    def not_(self) -> Node:
        if self.at("not"):
            pos = self.take().pos
            self.enter()
            operand = self.not_()
            self.depth -= 1
            return _node("not", pos, (operand,))
        return self.comparison()

    def comparison(self) -> Node:
        first = self.sum()
        operands, ops = [first], []
        while True:
            if self.at("<", "<=", ">", ">=", "==", "!=", "in"):
                tok = self.take()
                ops.append((tok.text, tok.pos))
            elif self.at("not") and self.tokens[self.i + 1].kind == "op" and self.tokens[self.i + 1].text == "in":
                pos = self.take().pos
                self.take()
                ops.append(("not in", pos))
            else:
                break
            operands.append(self.sum())
        if not ops:
            return first
        return _node("cmp", ops[0][1], tuple(operands), tuple(ops))

    def sum(self) -> Node:
        node = self.product()
        while self.at("+", "-"):
            tok = self.take()
            node = _node(tok.text, tok.pos, (node, self.product()))
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.at("*", "/", "%"):
            tok = self.take()
            node = _node(tok.text, tok.pos, (node, self.unary()))
        return node

    def unary(self) -> Node:
        if self.at("-"):
            pos = self.take().pos
            self.enter()
            operand = self.unary()
            self.depth -= 1
            return _node("neg", pos, (operand,))
        return self.primary()

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind in ("num", "str"):
            self.take()
            return _node("lit", tok.pos, value=tok.value)
        if tok.kind == "name":
            self.take()
            parts = [tok.text]
            while self.at("."):
                self.take()
                part = self.tok
                if part.kind not in ("name", "op") or not (part.text[:1].isalpha() or part.text[:1] == "_"):
                    raise ExprError(f"expected a name after '.' at position {part.pos}, got {_describe(part)}", part.pos)
                parts.append(self.take().text)  # keywords are fine after a dot: train.metrics.in
            return _node("name", tok.pos, value=".".join(parts))
        if tok.kind == "op" and tok.text in ("true", "false", "null"):
            self.take()
            return _node("lit", tok.pos, value={"true": True, "false": False, "null": None}[tok.text])
        if self.at("("):
            self.take()
            self.enter()
            node = self.or_()
            self.depth -= 1
            self.expect(")", "')'")
            return node
        if self.at("["):
            pos = self.take().pos
            self.enter()
            items: list[Node] = []
            while not self.at("]"):
                items.append(self.or_())
                if not self.at(","):
                    break
                self.take()
            self.depth -= 1
            self.expect("]", "',' or ']'")
            return _node("list", pos, tuple(items))
        raise ExprError(f"expected a value at position {tok.pos}, got {_describe(tok)}", tok.pos)


# --- evaluation -------------------------------------------------------------------------------
def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """Equality within one kind: 1 == 1.0, but true != 1 and "1" != 1."""
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        return False
    if ka == "list":
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _check_value(name: str, value: Any, pos: int) -> Any:
    """Only plain data enters an evaluation: no object of the caller's leaks in."""
    kind = _kind(value)
    if kind == "list":
        return [_check_value(name, v, pos) for v in value]
    if kind not in ("null", "bool", "number", "string"):
        raise ExprError(f"'{name}' is a {kind}, which an expression cannot use", pos)
    if kind == "number" and isinstance(value, float) and not math.isfinite(value):
        raise ExprError(f"'{name}' is {value}, which an expression cannot use", pos)
    return value


class Expr:
    """A parsed expression. Build it with :func:`parse`."""

    def __init__(self, text: str, root: Node) -> None:
        self.text = text
        self.root = root

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"

    def names(self) -> set[str]:
        """The dotted names the expression reads, e.g. ``{"params.min_accuracy"}``."""
        found: set[str] = set()
        todo = [self.root]
        while todo:
            node = todo.pop()
            if node.op == "name":
                found.add(node.value)
            todo.extend(node.args)
        return found

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        """The expression's value with names looked up in ``values`` (keys are dotted names)."""
        return _eval(self.root, values)


def parse(text: str) -> Expr:
    """Parse ``text``; raise :class:`ExprError` with the position of the first problem."""
    if not isinstance(text, str):
        raise ExprError(f"an expression must be a string, got {type(text).__name__}", None)
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    return Expr(text, _Parser(text).parse())


def _num(node: Node, value: Any, op: str) -> int | float:
    if _kind(value) != "number":
        raise ExprError(f"'{op}' at position {node.pos} needs numbers, got {_kind(value)} {_show(value)}", node.pos)
    return value


def _bool(node: Node, value: Any, op: str) -> bool:
    if not isinstance(value, bool):
        raise ExprError(f"'{op}' at position {node.pos} needs true or false, got {_kind(value)} {_show(value)}", node.pos)
    return value


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _eval(node: Node, values: Mapping[str, Any]) -> Any:
    op = node.op
    if op == "lit":
        return node.value
    if op == "name":
        if node.value not in values:
            raise ExprError(f"unknown name '{node.value}' at position {node.pos}", node.pos)
        return _check_value(node.value, values[node.value], node.pos)
    if op == "list":
        return [_eval(a, values) for a in node.args]
    if op == "neg":
        return -_num(node, _eval(node.args[0], values), "-")
    if op == "not":
        return not _bool(node, _eval(node.args[0], values), "not")
    if op in ("and", "or"):
        left = _bool(node, _eval(node.args[0], values), op)
        if (op == "and" and not left) or (op == "or" and left):
            return left  # short-circuit: the right side is not evaluated
        return _bool(node, _eval(node.args[1], values), op)
    if op == "cmp":
        left = _eval(node.args[0], values)
        for (cmp_op, pos), right_node in zip(node.value, node.args[1:]):
            right = _eval(right_node, values)
            if not _compare(cmp_op, pos, left, right):
                return False
            left = right
        return True
    left, right = _eval(node.args[0], values), _eval(node.args[1], values)
    if op == "+":
        if _kind(left) == _kind(right) and _kind(left) in ("string", "list"):
            result = left + right
            if len(result) > 100_000:
                raise ExprError(f"'+' at position {node.pos} makes a value too long", node.pos)
            return result
        return _finite(node, _num(node, left, op) + _num(node, right, op))
    a, b = _num(node, left, op), _num(node, right, op)
    if op == "-":
        return _finite(node, a - b)
    if op == "*":
        if isinstance(a, int) and isinstance(b, int) and (abs(a) > 10**300 or abs(b) > 10**300):
            raise ExprError(f"'*' at position {node.pos} makes a number too large", node.pos)
        return _finite(node, a * b)
    if b == 0:
        raise ExprError(f"division by zero at position {node.pos}", node.pos)
    if op == "/":
        return _finite(node, a / b)
    return _finite(node, a % b)


def _finite(node: Node, value: int | float) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError(f"'{node.op}' at position {node.pos} overflows", node.pos)
    return value


def _compare(op: str, pos: int, left: Any, right: Any) -> bool:
    kl, kr = _kind(left), _kind(right)
    if op in ("==", "!="):
        if kl != kr and "null" not in (kl, kr):
            raise ExprError(f"cannot compare {kl} {_show(left)} with {kr} {_show(right)} using '{op}' at position {pos}", pos)
        return _same(left, right) == (op == "==")
    if op in ("in", "not in"):
        if kr == "list":
            found = any(_same(left, item) for item in right)
        elif kr == "string" and kl == "string":
            found = left in right
        else:
            raise ExprError(f"'{op}' at position {pos} needs a list or two strings, got {kl} {_show(left)} and {kr} {_show(right)}", pos)
        return found == (op == "in")
    if kl != kr or kl not in ("number", "string"):
        raise ExprError(f"cannot compare {kl} {_show(left)} with {kr} {_show(right)} using '{op}' at position {pos}", pos)
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right
