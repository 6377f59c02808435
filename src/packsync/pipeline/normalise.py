"""Every accepted spelling of a workflow → the `definition` Attune's registrar stores.

The result is what `serde_json::to_value` of Attune's `WorkflowDefinition`
gives (parser.rs): every field present (`null`, `{}` or `[]` when absent),
`cancellation_policy` only when not the default, legacy transitions folded
into `next` exactly as `Task::normalize_transitions` does (transitions.py).
Spellings only packsync accepts (docs/workflow-format.md) become the form
Attune's parser produces for the equivalent native spelling; values Attune
cannot hold (templated counts, fractional seconds, inexpressible item lists)
are `attune-unsupported` errors instead of being stored in a form it cannot run.
Side tables (`TaskInfo`) keep the source nodes so later checks can point at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from packsync.pipeline.transitions import ENGINE_COMMANDS, UNSUPPORTED, build_next
from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.validate.schemas import is_json_schema
from packsync.pipeline.validate.structure import (
    CHART_META,
    RETRY_KEYS,
    TASK_KEYS,
    TOP_KEYS,
    TaskInfo,
    canonical,
    is_template,
)
from packsync.pipeline.yamlsafe import YMap, YNode, YScalar, YSeq, to_plain

_OPAQUE_TASK_KEYS = ("worker_selector", "worker_tolerations", "worker_affinity")


@dataclass(slots=True)
class Normalised:
    definition: dict[str, Any]
    tasks: list[TaskInfo]
    # (name, node, kind) for parameters, vars and published names
    variables: list[tuple[str, YNode, str]] = field(default_factory=list)
    # parameters/output as checked: flat forms and inline `required: true`
    # turned into JSON Schema, whatever is stored
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)


def good_keys(node: YMap, allowed: Any) -> dict[str, YNode]:
    """Canonical key → value for known keys whose value has the right type (silent)."""
    out: dict[str, YNode] = {}
    for key, (_, value) in node.items.items():
        canon = canonical(key)
        if canon in allowed and canon not in out and allowed[canon](value) is None:
            out[canon] = value
    return out


def scalar_keys(node: YMap) -> dict[str, YScalar]:
    """Canonical key → scalar value, whatever its type. serde reads any scalar into
    a `String` field (`label: 5` → "5", `when: true` → "true"); packsync's type
    checks still report such values, but the definition stays Attune's."""
    return {canonical(k): v for k, (_, v) in node.items.items() if isinstance(v, YScalar)}


def _number(node: YScalar | None) -> YScalar | None:
    """An integer the range checks refused is still what Attune stores."""
    return node if node is not None and type(node.value) is int else None


def text(node: YNode | None) -> str | None:
    """A scalar as Attune's serde reads it into a `String`: strings as they are,
    other scalars by their spelling (`version: 1.10` → "1.10"); null → None."""
    if isinstance(node, YScalar) and node.value is not None:
        return node.value if isinstance(node.value, str) else node.text
    return None


def one_key_maps(node: YNode, rep: Reporter, what: str) -> list[tuple[str, YNode, YNode]]:
    """A map, or a list of one-key maps (or bare names) → (name, key node, value node)."""
    if isinstance(node, YMap):
        return [(k, kn, v) for k, (kn, v) in node.items.items()]
    out: list[tuple[str, YNode, YNode]] = []
    if isinstance(node, YSeq):
        for item in node.items:
            if isinstance(item, YMap) and len(item.items) == 1:
                (k, (kn, v)), *_ = item.items.items()
                out.append((k, kn, v))
            elif isinstance(item, YScalar) and isinstance(item.value, str):
                out.append((item.value, item, YScalar(item.line, item.column, item.path)))
            else:
                rep.error("wrong-type", f"each {what} item must be a one-key mapping", item)
    return out


def named_map(node: YNode, rep: Reporter, what: str, kind: str, sink: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, key_node, value in one_key_maps(node, rep, what):
        if name in out:
            rep.error("duplicate-variable", f"{what} {name!r} is defined twice", key_node)
            continue
        out[name] = to_plain(value)
        sink.append((name, key_node, kind))
    return out


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


def stored_schema(data: dict[str, Any]) -> dict[str, Any]:
    """What goes into `parameters`/`output`: a mapping with a `type` is taken
    as Attune takes it (verbatim); one without (the StackStorm flat form,
    which Attune's validator rejects) becomes a JSON Schema object."""
    return data if "type" in data else to_json_schema(data)


# Attune's `Option` fields: `null` there means absent (serde reads it as None).
_OPTIONAL_TOP = ("description", "parameters", "output", "output_map")
_OPTIONAL_TASK = (
    "action", "permission_set_refs", "permission_set_ref", "worker_selector",
    "worker_tolerations", "worker_affinity", "when", "with_items", "batch_size", "concurrency",
    "retry", "timeout", "join", "tasks", CHART_META,
)  # fmt: skip
_OPTIONAL_RETRY = ("max_delay", "on_error")


def drop_nulls(root: YMap) -> None:
    """Remove `key: null` where Attune's serde reads null as an absent `Option`,
    so a stored definition (full of such nulls) validates as its own input."""
    _drop(root, _OPTIONAL_TOP)
    tasks = root.items.get("tasks")
    if tasks is not None:
        _drop_tasks(tasks[1])


def _drop_tasks(node: YNode) -> None:
    items = [v for _, v in node.items.values()] if isinstance(node, YMap) else []
    items += node.items if isinstance(node, YSeq) else []
    for task in items:
        if isinstance(task, YMap):
            _drop(task, _OPTIONAL_TASK)
            retry = task.items.get("retry")
            if retry is not None and isinstance(retry[1], YMap):
                _drop(retry[1], _OPTIONAL_RETRY)
            sub = task.items.get("tasks")
            if sub is not None:
                _drop_tasks(sub[1])


def _drop(node: YMap, keys: tuple[str, ...]) -> None:
    for key in [k for k, (_, v) in node.items.items() if canonical(k) in keys]:
        value = node.items[key][1]
        if isinstance(value, YScalar) and value.value is None:
            del node.items[key]


def normalise_workflow(root: YMap, rep: Reporter, *, linked: bool = False) -> Normalised:
    """`linked`: an action-linked file, which Attune parses without its
    validator, so schemas without `type` are native there and kept as written."""
    keys = good_keys(root, TOP_KEYS)
    variables: list[tuple[str, YNode, str]] = []
    schemas: dict[str, dict[str, Any]] = {}
    stored: dict[str, Any] = {}
    for key in ("parameters", "output"):
        node = keys.get(key)
        if isinstance(node, YMap):
            plain = to_plain(node)
            schemas[key] = to_json_schema(plain)
            stored[key] = plain if linked else stored_schema(plain)
    params = keys.get("parameters")
    if isinstance(params, YMap):
        src: YNode = params
        if is_json_schema(to_plain(params)) and "properties" in params.items:
            src = params.items["properties"][1]
        if isinstance(src, YMap):
            variables.extend((n, kn, "parameter") for n, (kn, _) in src.items.items())
    tags = keys.get("tags") or next(
        (v for k, (_, v) in root.items.items() if canonical(k) == "tags" and isinstance(v, YSeq)),
        None,
    )
    scalars = scalar_keys(root)
    definition: dict[str, Any] = {
        "ref": text(scalars.get("ref")) or "",
        "label": text(scalars.get("label")) or "",
        "description": text(scalars.get("description")),
        "version": _version(keys.get("version") or scalars.get("version")),
        "parameters": stored.get("parameters"),
        "output": stored.get("output"),
        "vars": named_map(keys["vars"], rep, "variable", "var", variables)
        if "vars" in keys
        else {},
        "tasks": [],
        "output_map": _output_map(keys["output_map"], rep) if "output_map" in keys else None,
        "tags": [text(t) for t in tags.items] if isinstance(tags, YSeq) else [],
    }
    if text(keys.get("cancellation_policy")) == "cancel_running":
        definition["cancellation_policy"] = "cancel_running"
    tasks = normalise_tasks(keys.get("tasks"), rep)
    definition["tasks"] = [t for t, _ in tasks]
    infos = [i for _, i in tasks]
    for info in _walk(infos):
        variables.extend((n, node, "publish") for n, node in info.published)
    return Normalised(definition, infos, variables, schemas)


def _version(node: YNode | None) -> str:
    if isinstance(node, YScalar) and not isinstance(node.value, bool):
        return text(node) or ""
    return ""


def _output_map(node: YNode, rep: Reporter) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, key_node, value in one_key_maps(node, rep, "output_map entry"):
        if name in out:
            rep.error("duplicate-variable", f"output_map entry {name!r} is defined twice", key_node)
            continue
        value_text = text(value)
        if value_text is None:
            rep.error(
                UNSUPPORTED,
                f"output_map {name!r} must be a string (a '{{{{ }}}}' template): "
                "Attune stores output_map values as strings",
                value,
            )
            continue
        out[name] = value_text
    return out


def _walk(infos: list[TaskInfo]) -> list[TaskInfo]:
    out: list[TaskInfo] = []
    for info in infos:
        out.append(info)
        out.extend(_walk(info.subtasks))
    return out


def normalise_tasks(node: YNode | None, rep: Reporter) -> list[tuple[dict[str, Any], TaskInfo]]:
    """One scope of tasks (the workflow's, or a parallel task's sub-tasks)."""
    entries: list[tuple[YScalar | None, YNode]] = []
    if isinstance(node, YMap):
        entries = [(k, v) for k, v in node.items.values()]
    elif isinstance(node, YSeq):
        entries = [(None, v) for v in node.items]
    out = []
    for key_node, task in entries:
        if isinstance(task, YMap):
            out.append(normalise_task(task, key_node, rep))
    _resolve_scope(out, rep)
    return out


def _resolve_scope(tasks: list[tuple[dict[str, Any], TaskInfo]], rep: Reporter) -> None:
    """What needs the whole scope: `join: all` becomes the number of tasks that
    transition to the task; Orquesta's `noop` target is dropped (a transition
    that does nothing), and the other engine commands have no Attune form."""
    names = {info.name for _, info in tasks}
    inbound: dict[str, set[str]] = {}
    for task, info in tasks:
        for entry in task["next"]:
            if "do" in entry:
                entry["do"] = [t for t in entry["do"] if t != "noop" or t in names]
                for target in entry["do"]:
                    inbound.setdefault(target, set()).add(info.name)
        for target, node in info.targets:
            if target in ENGINE_COMMANDS and target != "noop" and target not in names:
                rep.error(
                    UNSUPPORTED,
                    f"Attune has no engine command {target!r}: transition to a task instead",
                    node,
                )
    for task, info in tasks:
        join = info.keys.get("join")
        if isinstance(join, YScalar) and join.value == "all":
            task["join"] = len(inbound.get(info.name, ())) or None


def normalise_task(
    task: YMap, key_node: YScalar | None, rep: Reporter
) -> tuple[dict[str, Any], TaskInfo]:
    keys = good_keys(task, TASK_KEYS)
    scalars = scalar_keys(task)
    name_value = keys.get("name") or scalars.get("name")
    name_node: YNode = name_value or key_node or task
    name = text(name_value) or ""
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
    ttype = text(keys.get("type")) or "action"
    info = TaskInfo(name, task, name_node, keys, ttype)
    raw = {canonical(k): v for k, (_, v) in task.items.items()}
    perms = [raw[k] for k in ("permission_set_refs", "permission_set_ref") if k in raw]
    if len(perms) == 2:
        rep.error("duplicate-key", "use either permission_set_refs or permission_set_ref", perms[1])
    join, retry = keys.get("join") or _number(scalars.get("join")), keys.get("retry")
    out: dict[str, Any] = {
        "name": name,
        "type": ttype,
        "action": text(scalars.get("action")),
        "input": to_plain(keys["input"]) if "input" in keys else {},
        "permission_set_refs": to_plain(perms[0]) if perms else None,
        **{k: to_plain(keys[k]) if k in keys else None for k in _OPAQUE_TASK_KEYS},
        "when": text(scalars.get("when")),
        "with_items": _with_items(keys.get("with_items"), rep),
        "batch_size": whole(
            keys.get("batch_size") or _number(scalars.get("batch_size")), "batch_size", rep
        ),
        "concurrency": whole(
            keys.get("concurrency") or _number(scalars.get("concurrency")), "concurrency", rep
        ),
        "retry": _retry(retry, rep) if isinstance(retry, YMap) else None,
        "timeout": whole(keys.get("timeout") or _number(scalars.get("timeout")), "timeout", rep),
        "next": [],
        "join": join.value if isinstance(join, YScalar) and _is_int(join.value) else None,
        "tasks": None,
    }
    if "tasks" in keys:
        subs = normalise_tasks(keys["tasks"], rep)
        out["tasks"] = [t for t, _ in subs]
        info.subtasks = [i for _, i in subs]
    out["next"] = build_next(info, rep)
    chart = to_plain(keys[CHART_META]) if CHART_META in keys else None
    if chart is not None:
        out[CHART_META] = chart
    return out, info


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def whole(node: YNode | None, what: str, rep: Reporter) -> int | None:
    """An integer field of Attune (`u32`/`usize`): templates are never rendered
    there and fractions do not fit, so both are errors; wrong types are left
    to the structure checks (None)."""
    if not isinstance(node, YScalar):
        return None
    value = node.value
    if _is_int(value):
        return value  # type: ignore[return-value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, float):
        rep.error(
            UNSUPPORTED,
            f"{what} must be a whole number: Attune stores it as an integer",
            node,
        )
    elif is_template(value):
        rep.error(
            UNSUPPORTED,
            f"{what} must be a literal integer: Attune does not evaluate templates there",
            node,
        )
    return None


def _retry(node: YMap, rep: Reporter) -> dict[str, Any]:
    keys = good_keys(node, RETRY_KEYS)
    if "count" not in {canonical(k) for k in node.items}:
        rep.error("retry-count", "retry needs 'count' (the number of retries, 1-100)", node)
    return {
        "count": whole(keys.get("count"), "retry count", rep),
        "delay": whole(keys.get("delay"), "retry delay", rep) or 0,
        "backoff": text(keys.get("backoff")) or "constant",
        "max_delay": whole(keys.get("max_delay"), "retry max_delay", rep),
        "on_error": text(keys.get("on_error")),
    }


def _with_items(node: YNode | None, rep: Reporter) -> str | None:
    """A template string as written; a literal list (a packsync spelling) as the
    one expression Attune evaluates to that list: `[a, 1]` → `{{ ['a', 1] }}`."""
    if isinstance(node, YScalar) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, YSeq):
        return None
    literal = _literal(node)
    if literal is None:
        rep.error(
            UNSUPPORTED,
            "Attune reads with_items as one '{{ }}' expression: this list holds a mapping "
            "or a partial template; write it as '{{ [...] }}'",
            node,
        )
        return None
    return "{{ " + literal + " }}"


def _literal(node: YNode) -> str | None:
    """Plain data → an Attune expression literal, or None when it has no such form."""
    if isinstance(node, YSeq):
        parts = [_literal(item) for item in node.items]
        return None if None in parts else "[" + ", ".join(p for p in parts if p) + "]"
    if not isinstance(node, YScalar):
        return None
    value = node.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        spelled = repr(value)
        return spelled if all(c in "-.0123456789" for c in spelled) else None
    if "{{" in value or "}}" in value:
        inner = value.strip()
        if inner.startswith("{{") and inner.endswith("}}") and inner.count("{{") == 1:
            body = inner[2:-2].strip()
            return f"({body})" if body and "}}" not in body else None
        return None
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
