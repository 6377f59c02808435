"""The located tree of a plain YAML document, composed by libyaml in C.

Folding libyaml's events into nodes in Python was most of the parse time.
PyYAML's C composer builds nodes with their marks; this module turns them into
the same `YNode` tree `yamlsafe.compose` builds, and gives up (returns None)
on anything that could need a diagnostic: a syntax or composer error, an
alias or anchor reuse (a shared node), a non-specific `!` tag, a duplicate or
merge key, a collection as a key, a tag other than the plain ones, a value
that does not convert or cannot be stored, a null document, deep nesting, a
huge document. Those take the event builder, so every problem keeps one
author and one position.

Only with libyaml >= 0.2.6, whose parser bounds nesting itself: the C
composer recurses once per level.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from packsync.pipeline.yamlsafe import (
    _CONSTRUCTOR,
    _DECIMAL,
    _T,
    _UNSTORABLE,
    MAX_DEPTH,
    MAX_NODES,
    TEXT_UNIT,
    YMap,
    YNode,
    YScalar,
    YSeq,
    child_path,
)

_STR, _INT, _FLOAT, _BOOL, _NULL = (_T + t for t in ("str", "int", "float", "bool", "null"))
_SEQ, _MAP = _T + "seq", _T + "map"
# The non-specific tag `!` (`a: ! 12` is the string "12"): the C composer
# resolves such a scalar as if it were untagged, and its node does not tell.
_BARE_BANG = re.compile(r"(?:^|(?<=[\s\[\]{},]))!(?=[\s\[\]{},]|$)", re.MULTILINE)


def _libyaml_bounds_nesting() -> bool:
    if not yaml.__with_libyaml__:
        return False
    import yaml._yaml as cyaml  # type: ignore[import-not-found,unused-ignore]

    return tuple(cyaml.get_version()) >= (0, 2, 6)


ENABLED = _libyaml_bounds_nesting()


class _Unusual(Exception):
    """The document needs the event builder's judgement."""


def compose_plain(text: str) -> YNode | None:
    """The tree of a plain document, or None: use `yamlsafe.compose`'s builder."""
    if not ENABLED or _BARE_BANG.search(text) or "!<" in text:
        return None
    loader = yaml.CSafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    if node is None:
        return None
    builder = _Converter()
    try:
        root = builder.convert(node, "$", 0)
    except _Unusual:
        return None
    if isinstance(root, YScalar) and root.value is None:
        return None  # "file has no content"
    return root


class _Converter:
    __slots__ = ("seen", "total")

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.total = 0

    def convert(self, node: Any, path: str, depth: int) -> YNode:
        key = id(node)
        if key in self.seen:
            raise _Unusual  # an alias
        self.seen.add(key)
        start, end = node.start_mark, node.end_mark
        line, col, eline, ecol = start.line + 1, start.column + 1, end.line + 1, end.column + 1
        out: YNode
        if isinstance(node, yaml.ScalarNode):
            out = _scalar(node.tag, node.value, line, col, path, eline, ecol)
            self.total += out.size
        elif depth >= MAX_DEPTH - 2:
            raise _Unusual
        elif isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise _Unusual
            seq = YSeq(line, col, path, eline, ecol)
            items = seq.items
            size = 1
            for i, child in enumerate(node.value):
                item = self.convert(child, child_path(path, i), depth + 1)
                size += item.size
                items.append(item)
            seq.size = size
            out = seq
            self.total += 1
        elif isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                raise _Unusual
            ymap = YMap(line, col, path, eline, ecol)
            pairs = ymap.items
            size = 1
            for knode, vnode in node.value:
                if not isinstance(knode, yaml.ScalarNode):
                    raise _Unusual
                k = self.convert(knode, path, depth + 1)
                assert isinstance(k, YScalar)
                name = k.value if isinstance(k.value, str) else k.text
                if name in pairs:
                    raise _Unusual  # a duplicate key
                v = self.convert(vnode, child_path(path, name), depth + 1)
                size += k.size + v.size
                pairs[name] = (k, v)
            ymap.size = size
            out = ymap
            self.total += 1
        else:  # pragma: no cover - PyYAML has no other node kind
            raise _Unusual
        if self.total > MAX_NODES // 2:
            raise _Unusual
        return out


def _scalar(tag: str, text: str, line: int, col: int, path: str, eline: int, ecol: int) -> YScalar:
    if _UNSTORABLE.search(text):
        raise _Unusual
    value: str | int | float | bool | None
    if tag == _STR:
        value = text
    elif tag == _INT and _DECIMAL.fullmatch(text):
        value = int(text)
    elif tag == _NULL:
        value = None
    elif tag in (_INT, _BOOL, _FLOAT):
        try:
            value = _CONSTRUCT[tag](yaml.ScalarNode(tag, text))
        except Exception:  # the builder reports it (or fails the same way)
            raise _Unusual from None
        if isinstance(value, float) and not math.isfinite(value):
            raise _Unusual
    else:  # timestamps, merge keys, explicit or unknown tags
        raise _Unusual
    return YScalar(line, col, path, eline, ecol, 1 + len(text) // TEXT_UNIT, value, text, False)


_CONSTRUCT: dict[str, Any] = {
    _INT: _CONSTRUCTOR.construct_yaml_int,
    _BOOL: _CONSTRUCTOR.construct_yaml_bool,
    _FLOAT: _CONSTRUCTOR.construct_yaml_float,
}
