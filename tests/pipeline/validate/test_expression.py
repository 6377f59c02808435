"""Attune's expression grammar in Python, compared with Attune's own parser.

The differential properties feed the same texts to `expression.parse` and to
`attune-check expr` (one batch per example) and require the same verdict and,
for a rejection, the same error position.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packsync.pipeline.validate.expression import (
    Call,
    Dot,
    ExpressionError,
    Ident,
    parse,
    walk,
)
from tests.support.attune_kit import check_expressions, requires_kit

# Expressions seen in real packs (Attune's core pack, its test fixtures and docs,
# StackStorm/Jinja habits) plus edge cases of the tokenizer.
CORPUS = [
    "succeeded()", "failed()", "timed_out()", "result()", "result().stdout",
    "result().data.items", "parameters.packs", "parameters.skip_tests == false",
    "workflow.temp_dir", "task.download.result.packs", "length(parameters.packs) > 0",
    "not parameters.skip_dependencies", "item", "index", "item.name", "system.workflow_start",
    "config.api_token", "keystore['secret']", "parameters['odd-name']",
    "result().code == 200 and succeeded()", "'admin' in roles", "x | length",
    "parameters.packs | map(attribute='name') | list", "now()", "uuid()", "range(3)[0]",
    "[1, 2, ]", "[,]", "a.in", "a.1", "1.foo", "1..2", '"abc', "'a\\'b'", "x == = 1",
    "not not x", "-x.y[0](1)", "f(1,)", "f(,)", "()", "a[1:2]", "x if y else z",
    "% if x %", "9223372036854775807", "9223372036854775808", "a < b < c", ".5", "5.",
    "", "   ", "\u00a0x", "\x1cx", "x\u3000", "é", "a.b.c()", "a['b'](1)", "{ x }",
    "x !== y", "x => y", "a ~ b", "vars.x", "tasks.t.result", "variables['k']",
    "replace(s, 'a', 'b')", "slice(x, 1)", "chunks(xs, 2)", "merge({}, {})",
]  # fmt: skip

TOKENS = [
    "a", "b", "x.y", "f", "length", "1", "22", "2.5", "0.0", "'s'", '"t"', "'\\n'", "(", ")",
    "[", "]", ",", ".", "+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=", "and",
    "or", "not", "in", "true", "false", "null", "|", "=", "!", "{", "}", ":", "?", "_x1",
    "9223372036854775808", "'", '"', "\\", "é", "\u00a0", "\x1c",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(TOKENS), max_size=12).flatmap(
    lambda toks: st.lists(
        st.sampled_from(["", " ", "  "]), min_size=len(toks), max_size=len(toks)
    ).map(lambda seps: "".join(s + t for s, t in zip(seps, toks, strict=True)))
)
raw_text = st.text(
    alphabet=st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
    max_size=20,
)


def _grammar() -> st.SearchStrategy[str]:
    atoms = st.sampled_from(
        ["x", "parameters.n", "item", "1", "2.5", "'s'", "true", "null", "result()", "[]"]
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binops = st.sampled_from(
            ["+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=", "in", "and", "or"]
        )
        return st.one_of(
            st.tuples(inner, binops, inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
            inner.map(lambda e: f"({e})"),
            inner.map(lambda e: f"not {e}"),
            inner.map(lambda e: f"-{e}"),
            inner.map(lambda e: f"{e}.field"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            st.lists(inner, max_size=3).map(lambda xs: f"length({', '.join(xs)})"),
            st.lists(inner, max_size=3).map(lambda xs: f"[{', '.join(xs)}]"),
        )

    return st.recursive(atoms, extend, max_leaves=12)


def _ours(text: str) -> tuple[bool, int | None]:
    try:
        parse(text)
    except ExpressionError as exc:
        return False, exc.pos
    return True, None


@requires_kit
def test_corpus_agrees_with_attune() -> None:
    assert [_ours(t) for t in CORPUS] == check_expressions(CORPUS)


@requires_kit
@settings(
    max_examples=int(os.environ.get("PACKSYNC_EXPR_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.one_of(token_soup, raw_text, _grammar()), min_size=20, max_size=60))
def test_random_expressions_agree_with_attune(texts: list[str]) -> None:
    assert [_ours(t) for t in texts] == check_expressions(texts)


def test_precedence_and_shapes() -> None:
    tree = parse("not a == 1 or b and c.d[0]")
    assert type(tree).__name__ == "Binary" and tree.op == "or"  # type: ignore[attr-defined]
    calls = [n for n in walk(parse("length(x) + f(g(1))")) if isinstance(n, Call)]
    assert [c.name for c in calls] == ["length", "f", "g"]
    dot = parse("task.fetch.result")
    assert isinstance(dot, Dot) and dot.name == "result"
    assert isinstance(dot.obj, Dot) and isinstance(dot.obj.obj, Ident)


@pytest.mark.parametrize(
    ("text", "pos", "fragment"),
    [
        ("x | length", 2, "'|' filters"),
        ("a = 1", 2, "'=='"),
        ("f(", 2, "end of expression"),
        ("(" * 70 + "1" + ")" * 70, 64, "nests deeper"),
    ],
)
def test_error_positions_and_messages(text: str, pos: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert info.value.pos == pos and fragment in info.value.message
