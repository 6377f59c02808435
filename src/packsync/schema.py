"""The JSON Schema (draft 2020-12) of the workflow file format (SPEC §3).

For editors (yaml-language-server) and CI. It accepts every spelling the
loader accepts (tasks as list or map, legacy transitions, hyphenated keys,
vars as a list of one-key maps, flat parameters) and rejects unknown keys.
Graph rules (undefined targets, reachability...) are beyond JSON Schema:
`packsync validate` checks them.

Every object's keys are the validator's key tables (validate/structure.py),
and integer ranges and enums are read from the checks in those tables: a key
added to the validator without a schema entry fails at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packsync.pipeline.validate.structure import (
    DECISION_KEYS,
    RETRY_KEYS,
    TASK_KEYS,
    TOP_KEYS,
    TRANSITION_KEYS,
    Check,
    enum,
    int_range,
)

SCHEMA_ID = "https://attune.dev/schemas/packsync/workflow.json"
_TEMPLATE = {"type": "string", "pattern": r"\{\{"}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


def _spellings(props: dict[str, Any]) -> dict[str, Any]:
    """Each `snake_key` also as `snake-key` (the loader treats them alike)."""
    out = dict(props)
    for key, value in props.items():
        if "_" in key.strip("_"):
            out[key.replace("_", "-")] = value
    return out


def _obj(props: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": _spellings(props),
        "additionalProperties": False,
        **extra,
    }


def _keys(table: Mapping[str, Check], props: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An object with exactly the validator's keys (its key table), so the
    schema and `packsync validate` can never disagree on what a key is."""
    missing, unknown = set(table) - set(props), set(props) - set(table)
    if missing or unknown:
        raise AssertionError(f"schema and key table differ: {sorted(missing)} {sorted(unknown)}")
    return _obj({key: props[key] for key in table}, **extra)


def _int(check: Check) -> dict[str, Any]:
    """An integer literal, its range the validator's: Attune reads these fields as
    u32/usize (no templates)."""
    assert isinstance(check, int_range)
    number: dict[str, Any] = {"type": "integer", "minimum": check.lo}
    if check.hi is not None:
        number["maximum"] = check.hi
    return number


def _enum(check: Check, **extra: Any) -> dict[str, Any]:
    assert isinstance(check, enum)
    return {"enum": list(check.values), **extra}


def _opt(schema: dict[str, Any]) -> dict[str, Any]:
    """An Attune `Option` field: `null` means absent (the stored form writes it)."""
    return {"anyOf": [schema, {"type": "null"}]}


def _defs() -> dict[str, Any]:
    names = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
    publish = {
        "anyOf": [
            {"type": "object"},
            {"type": "array", "items": {"anyOf": [{"type": "object"}, {"type": "string"}]}},
        ]
    }
    one_key_maps = {
        "anyOf": [
            {"type": "object"},
            {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"type": "object", "minProperties": 1, "maxProperties": 1},
                        {"type": "string"},
                    ]
                },
            },
        ]
    }
    transition = _keys(
        TRANSITION_KEYS,
        {
            "when": _opt({"type": "string"}),
            "publish": _ref("publish"),
            "do": names,
            "__chart_meta__": {},
        },
    )
    task = _keys(
        TASK_KEYS,
        {
            "name": {"type": "string", "minLength": 1},
            "type": _enum(TASK_KEYS["type"], default="action"),
            "action": _opt(
                {
                    "type": "string",
                    "pattern": r"^([a-z][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.-]*|.*\{\{.*)$",
                }
            ),
            "input": {"type": "object"},
            "when": _opt({"type": "string"}),
            "with_items": _opt({"anyOf": [{"type": "array", "minItems": 1}, _TEMPLATE]}),
            # 0 is accepted only without with_items, as Attune does (validate says so)
            "batch_size": _opt(_int(TASK_KEYS["batch_size"])),
            "concurrency": _opt(_int(TASK_KEYS["concurrency"])),
            "retry": _opt(_ref("retry")),
            "timeout": _opt(_int(TASK_KEYS["timeout"])),
            "join": _opt({"anyOf": [{"const": "all"}, {"type": "integer", "minimum": 1}]}),
            "tasks": _opt(_ref("tasks")),
            "permission_set_refs": _opt(names),
            "permission_set_ref": _opt(names),
            "worker_selector": _opt({"anyOf": [{"type": "object"}, _TEMPLATE]}),
            "worker_tolerations": {},
            "worker_affinity": {},
            "next": {"type": "array", "items": transition},
            "on_success": _ref("legacyTransitions"),
            "on_failure": _ref("legacyTransitions"),
            "on_complete": _ref("legacyTransitions"),
            "on_timeout": _ref("legacyTransitions"),
            "decision": {"type": "array", "items": _ref("decision")},
            "publish": _ref("publish"),
            "__chart_meta__": {"description": "editor metadata, kept as opaque data"},
        },
    )
    return {
        "names": names,
        "publish": publish,
        "varsMap": one_key_maps,
        "transition": transition,
        "legacyTransitions": {
            "anyOf": [
                {"type": "string"},
                {"type": "array", "items": {"anyOf": [{"type": "string"}, transition]}},
            ]
        },
        "decision": _keys(
            DECISION_KEYS,
            {
                "when": {"type": "string"},
                "next": {"type": "string"},
                "default": {"type": ["string", "boolean"]},
            },
        ),
        "retry": _keys(
            RETRY_KEYS,
            {
                "count": _int(RETRY_KEYS["count"]),
                "delay": _int(RETRY_KEYS["delay"]),
                "backoff": _enum(RETRY_KEYS["backoff"]),
                "max_delay": _opt(_int(RETRY_KEYS["max_delay"])),
                "on_error": _opt({"type": "string"}),
            },
            required=["count", "delay"],
        ),
        "task": task,
        "tasks": {
            "anyOf": [
                {
                    "type": "array",
                    "minItems": 1,
                    "items": {"$ref": "#/$defs/task", "required": ["name"]},
                },
                {"type": "object", "minProperties": 1, "additionalProperties": _ref("task")},
            ]
        },
        "jsonSchemaOrFlat": {
            "type": "object",
            "description": (
                "JSON Schema object, or the StackStorm flat form {name: {type, required: true}}"
            ),
        },
    }


def workflow_json_schema() -> dict[str, Any]:
    """The schema as a fresh dict (callers may mutate it)."""
    top = _keys(
        TOP_KEYS,
        {
            "version": {
                "type": ["string", "number"],
                "description": "format version, e.g. '1.0' (quote it)",
            },
            "name": {"type": "string"},
            "label": {"type": "string"},
            "description": _opt({"type": "string"}),
            "ref": {"type": "string", "description": "<pack>.<file stem>, if given"},
            "parameters": _opt(_ref("jsonSchemaOrFlat")),
            "output": _opt(_ref("jsonSchemaOrFlat")),
            "vars": _ref("varsMap"),
            "tasks": _ref("tasks"),
            "output_map": _opt(_ref("varsMap")),
            "tags": {"type": "array", "items": {"type": "string"}},
            "enabled": {"type": "boolean", "default": True},
            "cancellation_policy": _enum(TOP_KEYS["cancellation_policy"]),
        },
        required=["version", "tasks"],
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Attune workflow (packsync)",
        **top,
        "$defs": _defs(),
    }
