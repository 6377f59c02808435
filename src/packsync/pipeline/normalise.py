"""Every accepted spelling of a workflow → the one normalised `definition`.

The result is plain JSON data (it is stored as jsonb). Rules (docs/workflow-format.md):
tasks become a list; hyphenated keys become snake case; `vars`/`publish`/
`output_map` lists of one-key maps become maps; flat `parameters` become a JSON
Schema object; `permission_set_ref` becomes `permission_set_refs`; legacy
transitions become `next: [{when, publish, do}]` where `when` encodes the
outcome: on_success → `{{ succeeded() }}`, on_failure → `{{ failed() }}`,
on_complete → `{{ completed() }}`, on_timeout → `{{ timed_out() }}`; a
conditional item `{when: c, do: x}` under on_success → `{{ succeeded() and (c) }}`.
Side tables (`TaskInfo`) keep the source nodes so later checks can point at them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.validate.structure import (
    CHART_META,
    RETRY_KEYS,
    TASK_KEYS,
    TOP_KEYS,
    TRANSITION_KEYS,
    canonical,
)
from packsync.pipeline.yamlsafe import YMap, YNode, YScalar, YSeq, to_plain

OUTCOMES = {
    "on_success": "succeeded()",
    "on_failure": "failed()",
    "on_timeout": "timed_out()",
    "on_complete": "completed()",
}
_WHOLE_EXPR = re.compile(r"\s*\{\{(.*)\}\}\s*", re.S)
SCHEMA_KEYWORDS = frozenset(
    {
        "$schema", "$id", "$defs", "definitions", "type", "properties", "required", "title",
        "description", "additionalProperties", "patternProperties", "default", "examples",
        "$comment", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentRequired",
        "minProperties", "maxProperties", "propertyNames", "unevaluatedProperties", "$ref",
    }
)  # fmt: skip


@dataclass(slots=True, eq=False)
class TaskInfo:
    name: str
    node: YMap
    name_node: YNode
    keys: dict[str, YNode]
    type: str = "action"
    targets: list[tuple[str, YNode]] = field(default_factory=list)
    published: list[tuple[str, YNode]] = field(default_factory=list)
    subtasks: list[TaskInfo] = field(default_factory=list)


@dataclass(slots=True)
class Normalised:
    definition: dict[str, Any]
    tasks: list[TaskInfo]
    # (name, node, kind) for parameters, vars and published names
    variables: list[tuple[str, YNode, str]] = field(default_factory=list)


def good_keys(node: YMap, allowed: Any) -> dict[str, YNode]:
    """Canonical key → value for known keys whose value has the right type (silent)."""
    out: dict[str, YNode] = {}
    for key, (_, value) in node.items.items():
        canon = canonical(key)
        if canon in allowed and canon not in out and allowed[canon](value) is None:
            out[canon] = value
    return out


def one_key_maps(
    node: YNode, rep: Reporter, what: str, several: bool = False
) -> list[tuple[str, YNode, YNode]]:
    """A map, or a list of one-key maps (or bare names) → (name, key node, value node).
    `several`: list items may hold several keys (Attune's publish directives do)."""
    if isinstance(node, YMap):
        return [(k, kn, v) for k, (kn, v) in node.items.items()]
    out: list[tuple[str, YNode, YNode]] = []
    if isinstance(node, YSeq):
        for item in node.items:
            if isinstance(item, YMap) and (len(item.items) == 1 or several):
                out.extend((k, kn, v) for k, (kn, v) in item.items.items())
            elif isinstance(item, YScalar) and isinstance(item.value, str):
                out.append((item.value, item, YScalar(item.line, item.column, item.path)))
            else:
                rep.error("wrong-type", f"each {what} item must be a one-key mapping", item)
    return out


def named_map(
    node: YNode, rep: Reporter, what: str, kind: str, sink: list[Any], several: bool = False
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, key_node, value in one_key_maps(node, rep, what, several):
        if name in out:
            rep.error("duplicate-variable", f"{what} {name!r} is defined twice", key_node)
            continue
        out[name] = to_plain(value)
        sink.append((name, key_node, kind))
    return out


def is_json_schema(data: dict[str, Any]) -> bool:
    """True for a JSON Schema object, False for the StackStorm flat form."""
    return data.get("type") == "object" or (
        isinstance(data.get("properties"), dict) and set(data) <= SCHEMA_KEYWORDS
    )


def to_json_schema(data: dict[str, Any]) -> dict[str, Any]:
    """StackStorm flat `{name: {type, required: true}}` or JSON Schema → JSON Schema.

    A boolean `required` inside a property moves to the object's `required` list.
    """
    is_schema = is_json_schema(data)
    schema: dict[str, Any] = dict(data) if is_schema else {"type": "object"}
    props = data.get("properties") if is_schema else data
    if not isinstance(props, dict):
        return schema
    required: list[Any] = list(schema.get("required") or []) if is_schema else []
    properties: dict[str, Any] = {}
    for name, spec in props.items():
        if isinstance(spec, dict) and isinstance(spec.get("required"), bool):
            spec = dict(spec)
            if spec.pop("required") and name not in required:
                required.append(name)
        properties[name] = spec
    schema["properties"] = properties
    if required or "required" in schema:
        schema["required"] = required
    return schema


def normalise_workflow(root: YMap, rep: Reporter) -> Normalised:
    keys = good_keys(root, TOP_KEYS)
    variables: list[tuple[str, YNode, str]] = []
    definition: dict[str, Any] = {}
    version = keys.get("version")
    value = version.value if isinstance(version, YScalar) else None
    if isinstance(version, YScalar) and isinstance(value, str | int | float):
        if isinstance(value, str):
            definition["version"] = value
        elif not isinstance(value, bool):  # numbers keep their spelling: 1.10 → "1.10"
            definition["version"] = version.text
    for simple in ("name", "label", "description", "ref", "tags", "enabled", "cancellation_policy"):
        if simple in keys:
            definition[simple] = to_plain(keys[simple])
    for schema_key in ("parameters", "output"):
        node = keys.get(schema_key)
        if isinstance(node, YMap):
            definition[schema_key] = to_json_schema(to_plain(node))
    params = keys.get("parameters")
    if isinstance(params, YMap):
        src: YNode = params
        if is_json_schema(to_plain(params)) and "properties" in params.items:
            src = params.items["properties"][1]
        if isinstance(src, YMap):
            variables.extend((n, kn, "parameter") for n, (kn, _) in src.items.items())
    if "vars" in keys:
        definition["vars"] = named_map(keys["vars"], rep, "variable", "var", variables)
    if "output_map" in keys:
        definition["output_map"] = named_map(keys["output_map"], rep, "output_map entry", "out", [])
    tasks = normalise_tasks(keys.get("tasks"), rep)
    definition["tasks"] = [t for t, _ in tasks]
    infos = [i for _, i in tasks]
    for info in _walk(infos):
        variables.extend((n, node, "publish") for n, node in info.published)
    return Normalised(definition, infos, variables)


def _walk(infos: list[TaskInfo]) -> list[TaskInfo]:
    out: list[TaskInfo] = []
    for info in infos:
        out.append(info)
        out.extend(_walk(info.subtasks))
    return out


def normalise_tasks(node: YNode | None, rep: Reporter) -> list[tuple[dict[str, Any], TaskInfo]]:
    entries: list[tuple[YScalar | None, YNode]] = []
    if isinstance(node, YMap):
        entries = [(k, v) for k, v in node.items.values()]
    elif isinstance(node, YSeq):
        entries = [(None, v) for v in node.items]
    out = []
    for key_node, task in entries:
        if isinstance(task, YMap):
            out.append(normalise_task(task, key_node, rep))
    return out


def normalise_task(
    task: YMap, key_node: YScalar | None, rep: Reporter
) -> tuple[dict[str, Any], TaskInfo]:
    keys = good_keys(task, TASK_KEYS)
    name_value = keys.get("name")
    name_node: YNode = name_value or key_node or task
    name = str(name_value.value) if isinstance(name_value, YScalar) else ""
    if key_node is not None:
        key_name = key_node.value if isinstance(key_node.value, str) else key_node.text
        if name_value is not None and name != key_name:
            rep.error(
                "name-mismatch",
                f"task key {key_name!r} and its name {name!r} differ: "
                "drop 'name' or make them equal",
                name_value,
            )
        name = key_name
    type_node = keys.get("type")
    ttype = str(type_node.value) if isinstance(type_node, YScalar) else "action"
    info = TaskInfo(name, task, name_node, keys, ttype)
    out: dict[str, Any] = {"name": name, "type": ttype}
    skip = {"name", "type", "next", "publish", "decision", "tasks", *OUTCOMES}
    skip |= {"permission_set_ref", "permission_set_refs", "retry"}
    for canon, value in keys.items():
        if canon not in skip:
            out[canon] = to_plain(value)
    retry = keys.get("retry")
    if isinstance(retry, YMap):
        out["retry"] = {k: to_plain(v) for k, v in good_keys(retry, RETRY_KEYS).items()}
    perms = [keys[k] for k in ("permission_set_refs", "permission_set_ref") if k in keys]
    if len(perms) == 2:
        rep.error("duplicate-key", "use either permission_set_refs or permission_set_ref", perms[1])
    if perms:
        value = to_plain(perms[0])
        out["permission_set_refs"] = [value] if isinstance(value, str) else value
    if "tasks" in keys:
        subs = normalise_tasks(keys["tasks"], rep)
        out["tasks"] = [t for t, _ in subs]
        info.subtasks = [i for _, i in subs]
    out["next"] = build_next(info, rep)
    return out, info


def _expr(cond: YNode, rep: Reporter) -> str | None:
    text = str(cond.value) if isinstance(cond, YScalar) else ""
    match = _WHOLE_EXPR.fullmatch(text)
    if match and "{{" not in match.group(1) and "}}" not in match.group(1):
        return match.group(1).strip()
    if "{{" not in text and "{%" not in text and "<%" not in text and text.strip():
        return text.strip()
    rep.error(
        "legacy-when",
        "a legacy condition must be one '{{ expression }}' to be combined with the task outcome",
        cond,
    )
    return None


def _when(base: str, cond: YNode | None, rep: Reporter) -> str:
    if cond is None:
        return "{{ " + base + " }}"
    expr = _expr(cond, rep)
    return "{{ " + base + (f" and ({expr})" if expr else "") + " }}"


def _targets(node: YNode | None, info: TaskInfo) -> list[str]:
    names: list[str] = []
    items = node.items if isinstance(node, YSeq) else [node] if node is not None else []
    for item in items:
        if isinstance(item, YScalar) and isinstance(item.value, str):
            for part in item.value.split(","):
                if part.strip():
                    names.append(part.strip())
                    info.targets.append((part.strip(), item))
    return names


def _publish(node: YNode | None, info: TaskInfo, rep: Reporter) -> dict[str, Any]:
    if node is None:
        return {}
    sink: list[tuple[str, YNode, str]] = []
    out = named_map(node, rep, "published variable", "publish", sink, several=True)
    info.published.extend((n, k) for n, k, _ in sink)
    return out


def _transition(item: YMap, when: str | None, info: TaskInfo, rep: Reporter) -> dict[str, Any]:
    keys = good_keys(item, TRANSITION_KEYS)
    entry: dict[str, Any] = {
        "when": when,
        "publish": _publish(keys.get("publish"), info, rep),
        "do": _targets(keys.get("do"), info),
    }
    if CHART_META in keys:
        entry[CHART_META] = to_plain(keys[CHART_META])
    return entry


def build_next(info: TaskInfo, rep: Reporter) -> list[dict[str, Any]]:
    keys = info.keys
    out: list[dict[str, Any]] = []
    explicit = keys.get("next")
    for item in explicit.items if isinstance(explicit, YSeq) else []:
        if isinstance(item, YMap):
            when = item.items.get("when")
            cond = (
                str(when[1].value)
                if when and isinstance(when[1], YScalar) and when[1].value is not None
                else None
            )
            out.append(_transition(item, cond, info, rep))
    for legacy, base in OUTCOMES.items():
        value = keys.get(legacy)
        items = value.items if isinstance(value, YSeq) else [value] if value is not None else []
        plain: dict[str, Any] | None = None
        for item in items:
            if isinstance(item, YMap):
                pair = item.items.get("when")
                cond_node = pair[1] if pair else None
                out.append(_transition(item, _when(base, cond_node, rep), info, rep))
            elif plain is None:
                plain = {"when": _when(base, None, rep), "publish": {}, "do": _targets(item, info)}
                out.append(plain)
            else:
                plain["do"].extend(_targets(item, info))
    out.extend(_decisions(keys.get("decision"), info, rep))
    publish = _publish(keys.get("publish"), info, rep)
    if publish:
        success = "{{ succeeded() }}"
        first = next((t for t in out if t["when"] == success and not t["publish"]), None)
        if first is not None and CHART_META not in first:
            first["publish"] = publish
        else:
            out.insert(0, {"when": success, "publish": publish, "do": []})
    return _merge(out)


def _decisions(node: YNode | None, info: TaskInfo, rep: Reporter) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    conds: list[str] = []
    default: dict[str, Any] | None = None
    for item in node.items if isinstance(node, YSeq) else []:
        if not isinstance(item, YMap):
            continue
        when, nxt, dflt = (item.items.get(k, (None, None))[1] for k in ("when", "next", "default"))
        target = dflt if isinstance(dflt, YScalar) and isinstance(dflt.value, str) else nxt
        if dflt is not None and not (isinstance(dflt, YScalar) and dflt.value is False):
            default = {"when": None, "publish": {}, "do": _targets(target, info)}
        elif when is not None and nxt is not None:
            expr = _expr(when, rep)
            if expr:
                conds.append(expr)
            out.append(
                {"when": _when("succeeded()", when, rep), "publish": {}, "do": _targets(nxt, info)}
            )
        else:
            rep.error("required", "a decision needs 'when' and 'next', or 'default'", item)
    if default is not None:
        none_of = " or ".join(f"({c})" for c in conds)
        default["when"] = "{{ succeeded()" + (f" and not ({none_of})" if conds else "") + " }}"
        out.append(default)
    return out


def _merge(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold consecutive transitions with the same `when` (equivalent, and makes
    `on_success: [a, b]` and `on_success: a` + `on_success: b` spellings agree)."""
    merged: list[dict[str, Any]] = []
    for entry in entries:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and prev["when"] == entry["when"]
            and CHART_META not in prev
            and CHART_META not in entry
            and not (prev["publish"] and entry["publish"])
        ):
            prev["publish"] = prev["publish"] or entry["publish"]
            prev["do"] = prev["do"] + entry["do"]
        else:
            merged.append(entry)
    return merged
