"""The C-composed tree (fastcompose.py) is the event builder's tree, node for
node, or it declines and leaves the document to the builder."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from packsync.pipeline import fastcompose, yamlsafe
from packsync.pipeline.yamlsafe import YMap, YNode, YSeq
from tests.bench.corpus import workflow_text

pytestmark = pytest.mark.skipif(not fastcompose.ENABLED, reason="needs libyaml >= 0.2.6")


def shape(node: YNode) -> Any:
    common = (node.line, node.column, node.path, node.end_line, node.end_column, node.size)
    if isinstance(node, YMap):
        return ("map", common, [(k, shape(kn), shape(v)) for k, (kn, v) in node.items.items()])
    if isinstance(node, YSeq):
        return ("seq", common, [shape(i) for i in node.items])
    assert isinstance(node, yamlsafe.YScalar)
    return ("scalar", common, node.value, type(node.value).__name__, node.text, node.is_merge)


def by_events(text: str) -> tuple[YNode | None, list[yamlsafe.YamlProblem]]:
    return yamlsafe.compose(text, yamlsafe._Loader)


PLAIN = [
    workflow_text("demo", 1),
    "a: 1\nb: [1, 2.5, -3, 0x1f, 1_000]\nc: {d: yes, e: ~, f: 'q'}\n",
    "version: 1.0\nlabel: >\n  folded\n  text\nitems:\n- x\n- - y\n  - z\n",
    "? complex\n: value\n1: int key\nnull: null key\n",
    "- just\n- a list\n",
    "plain scalar root",
    "!!str 123: x\ny: !!int '7'\nw: !!map {a: 1}\nu: \"{{ a != b }}\"\n",
    "é: ünïcode ☃\n",
]

UNUSUAL = [
    "a: 1\na: 2\n",  # duplicate key
    "base: &b {x: 1}\nother: *b\n",  # alias
    "base: &b {x: 1}\nother:\n  <<: *b\n",  # merge
    "<<: {a: 1}\n",  # merge without alias
    "a: !custom x\n",  # tag
    "z: ! 12\n",  # the non-specific tag: a string
    "w: ! '12'\n",
    "v: !<!> 12\n",
    "a: !!python/object:os.system x\n",
    "when: 2024-01-01\n",  # timestamp
    "a: .inf\n",  # not storable as JSON
    "a: !!int x\n",  # bad value
    "a: !!bool maybe\n",
    'a: "nul \\0"\n',
    '"a\\0": 1\n',
    "? [a, b]\n: c\n",  # complex key
    "a: 1\n---\nb: 2\n",  # two documents
    "",
    "~\n",
    "# only a comment\n",
    "a: [1, 2\n",  # syntax error
    "[" * (yamlsafe.MAX_DEPTH + 5) + "]" * (yamlsafe.MAX_DEPTH + 5),
]


@pytest.mark.parametrize("text", PLAIN)
def test_a_plain_document_is_composed_in_c_as_the_builder_composes_it(text: str) -> None:
    fast = fastcompose.compose_plain(text)
    assert fast is not None
    tree, problems = by_events(text)
    assert problems == [] and tree is not None
    assert shape(fast) == shape(tree)
    default, problems = yamlsafe.compose(text)
    assert default is not None and problems == []
    assert shape(default) == shape(fast)


@pytest.mark.parametrize("text", UNUSUAL)
def test_anything_that_may_need_a_diagnostic_is_left_to_the_builder(text: str) -> None:
    assert fastcompose.compose_plain(text) is None
    tree, problems = yamlsafe.compose(text)
    expected_tree, expected = by_events(text)
    assert problems == expected
    assert (tree is None) == (expected_tree is None)


_scalars = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["yes", "0o17", "1:30", "2001-12-14", "<<", "~", "", "0x_1"]),
)
_docs = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    _docs,
    st.booleans(),
    st.integers(0, 40),
    st.sampled_from(["", ":", "&a ", "*a", "- ", "\n  x: 1"]),
)
def test_whenever_the_c_path_answers_it_is_the_builders_answer(
    data: Any, flow: bool, cut: int, noise: str
) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True)
    text = text[:cut] + noise + text[cut:]
    fast = fastcompose.compose_plain(text)
    tree, problems = by_events(text)
    if fast is not None:
        assert problems == [] and tree is not None
        assert shape(fast) == shape(tree)
