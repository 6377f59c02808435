"""Keys, types, required fields and ranges of a workflow, on the raw spelling.

Runs before normalisation so that every legacy spelling is checked where it
was written. Fixed-schema keys are compared after `-` → `_` (so `on-success`
is `on_success`); user maps (input, vars, parameters, publish) are opaque here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from packsync.pipeline.validate.report import Reporter, did_you_mean
from packsync.pipeline.yamlsafe import YMap, YNode, YScalar, YSeq, child_path

Check = Callable[[YNode], str | None]  # returns what was expected, or None when fine

RESERVED_TASK_NAMES = frozenset(
    {"parameters", "vars", "task", "system", "kv", "pack", "item", "batch", "index"}
)
CHART_META = "__chart_meta__"
MAX_VERSION = 50  # parser.rs: #[validate(length(min = 1, max = 50))]
MAX_REF = 255  # ref and label


def _v(n: YNode) -> Any:
    """A scalar's value; a private marker for collections (never a str/int/bool)."""
    return n.value if isinstance(n, YScalar) else _COLLECTION


_COLLECTION = object()


def _is_str(n: YNode) -> bool:
    return isinstance(_v(n), str)


def _is_int(n: YNode) -> bool:
    v = _v(n)
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(n: YNode) -> bool:
    return _is_int(n) or isinstance(_v(n), float)


def string(n: YNode) -> str | None:
    return None if _is_str(n) else "a string"


def string_or_null(n: YNode) -> str | None:
    """`when: ~` is an unconditional transition (the normalised form stores it so)."""
    return None if _is_str(n) or _v(n) is None else "a string"


def boolean(n: YNode) -> str | None:
    return None if isinstance(n, YScalar) and isinstance(n.value, bool) else "true or false"


def mapping(n: YNode) -> str | None:
    return None if isinstance(n, YMap) else "a mapping"


def is_template(value: object) -> bool:
    """Text meant to be evaluated: a '{{ }}' expression, or a '{% %}' block
    (which Attune does not have; templates.py reports it)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def mapping_or_template(n: YNode) -> str | None:
    if isinstance(n, YMap) or is_template(_v(n)):
        return None
    return "a mapping or a '{{ }}' template that yields one"


def anything(n: YNode) -> str | None:
    return None


def map_or_list(n: YNode) -> str | None:
    return None if isinstance(n, YMap | YSeq) else "a mapping or a list"


def str_or_list(n: YNode) -> str | None:
    if _is_str(n) or (isinstance(n, YSeq) and all(_is_str(i) for i in n.items)):
        return None
    return "a string or a list of strings"


def str_list(n: YNode) -> str | None:
    if isinstance(n, YSeq) and all(_is_str(i) for i in n.items):
        return None
    return "a list of strings"


def transitions(n: YNode) -> str | None:
    """Legacy on_*: a task name, a list of names, or a list of {when, do}."""
    if _is_str(n) or (
        isinstance(n, YSeq) and all(_is_str(i) or isinstance(i, YMap) for i in n.items)
    ):
        return None
    return "a task name, a list of task names or a list of {when, do}"


def list_of_maps(n: YNode) -> str | None:
    if isinstance(n, YSeq) and all(isinstance(i, YMap) for i in n.items):
        return None
    return "a list of mappings"


@dataclass(frozen=True, slots=True)
class enum:
    """One of the given strings (the JSON Schema reads `values`)."""

    values: tuple[str, ...]

    def __init__(self, *values: str) -> None:
        object.__setattr__(self, "values", values)

    def __call__(self, n: YNode) -> str | None:
        if _is_str(n) and _v(n) in self.values:
            return None
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True, slots=True)
class int_range:
    """An integer literal: Attune reads these as u32/usize, so no '{{ }}' template
    (the JSON Schema reads `lo` and `hi`)."""

    lo: int
    hi: int | None

    def __call__(self, n: YNode) -> str | None:
        v = _v(n)
        if _is_int(n) and v >= self.lo and (self.hi is None or v <= self.hi):
            return None
        if self.hi is not None:
            return f"an integer from {self.lo} to {self.hi}"
        return f"an integer >= {self.lo}"


def join_value(n: YNode) -> str | None:
    if _v(n) == "all" or (_is_int(n) and _v(n) >= 1):
        return None
    return "'all' or an integer >= 1"


RETRY_KEYS: Mapping[str, Check] = {
    "count": int_range(1, 100),
    "delay": int_range(0, None),
    "backoff": enum("constant", "linear", "exponential"),
    "max_delay": int_range(0, None),
    "on_error": string,
}
TRANSITION_KEYS: Mapping[str, Check] = {
    "when": string_or_null,
    "publish": map_or_list,
    "do": str_or_list,
    CHART_META: anything,
}
DECISION_KEYS: Mapping[str, Check] = {"when": string, "next": string, "default": anything}
LEGACY_TRANSITIONS = ("on_success", "on_failure", "on_complete", "on_timeout")
TASK_KEYS: Mapping[str, Check] = {
    "name": string,
    "type": enum("action", "parallel", "workflow"),
    "action": string,
    "input": mapping,
    "when": string,
    "with_items": anything,
    "batch_size": int_range(0, 1000),  # 0 is refused with with_items only (rules.py)
    "concurrency": int_range(0, 100),
    "retry": mapping,
    "timeout": int_range(1, None),
    "join": join_value,
    "tasks": map_or_list,
    "permission_set_refs": str_or_list,
    "permission_set_ref": str_or_list,
    "worker_selector": mapping_or_template,
    "worker_tolerations": anything,
    "worker_affinity": anything,
    "next": list_of_maps,
    "on_success": transitions,
    "on_failure": transitions,
    "on_complete": transitions,
    "on_timeout": transitions,
    "decision": list_of_maps,
    "publish": map_or_list,
    CHART_META: anything,
}
TOP_KEYS: Mapping[str, Check] = {
    "version": anything,  # checked on its own: numbers only warn
    "name": string,
    "label": string,
    "description": string,
    "ref": string,
    "parameters": mapping,
    "output": mapping,
    "vars": map_or_list,
    "tasks": map_or_list,
    "output_map": map_or_list,
    "tags": str_list,
    "enabled": boolean,
    "cancellation_policy": enum("allow_finish", "cancel_running"),
}


def canonical(key: str) -> str:
    return key if key == CHART_META else key.replace("-", "_")


# Spellings from neighbouring formats (Orquesta, Mistral, ActionChain) with no close match.
HINTS = {
    ("the workflow", "input"): " (workflow inputs go under 'parameters')",
    ("a task", "with"): " (use 'with_items', plus 'concurrency' / 'batch_size')",
    ("a task", "items"): " (use 'with_items')",
    ("a task", "on_error"): " (use 'on_failure' or 'next' with '{{ failed() }}')",
    ("a task", "ref"): " (the action goes under 'action: <pack>.<action>')",
    ("a task", "parameters"): " (action parameters go under 'input')",
    ("a task", "params"): " (action parameters go under 'input')",
    ("a task", "delay"): " (use 'retry: {delay: ...}')",
}
# Names from neighbouring formats that difflib would match to the wrong key.
ALIASES = {
    "output_schema": "output",
    "out_schema": "output",
    "outputs": "output",
    "input_schema": "parameters",
    "param_schema": "parameters",
    "parameters_schema": "parameters",
    "inputs": "parameters",
    "variables": "vars",
    "steps": "tasks",
}
SPECIAL_CODES = {"batch_size": "batch-size", "concurrency": "concurrency", "join": "join-invalid"}


def check_keys(
    node: YMap, allowed: Mapping[str, Check], where: str, rep: Reporter, code_prefix: str = ""
) -> dict[str, YNode]:
    """Unknown keys, spelling duplicates and value types; returns canonical key → good value."""
    seen: dict[str, YScalar] = {}
    good: dict[str, YNode] = {}
    for key, (key_node, value) in node.items.items():
        canon = canonical(key)
        path = child_path(node.path, key)
        if canon not in allowed:
            if rep.full:
                rep.error("unknown-key", "", key_node)
                continue
            alias = ALIASES.get(canon)
            hint = (
                f" (did you mean {alias!r}?)"
                if alias in allowed
                else HINTS.get((where, canon)) or did_you_mean(key, allowed)
            )
            rep.error("unknown-key", f"unknown key {key!r} in {where}{hint}", key_node, path)
            continue
        if canon in seen:
            first = seen[canon]
            rep.error(
                "duplicate-key",
                f"{key!r} repeats {first.text!r} (line {first.line}): keep one spelling",
                key_node,
                path,
            )
            continue
        seen[canon] = key_node
        expected = allowed[canon](value)
        if expected is not None:
            code = (
                "invalid-value"
                if isinstance(value, YScalar) and _is_num_or_str(value)
                else "wrong-type"
            )
            if code_prefix:
                code = code_prefix + canon.replace("_", "-")
            code = SPECIAL_CODES.get(canon, code)
            rep.error(code, f"{where} key {key!r} must be {expected}", value)
            continue
        good[canon] = value
    return good


def _is_num_or_str(n: YScalar) -> bool:
    return isinstance(n.value, int | float | str) and not isinstance(n.value, bool)


def check_workflow(root: YMap, rep: Reporter) -> None:
    top = check_keys(root, TOP_KEYS, "the workflow", rep)
    version = root.items.get("version")
    if version is None:
        rep.error("required", "the workflow needs a 'version' (e.g. version: '1.0')", root)
    elif _is_num(version[1]) and isinstance(version[1], YScalar):
        rep.warning(
            "version-type",
            f"version {version[1].text} is a number: quote it (version: '{version[1].text}')",
            version[1],
        )
    elif not _is_str(version[1]):
        rep.error("wrong-type", "'version' must be a string such as '1.0'", version[1])
    elif not 1 <= len(_v(version[1])) <= MAX_VERSION:
        rep.error(
            "field-length",
            f"version must be 1 to {MAX_VERSION} characters (Attune refuses it): use e.g. '1.0.0'",
            version[1],
        )
    for key in ("ref", "label"):
        node = top.get(key)
        if node is not None and len(_v(node)) > MAX_REF:
            rep.error(
                "field-length",
                f"{key} is {len(_v(node))} characters; Attune allows at most {MAX_REF}",
                node,
            )
    _check_output_map(top.get("output_map"), rep)
    tasks = top.get("tasks")
    if "tasks" not in {canonical(k) for k in root.items}:
        rep.error("required", "the workflow needs 'tasks' (a list or a map of tasks)", root)
    elif tasks is not None:
        check_task_collection(tasks, rep, "the workflow")


def _check_output_map(node: YNode | None, rep: Reporter) -> None:
    """Attune reads output_map as name → string (an expression)."""
    items = node.items if isinstance(node, YSeq) else [node] if node is not None else []
    for item in items:
        for _, value in item.items.values() if isinstance(item, YMap) else ():
            if not isinstance(value, YScalar):
                rep.error(
                    "wrong-type",
                    "an output_map value must be a string such as '{{ task.x.result }}'",
                    value,
                )


def check_task_collection(tasks: YNode, rep: Reporter, owner: str) -> None:
    entries = _task_entries(tasks)
    if not entries and owner == "the workflow":
        rep.error("no-tasks", f"{owner} needs at least one task", tasks)
    for name_node, task in entries:
        if not isinstance(task, YMap):
            rep.error("wrong-type", "a task must be a mapping", task)
            continue
        check_task(task, name_node, rep)


def _task_entries(tasks: YNode) -> list[tuple[YScalar | None, YNode]]:
    if isinstance(tasks, YMap):
        return [(k, v) for k, v in tasks.items.values()]
    if isinstance(tasks, YSeq):
        return [(None, t) for t in tasks.items]
    return []


def check_task(task: YMap, map_key: YScalar | None, rep: Reporter) -> None:
    keys = check_keys(task, TASK_KEYS, "a task", rep)
    name = keys.get("name")
    if map_key is None and name is None and "name" not in task.items:
        rep.error("required", "a task in a list needs a 'name'", task)
    retry = keys.get("retry")
    if isinstance(retry, YMap):
        _check_retry(retry, rep)
    for legacy in (*LEGACY_TRANSITIONS, "next"):
        value = keys.get(legacy)
        if isinstance(value, YSeq):
            for item in value.items:
                if isinstance(item, YMap):
                    check_keys(item, TRANSITION_KEYS, "a transition", rep)
    decision = keys.get("decision")
    if isinstance(decision, YSeq):
        for item in decision.items:
            if isinstance(item, YMap):
                check_keys(item, DECISION_KEYS, "a decision", rep)
    sub = keys.get("tasks")
    if sub is not None:
        check_task_collection(sub, rep, "a parallel task")


def _check_retry(retry: YMap, rep: Reporter) -> None:
    good = check_keys(retry, RETRY_KEYS, "retry", rep, code_prefix="retry-")
    present = {canonical(k) for k in retry.items}
    for key in ("count", "delay"):
        if key not in present:
            rep.error(
                "required",
                f"retry needs '{key}' (Attune refuses a retry without it), "
                "e.g. retry: {count: 3, delay: 10}",
                retry,
            )
    delay, max_delay = good.get("delay"), good.get("max_delay")
    if isinstance(delay, YScalar) and isinstance(max_delay, YScalar):
        d, m = delay.value, max_delay.value
        if isinstance(d, int | float) and isinstance(m, int | float) and m < d:
            rep.error(
                "retry-max-delay",
                f"retry max_delay ({m}) must be >= delay ({d}): raise max_delay or lower delay",
                max_delay,
            )


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
