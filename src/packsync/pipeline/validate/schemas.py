"""`parameters` and `output` must be valid JSON Schema (draft 2020-12 meta-schema).

The check runs on the normalised schema (flat StackStorm form already turned
into an object schema); errors are mapped back to the nearest source node.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator

from packsync.pipeline.normalise import is_json_schema
from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.yamlsafe import YMap, YNode, YSeq, to_plain

_META = Draft202012Validator(Draft202012Validator.META_SCHEMA)
MAX_ERRORS = 5


def locate(node: YNode, path: Iterable[Any]) -> YNode:
    """The deepest source node along a JSON path (stops where the path leaves the tree)."""
    for part in path:
        if isinstance(node, YMap) and isinstance(part, str) and part in node.items:
            node = node.items[part][1]
        elif isinstance(node, YSeq) and isinstance(part, int) and 0 <= part < len(node.items):
            node = node.items[part]
        else:
            break
    return node


def check_schema(key: str, source: YNode, schema: dict[str, Any], rep: Reporter) -> None:
    flat = isinstance(source, YMap) and not is_json_schema(to_plain(source))
    errors = sorted(_META.iter_errors(schema), key=lambda e: list(map(str, e.absolute_path)))
    for err in errors[:MAX_ERRORS]:
        path = list(err.absolute_path)
        if flat and path[:1] == ["properties"]:
            path = path[1:]
        rep.error(
            "invalid-json-schema",
            f"'{key}' is not a valid JSON Schema: {err.message} "
            f"(at {'/'.join(map(str, err.absolute_path)) or 'the top'})",
            locate(source, path),
        )
