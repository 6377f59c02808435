"""Safe YAML loading into a located node tree.

Why not `yaml.safe_load`: it forgets positions, lets the last duplicate key
win silently, expands aliases without bound and recurses once per nesting
level. Here the libyaml event stream (C parser when available, never the
Python object constructor) is folded into `YNode`s by an iterative builder
that keeps a 1-based line/column for every key and value, reports duplicate
keys, refuses non-standard tags, bounds nesting depth and the *expanded* size
of aliases (memoised per node, so a "billion laughs" file is refused after a
handful of events), and never recurses.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from packsync.core.storable import MAX_DEPTH

MAX_NODES = 1_000_000  # expanded size units: 1 per node + 1 per 16 characters of text
TEXT_UNIT = 16

_TOO_DEEP = f"nesting deeper than {MAX_DEPTH} levels: flatten the document"
_NESTING_LIMIT = "exceeded maximum nesting depth"  # libyaml's own bound (0.2.6+)
_Loader: Any = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
_RESOLVER: Any = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_T = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {
    None,
    "!",
    *(_T + t for t in ("str", "int", "float", "bool", "null", "seq", "map")),
}
# PostgreSQL jsonb cannot store U+0000, and UTF-8 cannot encode lone surrogates.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]{0,17})")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def child_path(path: str, key: str | int) -> str:
    """JSON path of a child: `$.tasks[0]['on-success']`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.match(key):
        return f"{path}.{key}"
    escaped = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


@dataclass(slots=True, eq=False)
class YNode:
    line: int
    column: int
    path: str
    end_line: int | None = None
    end_column: int | None = None
    size: int = 1


@dataclass(slots=True, eq=False)
class YScalar(YNode):
    value: str | int | float | bool | None = None
    text: str = ""  # the source text (keys and `version: 1.0` keep their spelling)
    is_merge: bool = False  # a plain `<<` key


@dataclass(slots=True, eq=False)
class YSeq(YNode):
    items: list[YNode] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class YMap(YNode):
    # key text -> (key node, value node); insertion order is the file's order
    items: dict[str, tuple[YScalar, YNode]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class YamlProblem:
    code: str
    message: str
    line: int
    column: int
    fatal: bool = True


class _Abort(Exception):
    def __init__(self, problem: YamlProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _pos(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def decode(content: bytes) -> tuple[str | None, YamlProblem | None]:
    """Bytes → text, or a located problem for binary / non-UTF-8 content."""
    nul = content.find(b"\x00")
    if nul >= 0:
        line, col = _byte_pos(content, nul)
        return None, YamlProblem(
            "binary-file",
            "file contains NUL bytes (binary or UTF-16?): save it as UTF-8 text",
            line,
            col,
        )
    if content.startswith(b"\xef\xbb\xbf"):
        content = content[3:]
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = _byte_pos(content, exc.start)
        return None, YamlProblem(
            "encoding",
            f"invalid UTF-8 byte 0x{content[exc.start]:02x}: save the file as UTF-8",
            line,
            col,
        )
    if not text.strip():
        return None, YamlProblem("empty-file", "file is empty: a mapping is expected", 1, 1)
    return text, None


def _byte_pos(content: bytes, index: int) -> tuple[int, int]:
    line_start = content.rfind(b"\n", 0, index) + 1
    col = len(content[line_start:index].decode("utf-8", "replace")) + 1
    return content.count(b"\n", 0, index) + 1, col


def _scalar(event: Any, path: str) -> YScalar:
    line, col = _pos(event.start_mark)
    eline, ecol = _pos(event.end_mark)
    text: str = event.value
    tag = event.tag
    if tag not in _ALLOWED_TAGS:
        raise _Abort(
            YamlProblem(
                "yaml-tag", f"tag {tag!r} is not allowed (safe YAML only): remove it", line, col
            )
        )
    if _UNSTORABLE.search(text):
        raise _Abort(
            YamlProblem(
                "yaml-value",
                "string holds a NUL (\\0) or a lone surrogate, which cannot be stored: remove it",
                line,
                col,
            )
        )
    if tag == "!":
        tag = _T + "str"
    if tag is None:
        tag = _RESOLVER.resolve(yaml.ScalarNode, text, event.implicit)
    value: str | int | float | bool | None
    try:
        if tag == _T + "null":
            value = None
        elif tag == _T + "bool":
            value = _CONSTRUCTOR.construct_yaml_bool(yaml.ScalarNode(tag, text))
        elif tag == _T + "int":
            if _DECIMAL.fullmatch(text):  # fast path; 0x/0o/010/1_000/1:30 go to PyYAML
                value = int(text)
            else:
                value = _CONSTRUCTOR.construct_yaml_int(yaml.ScalarNode(tag, text))
        elif tag == _T + "float":
            value = _CONSTRUCTOR.construct_yaml_float(yaml.ScalarNode(tag, text))
            if not math.isfinite(value):
                raise _Abort(
                    YamlProblem(
                        "yaml-value",
                        f"{text!r} is not a finite number and cannot be stored as JSON: quote it",
                        line,
                        col,
                    )
                )
        else:  # str, timestamp (kept as written: JSON has no dates), merge, value
            value = text
    except (ValueError, TypeError, KeyError, yaml.YAMLError):  # `!!bool maybe`: KeyError
        raise _Abort(
            YamlProblem("yaml-value", f"{text!r} is not a valid {tag[len(_T) :]}", line, col)
        ) from None
    return YScalar(line, col, path, eline, ecol, 1, value, text, tag == _T + "merge")


def key_text(node: YScalar) -> str:
    return node.value if isinstance(node.value, str) else node.text


class _Frame:
    __slots__ = ("anchor", "key", "node", "pairs")

    def __init__(self, node: YNode, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.key: YScalar | None = None
        self.pairs: list[tuple[YScalar, YNode]] = []


class _Builder:
    def __init__(self) -> None:
        self.stack: list[_Frame] = []
        self.anchors: dict[str, YNode] = {}
        self.open_anchors: set[str] = set()
        self.total = 0
        self.root: YNode | None = None
        self.problems: list[YamlProblem] = []

    def path(self) -> str:
        if not self.stack:
            return "$"
        top = self.stack[-1]
        if isinstance(top.node, YSeq):
            return child_path(top.node.path, len(top.node.items))
        if top.key is not None:
            return child_path(top.node.path, key_text(top.key))
        return top.node.path

    def count(self, n: int, event: Any) -> None:
        self.total += n
        if self.total > MAX_NODES:
            line, col = _pos(event.start_mark)
            raise _Abort(
                YamlProblem(
                    "yaml-alias-limit",
                    f"document expands to more than {MAX_NODES:,} nodes (alias bomb?): "
                    "reduce aliases or split the file",
                    line,
                    col,
                )
            )

    def attach(self, node: YNode) -> None:
        if not self.stack:
            self.root = node
            return
        top = self.stack[-1]
        if isinstance(top.node, YSeq):
            top.node.items.append(node)
        elif top.key is None:
            if not isinstance(node, YScalar):
                raise _Abort(
                    YamlProblem(
                        "yaml-complex-key",
                        "mapping keys must be plain scalars, not collections",
                        node.line,
                        node.column,
                    )
                )
            top.key = node
        else:
            top.pairs.append((top.key, node))
            top.key = None

    def start(self, node: YNode, event: Any) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise _Abort(
                YamlProblem(
                    "yaml-too-deep",
                    _TOO_DEEP,
                    node.line,
                    node.column,
                )
            )
        self.count(1, event)
        anchor = event.anchor
        if anchor is not None:
            self.anchors[anchor] = node
            self.open_anchors.add(anchor)
        self.stack.append(_Frame(node, anchor))

    def end(self, event: Any) -> None:
        frame = self.stack.pop()
        node = frame.node
        node.end_line, node.end_column = _pos(event.end_mark)
        if isinstance(node, YSeq):
            node.size = 1 + sum(item.size for item in node.items)
        elif isinstance(node, YMap):
            self._close_map(frame, node)
        if frame.anchor is not None:
            self.open_anchors.discard(frame.anchor)
        self.attach(node)

    def _close_map(self, frame: _Frame, node: YMap) -> None:
        size = 1
        merges: list[YNode] = []
        for key, value in frame.pairs:
            size += key.size + value.size
            if key.is_merge:
                merges.append(value)
                continue
            name = key_text(key)
            if name in node.items:
                first = node.items[name][0]
                self.problems.append(
                    YamlProblem(
                        "duplicate-key",
                        f"duplicate key {name!r} (first defined at line {first.line}): "
                        "remove or rename one",
                        key.line,
                        key.column,
                        fatal=False,
                    )
                )
                continue
            node.items[name] = (key, value)
        for merge in merges:
            sources = merge.items if isinstance(merge, YSeq) else [merge]
            for src in sources:
                if not isinstance(src, YMap):
                    self.problems.append(
                        YamlProblem(
                            "yaml-value",
                            "a merge key '<<' needs a mapping or a list of mappings",
                            src.line,
                            src.column,
                            fatal=False,
                        )
                    )
                    continue
                for name, pair in src.items.items():
                    node.items.setdefault(name, pair)
        node.size = size


def compose(text: str, loader: Any = None) -> tuple[YNode | None, list[YamlProblem]]:
    """Text → located tree. Fatal problems leave the tree None.

    A plain document (no problem to report) is composed by libyaml's C composer
    (`fastcompose.py`); anything else takes the event builder below, which is
    the one place that decides every problem and its position."""
    if loader is None:
        from packsync.pipeline.fastcompose import compose_plain

        root = compose_plain(text)
        if root is not None:
            return root, []
    builder = _Builder()
    documents = 0
    try:
        event: Any
        for event in yaml.parse(text, Loader=loader or _Loader):
            kind = type(event)
            if kind is yaml.ScalarEvent:
                node = _scalar(event, builder.path())
                node.size = 1 + len(node.text) // TEXT_UNIT
                builder.count(node.size, event)
                if event.anchor is not None:
                    builder.anchors[event.anchor] = node
                builder.attach(node)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                _check_tag(event)
                line, col = _pos(event.start_mark)
                cls = YMap if kind is yaml.MappingStartEvent else YSeq
                builder.start(cls(line, col, builder.path()), event)
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                builder.end(event)
            elif kind is yaml.AliasEvent:
                builder.attach(_alias(builder, event))
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    line, col = _pos(event.start_mark)
                    raise _Abort(
                        YamlProblem(
                            "yaml-multiple-documents",
                            "only one YAML document per file: remove the second '---'",
                            line,
                            col,
                        )
                    )
    except _Abort as abort:
        return None, [*builder.problems, abort.problem]
    except yaml.MarkedYAMLError as exc:
        if _NESTING_LIMIT in (exc.problem or "") and exc.problem_mark is not None:
            return _too_deep_before(text, exc.problem_mark)
        mark = exc.problem_mark or exc.context_mark
        at_end = exc.problem_mark is not None and exc.problem_mark.index >= len(text.rstrip())
        if exc.context_mark is not None and (at_end or "end of stream" in (exc.problem or "")):
            mark = exc.context_mark  # "unexpected end": point at what was left open
        line, col = _pos(mark)
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, [YamlProblem("yaml-syntax", f"YAML syntax error: {what}", line, col)]
    except yaml.YAMLError as exc:  # unmarked reader errors (control characters...)
        return None, [YamlProblem("yaml-syntax", f"YAML error: {exc}", 1, 1)]
    if builder.root is None or (isinstance(builder.root, YScalar) and builder.root.value is None):
        return None, [*builder.problems, YamlProblem("empty-file", "file has no content", 1, 1)]
    return builder.root, builder.problems


def _too_deep_before(text: str, mark: Any) -> tuple[None, list[YamlProblem]]:
    """libyaml >= 0.2.6 stops at its own nesting limit, often before the first event.

    That limit (1000) is far above MAX_DEPTH, so the text before libyaml's mark
    holds the place where MAX_DEPTH was crossed: the pure parser finds it there,
    giving the same answer on every libyaml version.
    """
    root, problems = compose(text[: mark.index], yaml.SafeLoader)
    if root is None and problems and problems[-1].code == "yaml-too-deep":
        return None, problems
    line, col = _pos(mark)
    return None, [YamlProblem("yaml-too-deep", _TOO_DEEP, line, col)]


def _check_tag(event: Any) -> None:
    if event.tag not in _ALLOWED_TAGS:
        line, col = _pos(event.start_mark)
        raise _Abort(
            YamlProblem(
                "yaml-tag",
                f"tag {event.tag!r} is not allowed (safe YAML only): remove it",
                line,
                col,
            )
        )


def _alias(builder: _Builder, event: Any) -> YNode:
    line, col = _pos(event.start_mark)
    if event.anchor in builder.open_anchors:
        raise _Abort(
            YamlProblem(
                "yaml-recursive-alias",
                f"alias *{event.anchor} refers to a node that contains it (recursive data "
                "cannot be stored as JSON)",
                line,
                col,
            )
        )
    target = builder.anchors.get(event.anchor)
    if target is None:
        raise _Abort(
            YamlProblem(
                "yaml-syntax",
                f"undefined alias *{event.anchor}: define &{event.anchor} first",
                line,
                col,
            )
        )
    builder.count(target.size, event)
    return target


def from_plain(data: object, path: str = "$", depth: int = 0) -> YNode:
    """Already-parsed JSON data (REST API) → a tree with unknown positions (0:0)."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{path}: nesting deeper than {MAX_DEPTH} levels")
    if isinstance(data, dict):
        node = YMap(0, 0, path)
        for k, v in data.items():
            if not isinstance(k, str):
                raise ValueError(f"{path}: object keys must be strings")
            if _UNSTORABLE.search(k):
                raise ValueError(f"{path}: key holds a NUL or a lone surrogate")
            key = YScalar(0, 0, path, value=k, text=k)
            node.items[k] = (key, from_plain(v, child_path(path, k), depth + 1))
        return node
    if isinstance(data, list):
        seq = YSeq(0, 0, path)
        seq.items = [from_plain(v, child_path(path, i), depth + 1) for i, v in enumerate(data)]
        return seq
    if isinstance(data, str) and _UNSTORABLE.search(data):
        raise ValueError(f"{path}: string holds a NUL or a lone surrogate")
    if data is None or isinstance(data, str | bool | int):
        return YScalar(0, 0, path, value=data, text="" if data is None else str(data))
    if isinstance(data, float) and math.isfinite(data):
        return YScalar(0, 0, path, value=data, text=repr(data))
    raise ValueError(f"{path}: {type(data).__name__} is not JSON data")


def to_plain(node: YNode) -> Any:
    """Located tree → plain JSON data (fresh copies: shared aliases are unshared)."""
    if isinstance(node, YMap):
        return {k: to_plain(v) for k, (_, v) in node.items.items()}
    if isinstance(node, YSeq):
        return [to_plain(v) for v in node.items]
    assert isinstance(node, YScalar)
    return node.value
