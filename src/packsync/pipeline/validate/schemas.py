"""`parameters` and `output` must be valid JSON Schema (draft 2020-12 meta-schema).

The check runs on the normalised schema (flat StackStorm form already turned
into an object schema); errors are mapped back to the nearest source node.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator

from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.yamlsafe import YMap, YNode, YSeq, to_plain

_META = Draft202012Validator(Draft202012Validator.META_SCHEMA)
MAX_ERRORS = 5

SCHEMA_KEYWORDS = frozenset(
    {
        "$schema", "$id", "$defs", "definitions", "type", "properties", "required", "title",
        "description", "additionalProperties", "patternProperties", "default", "examples",
        "$comment", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentRequired",
        "minProperties", "maxProperties", "propertyNames", "unevaluatedProperties", "$ref",
    }
)  # fmt: skip


def is_json_schema(data: dict[str, Any]) -> bool:
    """True for a JSON Schema object, False for the StackStorm flat form."""
    return data.get("type") == "object" or (
        isinstance(data.get("properties"), dict) and set(data) <= SCHEMA_KEYWORDS
    )


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


_TYPES = frozenset({"string", "integer", "number", "boolean", "object", "array", "null"})
_ANY = frozenset({"default", "const", "secret", "immutable", "position"})
_STRINGS = frozenset({"title", "description", "$comment", "pattern", "format"})
_NUMBERS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})
_COUNTS = frozenset(
    {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}
)
_BOOLS = frozenset({"uniqueItems", "deprecated", "readOnly", "writeOnly"})
# Every keyword the draft 2020-12 meta-schema constrains; others are free-form.
_VOCABULARY = frozenset(
    {
        "$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$vocabulary",
        "$comment", "$defs", "definitions", "dependencies", "allOf", "anyOf", "oneOf", "not",
        "if", "then", "else", "dependentSchemas", "prefixItems", "items", "contains",
        "properties", "patternProperties", "additionalProperties", "propertyNames",
        "unevaluatedItems", "unevaluatedProperties", "type", "const", "enum", "multipleOf",
        "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength",
        "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains",
        "maxProperties", "minProperties", "required", "dependentRequired", "title",
        "description", "default", "deprecated", "readOnly", "writeOnly", "examples", "format",
        "contentEncoding", "contentMediaType", "contentSchema",
    }
)  # fmt: skip


def _plainly_valid(schema: Any, depth: int = 0) -> bool:
    """True when `schema` only uses simple keywords with well-typed values.

    A fast path: the meta-schema check costs milliseconds per schema, and
    almost every workflow uses this subset. False means "not sure", never
    "invalid": the full meta-schema check then decides.
    """
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict) or depth > 20:
        return False
    for key, value in schema.items():
        if key in _ANY:
            continue
        if key in _STRINGS:
            ok = isinstance(value, str)
        elif key in _NUMBERS:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif key in _COUNTS:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        elif key in _BOOLS:
            ok = isinstance(value, bool)
        elif key == "type":
            types = value if isinstance(value, list) else [value]
            ok = bool(types) and all(isinstance(t, str) and t in _TYPES for t in types)
            ok = ok and len(set(types)) == len(types)
        elif key in ("enum", "examples"):
            ok = isinstance(value, list)
        elif key == "required":
            ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
            ok = ok and len(set(value)) == len(value)
        elif key == "properties":
            ok = isinstance(value, dict) and all(
                _plainly_valid(v, depth + 1) for v in value.values()
            )
        elif key in ("items", "additionalProperties"):
            ok = _plainly_valid(value, depth + 1)
        else:
            ok = key not in _VOCABULARY
        if not ok:
            return False
    return True


def check_schema(key: str, source: YNode, schema: dict[str, Any], rep: Reporter) -> None:
    if "type" not in schema:
        rep.error(
            "schema-type",
            f"'{key}' has no 'type' (Attune refuses the workflow): add 'type: object'",
            source,
        )
    if _plainly_valid(schema):
        return
    flat = isinstance(source, YMap) and not is_json_schema(to_plain(source))
    values = [n for _, n in source.items.values()] if flat and isinstance(source, YMap) else []
    if any(not isinstance(n, YMap) for n in values):
        rep.error(
            "invalid-json-schema",
            f"'{key}' holds values, not a JSON Schema"
            + (": the workflow's result goes under 'output_map'" if key == "output" else ""),
            source,
        )
        return
    errors = sorted(_META.iter_errors(schema), key=lambda e: list(map(str, e.absolute_path)))
    places: set[int] = set()
    for err in errors:
        path = list(err.absolute_path)
        if flat and path[:1] == ["properties"]:
            path = path[1:]
        node = locate(source, path)
        if id(node) in places:  # one schema mistake often fails several meta-schema rules
            continue
        places.add(id(node))
        if len(places) > MAX_ERRORS:
            break
        rep.error(
            "invalid-json-schema",
            f"'{key}' is not a valid JSON Schema: {err.message} "
            f"(at {'/'.join(map(str, err.absolute_path)) or 'the top'})",
            node,
        )
