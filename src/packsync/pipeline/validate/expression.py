"""Attune's expression language: the text inside `{{ }}` (and a bare `when`).

A hand-written tokenizer and recursive-descent parser with the grammar,
precedence and error positions of Attune's `workflow/expression/`
(tokenizer.rs, parser.rs, ast.rs), plus the names its evaluator knows
(evaluator.rs built-ins, the executor's workflow functions and variable
namespaces). Parse only: nothing is evaluated. `attune-check expr` is the
oracle the differential tests compare against.

Precedence, lowest first: `or`, `and`, `not`, comparisons and `in` (chained
left to right), `+ -`, `* / %`, unary `-`, postfix `.field` `[index]` `(args)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

# Rust's char::is_whitespace (Unicode White_Space), which differs from str.isspace.
WHITESPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
)
_KEYWORDS = {"true": "true", "false": "false", "null": "null", "and": "and", "or": "or"}
_KEYWORDS |= {"not": "not", "in": "in"}
_SINGLE = {"+": "+", "-": "-", "*": "*", "/": "/", "%": "%", "(": "(", ")": ")"}
_SINGLE |= {"[": "[", "]": "]", ",": ",", ".": "."}
_COMPARISONS = frozenset({"==", "!=", "<", ">", "<=", ">=", "in"})
_I64_MAX = 2**63 - 1
MAX_NESTING = 64  # Attune recurses until its stack ends; we stop earlier, on purpose

# evaluator.rs eval_builtin_function: name -> accepted argument counts
BUILTINS: dict[str, tuple[int, ...]] = {
    **dict.fromkeys(
        ("string", "number", "int", "bool", "type_of", "length", "keys", "values", "abs"),
        (1,),
    ),
    **dict.fromkeys(
        ("floor", "ceil", "round", "sum", "lower", "upper", "trim", "reversed", "sort"), (1,)
    ),
    **dict.fromkeys(("unique", "flat"), (1,)),
    **dict.fromkeys(
        ("min", "max", "split", "join", "starts_with", "ends_with", "match", "contains"), (2,)
    ),
    **dict.fromkeys(("zip", "index_of", "count", "merge", "chunks"), (2,)),
    "replace": (3,),
    "range": (1, 2),
    "slice": (2, 3),
}
# The executor's WorkflowContext::call_workflow_function (arguments are ignored).
WORKFLOW_FUNCTIONS = frozenset({"result", "succeeded", "failed", "timed_out"})
FUNCTIONS = frozenset(BUILTINS) | WORKFLOW_FUNCTIONS
# WorkflowContext::resolve_variable: canonical namespaces and their aliases.
NAMESPACES = frozenset(
    {"parameters", "workflow", "task", "config", "keystore", "item", "index", "system"}
)
ALIASES = {"vars": "workflow", "variables": "workflow", "tasks": "task"}


class ExpressionError(Exception):
    """A syntax error at character offset `pos` of the expression text."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # an operator/delimiter/keyword itself, or "int" "float" "str" "ident" "eof"
    value: object
    start: int

    def show(self) -> str:
        if self.kind == "eof":
            return "end of expression"
        if self.kind == "str":
            return f'"{self.value}"'
        return str(self.value) if self.kind in ("int", "float", "ident") else self.kind


def tokenize(text: str) -> list[Token]:
    """tokenizer.rs `Tokenizer::tokenize`."""
    tokens: list[Token] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in WHITESPACE:
            pos += 1
        if pos >= n:
            tokens.append(Token("eof", None, pos))
            return tokens
        ch = text[pos]
        start = pos
        if ch in _SINGLE:
            tokens.append(Token(ch, ch, start))
            pos += 1
        elif ch in "=!":
            if pos + 1 < n and text[pos + 1] == "=":
                tokens.append(Token(ch + "=", ch + "=", start))
                pos += 2
            else:
                raise ExpressionError(_unexpected_char(ch), start)
        elif ch in "<>":
            if pos + 1 < n and text[pos + 1] == "=":
                tokens.append(Token(ch + "=", ch + "=", start))
                pos += 2
            else:
                tokens.append(Token(ch, ch, start))
                pos += 1
        elif ch in "\"'":
            value, pos = _read_string(text, pos)
            tokens.append(Token("str", value, start))
        elif "0" <= ch <= "9":
            token, pos = _read_number(text, pos)
            tokens.append(token)
        elif ch.isascii() and (ch.isalpha() or ch == "_"):
            while pos < n and text[pos].isascii() and (text[pos].isalnum() or text[pos] == "_"):
                pos += 1
            word = text[start:pos]
            kind = _KEYWORDS.get(word, "ident")
            tokens.append(Token(kind, word, start))
        else:
            raise ExpressionError(_unexpected_char(ch), start)


def _unexpected_char(ch: str) -> str:
    if ch == "|":
        return "'|' filters do not exist in Attune expressions: call a function, e.g. length(x)"
    if ch == "{":
        return "unexpected '{': there are no object literals or nested '{{ }}' in expressions"
    if ch == "=":
        return "unexpected '=': compare with '==' (there is no assignment)"
    if ch == "!":
        return "unexpected '!': use 'not x' or '!='"
    return f"unexpected character {ch!r}"


def _read_string(text: str, pos: int) -> tuple[str, int]:
    quote, start = text[pos], pos
    pos += 1
    out: list[str] = []
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", quote: quote}
    while pos < len(text):
        ch = text[pos]
        pos += 1
        if ch == "\\":
            if pos >= len(text):
                break
            nxt = text[pos]
            pos += 1
            out.append(escapes.get(nxt, "\\" + nxt))
        elif ch == quote:
            return "".join(out), pos
        else:
            out.append(ch)
    raise ExpressionError("unterminated string literal", start)


def _read_number(text: str, pos: int) -> tuple[Token, int]:
    start, n = pos, len(text)
    is_float = False
    while pos < n:
        ch = text[pos]
        if "0" <= ch <= "9":
            pos += 1
        elif ch == "." and not is_float and pos + 1 < n and "0" <= text[pos + 1] <= "9":
            is_float = True
            pos += 1
        else:
            break
    digits = text[start:pos]
    if is_float:
        return Token("float", float(digits), start), pos
    value = int(digits)
    if value > _I64_MAX:
        raise ExpressionError(f"number {digits} does not fit in a 64-bit integer", start)
    return Token("int", value, start), pos


# ---- the AST (ast.rs) ----


@dataclass(frozen=True, slots=True)
class Node:
    pos: int


@dataclass(frozen=True, slots=True)
class Literal(Node):
    value: object


@dataclass(frozen=True, slots=True)
class Array(Node):
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Ident(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(frozen=True, slots=True)
class Dot(Node):
    obj: Node
    name: str
    name_pos: int


@dataclass(frozen=True, slots=True)
class Index(Node):
    obj: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Call(Node):
    name: str
    args: tuple[Node, ...]


@dataclass(slots=True)
class _Parser:
    tokens: list[Token]
    pos: int = 0
    depth: int = field(default=0)

    def peek(self) -> Token:
        return self.tokens[min(self.pos, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.peek()
        self.pos += 1
        return tok

    def expect(self, kind: str) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            raise ExpressionError(f"expected '{kind}', found {tok.show()}", tok.start)
        return self.advance()

    def parse(self) -> Node:
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "eof":
            raise ExpressionError(_unexpected_token(tok), tok.start)
        return node

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError(
                f"expression nests deeper than {MAX_NESTING} levels: simplify it",
                self.peek().start,
            )

    def parse_or(self) -> Node:
        self.nest()
        left = self.parse_and()
        while self.peek().kind == "or":
            tok = self.advance()
            left = Binary(tok.start, "or", left, self.parse_and())
        self.depth -= 1
        return left

    def parse_and(self) -> Node:
        left = self.parse_not()
        while self.peek().kind == "and":
            tok = self.advance()
            left = Binary(tok.start, "and", left, self.parse_not())
        return left

    def parse_not(self) -> Node:
        if self.peek().kind == "not":
            tok = self.advance()
            self.nest()
            operand = self.parse_not()
            self.depth -= 1
            return Unary(tok.start, "not", operand)
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_addition()
        while self.peek().kind in _COMPARISONS:
            tok = self.advance()
            left = Binary(tok.start, tok.kind, left, self.parse_addition())
        return left

    def parse_addition(self) -> Node:
        left = self.parse_multiplication()
        while self.peek().kind in ("+", "-"):
            tok = self.advance()
            left = Binary(tok.start, tok.kind, left, self.parse_multiplication())
        return left

    def parse_multiplication(self) -> Node:
        left = self.parse_unary()
        while self.peek().kind in ("*", "/", "%"):
            tok = self.advance()
            left = Binary(tok.start, tok.kind, left, self.parse_unary())
        return left

    def parse_unary(self) -> Node:
        if self.peek().kind == "-":
            tok = self.advance()
            self.nest()
            operand = self.parse_unary()
            self.depth -= 1
            return Unary(tok.start, "-", operand)
        return self.parse_postfix()

    def parse_postfix(self) -> Node:
        node = self.parse_primary()
        while True:
            kind = self.peek().kind
            if kind == ".":
                self.advance()
                tok = self.advance()
                if tok.kind not in ("ident", *_KEYWORDS):
                    raise ExpressionError(
                        f"expected a field name after '.', found {tok.show()}", tok.start
                    )
                node = Dot(node.pos, node, str(tok.value), tok.start)
            elif kind == "[":
                self.advance()
                index = self.parse_or()
                self.expect("]")
                node = Index(node.pos, node, index)
            elif kind == "(" and isinstance(node, Ident):
                self.advance()
                args = self.parse_args()
                self.expect(")")
                node = Call(node.pos, node.name, tuple(args))
            else:
                return node

    def parse_args(self) -> list[Node]:
        if self.peek().kind == ")":
            return []
        args = [self.parse_or()]
        while self.peek().kind == ",":
            self.advance()
            args.append(self.parse_or())
        return args

    def parse_primary(self) -> Node:
        tok = self.peek()
        kind = tok.kind
        if kind in ("int", "float", "str"):
            self.advance()
            return Literal(tok.start, tok.value)
        if kind in ("true", "false", "null"):
            self.advance()
            return Literal(tok.start, {"true": True, "false": False, "null": None}[kind])
        if kind == "ident":
            self.advance()
            return Ident(tok.start, str(tok.value))
        if kind == "(":
            self.advance()
            node = self.parse_or()
            self.expect(")")
            return node
        if kind == "[":
            self.advance()
            items: list[Node] = []
            if self.peek().kind != "]":
                items.append(self.parse_or())
                while self.peek().kind == ",":
                    self.advance()
                    if self.peek().kind == "]":
                        break
                    items.append(self.parse_or())
            self.expect("]")
            return Array(tok.start, tuple(items))
        raise ExpressionError(_unexpected_token(tok), tok.start)


def _unexpected_token(tok: Token) -> str:
    if tok.kind == "eof":
        return "unexpected end of expression"
    return f"unexpected {tok.show()}"


def parse(text: str) -> Node:
    """mod.rs `parse_expression`: the AST, or ExpressionError (an empty text is an error)."""
    return _Parser(tokenize(text)).parse()


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        if isinstance(current, Binary):
            stack += (current.right, current.left)
        elif isinstance(current, Unary):
            stack.append(current.operand)
        elif isinstance(current, Dot):
            stack.append(current.obj)
        elif isinstance(current, Index):
            stack += (current.index, current.obj)
        elif isinstance(current, Array | Call):
            stack.extend(reversed(current.items if isinstance(current, Array) else current.args))


def member(node: Node) -> tuple[str, str, int] | None:
    """`root.name` or `root['name']` → (root, name, position of name)."""
    if isinstance(node, Dot) and isinstance(node.obj, Ident):
        return node.obj.name, node.name, node.name_pos
    if (
        isinstance(node, Index)
        and isinstance(node.obj, Ident)
        and isinstance(node.index, Literal)
        and isinstance(node.index.value, str)
    ):
        return node.obj.name, node.index.value, node.index.pos
    return None
