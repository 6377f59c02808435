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

from packsync.core.storable import MAX_DEPTH
from packsync.pipeline.yamlsafe import (
    _CONSTRUCTOR,
    _DECIMAL,
    _T,
    _UNSTORABLE,
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


_CLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _MemoLoader(_CLoader):  # type: ignore[misc]
    """The C composer, with plain scalars' implicit tags remembered: the same
    few hundred keys and values recur in every workflow file."""

    _tags: dict[tuple[str, tuple[bool, bool]], str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        resolve: Any = super().resolve
        if kind is not yaml.ScalarNode:
            return resolve(kind, value, implicit)
        key = (value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = resolve(kind, value, implicit)
            if len(self._tags) < 4096:
                self._tags[key] = tag
        return tag


class _Unusual(Exception):
    """The document needs the event builder's judgement."""


def compose_plain(text: str) -> YNode | None:
    """The tree of a plain document, or None: use `yamlsafe.compose`'s builder."""
    if not ENABLED or _BARE_BANG.search(text) or "!<" in text:
        return None
    loader = _MemoLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    if node is None:
        return None
    builder = _Converter(track_aliases="&" in text)  # no `&`: no anchor, no alias
    try:
        root = builder.convert(node, "$", 0)
    except _Unusual:
        return None
    if isinstance(root, YScalar) and root.value is None:
        return None  # "file has no content"
    return root


_ScalarNode, _SequenceNode, _MappingNode = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
_SUFFIXES: dict[str, str] = {}  # key → its JSON path step (`.name`, `['on-success']`)


def _step(name: str) -> str:
    step = _SUFFIXES.get(name)
    if step is None:
        step = child_path("", name)
        if len(_SUFFIXES) < 4096:
            _SUFFIXES[name] = step
    return step


class _Converter:
    __slots__ = ("seen", "total", "track")

    def __init__(self, *, track_aliases: bool) -> None:
        self.seen: set[int] = set()
        self.total = 0
        self.track = track_aliases

    def convert(self, node: Any, path: str, depth: int) -> YNode:
        if self.track:
            key = id(node)
            if key in self.seen:
                raise _Unusual  # an alias
            self.seen.add(key)
        start, end = node.start_mark, node.end_mark
        kind = type(node)
        if kind is _ScalarNode:
            text = node.value
            if _UNSTORABLE.search(text):
                raise _Unusual
            tag = node.tag
            value = text if tag == _STR else _value(tag, text)
            size = 1 + len(text) // TEXT_UNIT
            self.total += size
            return YScalar(
                start.line + 1,
                start.column + 1,
                path,
                end.line + 1,
                end.column + 1,
                size,
                value,
                text,
                False,
            )
        if depth >= MAX_DEPTH - 2:
            raise _Unusual
        out: YSeq | YMap
        size = 1
        if kind is _SequenceNode and node.tag == _SEQ:
            out = YSeq(start.line + 1, start.column + 1, path, end.line + 1, end.column + 1)
            items = out.items
            for i, child in enumerate(node.value):
                item = self.convert(child, f"{path}[{i}]", depth + 1)
                size += item.size
                items.append(item)
        elif kind is _MappingNode and node.tag == _MAP:
            out = YMap(start.line + 1, start.column + 1, path, end.line + 1, end.column + 1)
            pairs = out.items
            for knode, vnode in node.value:
                if type(knode) is not _ScalarNode:
                    raise _Unusual
                k = self.convert(knode, path, depth + 1)
                assert isinstance(k, YScalar)
                name = k.value if isinstance(k.value, str) else k.text
                if name in pairs:
                    raise _Unusual  # a duplicate key
                v = self.convert(vnode, path + _step(name), depth + 1)
                size += k.size + v.size
                pairs[name] = (k, v)
        else:  # a tagged collection
            raise _Unusual
        out.size = size
        self.total += 1
        if self.total > MAX_NODES // 2:
            raise _Unusual
        return out


def _value(tag: str, text: str) -> int | float | bool | None:
    """A non-string scalar's value as the event builder converts it."""
    if tag == _INT and _DECIMAL.fullmatch(text):
        return int(text)
    if tag == _NULL:
        return None
    convert = _CONSTRUCT.get(tag)
    if convert is None:  # timestamps, merge keys, explicit or unknown tags
        raise _Unusual
    try:
        value = convert(yaml.ScalarNode(tag, text))
    except Exception:  # the builder reports it (or fails the same way)
        raise _Unusual from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _Unusual
    return value  # type: ignore[no-any-return]


_CONSTRUCT: dict[str, Any] = {
    _INT: _CONSTRUCTOR.construct_yaml_int,
    _BOOL: _CONSTRUCTOR.construct_yaml_bool,
    _FLOAT: _CONSTRUCTOR.construct_yaml_float,
}
