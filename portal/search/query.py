"""The query language: words (AND by default), "phrases", field:value, -negation, OR, parentheses, ranges
(`year:[2010 TO 2012]`) and comparisons (`number_events:>1000000`). Parsed into a small AST; a malformed
query raises :class:`portal.errors.Invalid` saying what is wrong and where."""

from __future__ import annotations

import re
from dataclasses import dataclass

from portal.errors import Invalid
from portal.i18n import N_

TEXT_FIELDS = {"title", "author", "keywords"}
EXACT_FIELDS = {
    "experiment",
    "type",
    "subtype",
    "doi",
    "recid",
    "format",
    "collision_energy",
    "collision_type",
    "category",
    "availability",
    "collection",
}
NUMERIC_FIELDS = {"year", "number_events", "recid"}
FIELDS = TEXT_FIELDS | EXACT_FIELDS | NUMERIC_FIELDS
ALIASES = {
    "authors": "author",
    "keyword": "keywords",
    "file_format": "format",
    "file_type": "format",
    "experiments": "experiment",
    "collections": "collection",
    "events": "number_events",
}


@dataclass(frozen=True)
class Text:
    """Free text or a phrase, optionally restricted to a text field (title, author, keywords)."""

    value: str
    phrase: bool = False
    field: str | None = None


@dataclass(frozen=True)
class Exact:
    field: str
    value: str


@dataclass(frozen=True)
class Range:
    field: str
    low: float | None
    high: float | None
    include_low: bool = True
    include_high: bool = True


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class And:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    nodes: tuple[Node, ...]


Node = Text | Exact | Range | Not | And | Or


def positive_texts(node: Node | None) -> list[Text]:
    """The text nodes that make a document rank higher (those not under a negation), in query order."""
    if node is None or isinstance(node, Not):
        return []
    if isinstance(node, Text):
        return [node]
    if isinstance(node, And | Or):
        return [t for n in node.nodes for t in positive_texts(n)]
    return []


_TOKEN = re.compile(
    r'\s*(?:(?P<lpar>\()|(?P<rpar>\))|(?P<phrase>"(?:[^"\\]|\\.)*")|(?P<open>")'
    r'|(?P<word>[^\s()"]+))'
)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        kind = m.lastgroup or "word"
        if kind == "open":
            raise Invalid(N_('unclosed quote at position {pos}: add the closing "'), pos=m.start("open") + 1, field="q")
        out.append((kind, m.group(kind), m.start(kind)))
        pos = m.end()
    return out


#: deepest nesting of parentheses and negations a query may have: far beyond what people write, and low enough
#: that neither this recursive parser nor the SQL built from the tree (SQLite's and PostgreSQL's parsers nest
#: too) runs out of stack on a query made to do so
MAX_DEPTH = 32


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> Node | None:
        if not self.tokens:
            return None
        node = self.or_expr()
        if self.peek() is not None:
            kind, value, pos = self.peek()  # type: ignore[misc]
            message = (
                N_("unexpected {value!r} at position {pos}: there is no matching (")
                if kind == "rpar"
                else N_("unexpected {value!r} at position {pos}")
            )
            raise Invalid(message, value=value, pos=pos + 1, field="q")
        return node

    def or_expr(self) -> Node:
        nodes = [self.and_expr()]
        while (tok := self.peek()) and tok[0] == "word" and tok[1] == "OR":
            self.i += 1
            if self.peek() is None or self.peek()[0] == "rpar":  # type: ignore[index]
                raise Invalid(N_("OR at position {pos} needs something after it"), pos=tok[2] + 1, field="q")
            nodes.append(self.and_expr())
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def and_expr(self) -> Node:
        nodes = []
        while (tok := self.peek()) and tok[0] != "rpar" and not (tok[0] == "word" and tok[1] == "OR"):
            if tok[0] == "word" and tok[1] == "AND":
                self.i += 1
                continue
            nodes.append(self.unary())
        if not nodes:
            tok = self.peek()
            if tok:
                raise Invalid(
                    N_("empty expression before {value!r} at position {pos}"), value=tok[1], pos=tok[2] + 1, field="q"
                )
            raise Invalid(N_("empty expression"), field="q")
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def unary(self) -> Node:
        kind, value, pos = self.tokens[self.i]
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise Invalid(
                    N_("the query nests parentheses or negations more than {MAX_DEPTH} deep at position {pos}"),
                    MAX_DEPTH=MAX_DEPTH,
                    pos=pos + 1,
                    field="q",
                )
            return self._unary(kind, value, pos)
        finally:
            self.depth -= 1

    def _unary(self, kind: str, value: str, pos: int) -> Node:
        if kind == "word" and value in ("NOT", "-") or (kind == "word" and value.startswith("-") and len(value) > 1):
            if value in ("NOT", "-"):
                self.i += 1
                if self.peek() is None:
                    raise Invalid(
                        N_("{value} at position {pos} needs something to negate"), value=value, pos=pos + 1, field="q"
                    )
                return Not(self.unary())
            self.tokens[self.i] = ("word", value[1:], pos + 1)
            return Not(self.unary())
        if kind == "lpar":
            self.i += 1
            node = self.or_expr()
            if self.peek() is None or self.peek()[0] != "rpar":  # type: ignore[index]
                raise Invalid(N_("the ( at position {pos} is never closed"), pos=pos + 1, field="q")
            self.i += 1
            return node
        self.i += 1
        if kind == "phrase":
            return Text(_unquote(value), phrase=True)
        return self.word(value, pos)

    def word(self, value: str, pos: int) -> Node:
        if ":" in value and not value.startswith(":"):
            name, rest = value.split(":", 1)
            name = ALIASES.get(name.lower(), name.lower())
            if name not in FIELDS:
                raise Invalid(
                    N_("unknown field {name!r} at position {pos}; fields: {fields}"),
                    name=name,
                    pos=pos + 1,
                    fields=", ".join(sorted(FIELDS)),
                    field="q",
                )
            if rest == "":
                nxt = self.peek()
                if nxt is None or nxt[0] not in ("phrase", "word"):
                    raise Invalid(N_("{name}: at position {pos} needs a value"), name=name, pos=pos + 1, field="q")
                self.i += 1
                if nxt[0] == "phrase":
                    return self.field_value(name, _unquote(nxt[1]), True, pos)
                rest = nxt[1]
            if rest.startswith(("[", "{")):
                return self.range(name, rest, pos)
            if rest[:2] in (">=", "<=") or rest[:1] in (">", "<"):
                return self.compare(name, rest, pos)
            return self.field_value(name, rest, False, pos)
        return Text(value)

    def field_value(self, name: str, value: str, phrase: bool, pos: int) -> Node:
        if name in TEXT_FIELDS:
            return Text(value, phrase=phrase, field=name)
        if name in NUMERIC_FIELDS and name not in EXACT_FIELDS:
            number = _number(value, name, pos)
            return Range(name, number, number)
        return Exact(name, value)

    def range(self, name: str, first: str, pos: int) -> Node:
        parts = [first]
        while not parts[-1].endswith(("]", "}")):
            tok = self.peek()
            if tok is None or tok[0] != "word":
                raise Invalid(
                    N_("the range for {name} at position {pos} is not closed with ] or }}"),
                    name=name,
                    pos=pos + 1,
                    field="q",
                )
            parts.append(tok[1])
            self.i += 1
        body = " ".join(parts)
        m = re.fullmatch(r"([\[{])\s*(\S+)\s+TO\s+(\S+)\s*([\]}])", body)
        if m is None:
            raise Invalid(
                N_("bad range {body!r} at position {pos}; write {name}:[2010 TO 2012]"),
                body=body,
                pos=pos + 1,
                name=name,
                field="q",
            )
        if name not in NUMERIC_FIELDS:
            raise Invalid(
                N_("{name} is not a numeric field; ranges work on {fields}"),
                name=name,
                fields=", ".join(sorted(NUMERIC_FIELDS)),
                field="q",
            )
        low = None if m.group(2) == "*" else _number(m.group(2), name, pos)
        high = None if m.group(3) == "*" else _number(m.group(3), name, pos)
        return Range(name, low, high, m.group(1) == "[", m.group(4) == "]")

    def compare(self, name: str, rest: str, pos: int) -> Node:
        if name not in NUMERIC_FIELDS:
            raise Invalid(
                N_("{name} is not a numeric field; comparisons work on {fields}"),
                name=name,
                fields=", ".join(sorted(NUMERIC_FIELDS)),
                field="q",
            )
        op = rest[:2] if rest[:2] in (">=", "<=") else rest[:1]
        value = _number(rest[len(op) :], name, pos)
        return {
            ">": Range(name, value, None, False),
            ">=": Range(name, value, None),
            "<": Range(name, None, value, True, False),
            "<=": Range(name, None, value),
        }[op]


def _number(text: str, name: str, pos: int) -> float:
    try:
        return float(text.replace("_", ""))
    except ValueError:
        raise Invalid(
            N_("{name} needs a number at position {pos}, got {text!r}"), name=name, pos=pos + 1, text=text, field="q"
        ) from None


def _unquote(token: str) -> str:
    return token[1:-1].replace('\\"', '"')


def parse(text: str) -> Node | None:
    """The AST of ``text`` (None for an empty query). Raises Invalid with the position of the problem."""
    if len(text) > 1000:
        raise Invalid(N_("the query is longer than 1000 characters"), field="q")
    return _Parser(text).parse()
