"""A task's transitions → Attune's `next` list, as `Task::normalize_transitions`
(parser.rs) builds it.

An explicit non-empty `next` is taken as written and Attune then ignores every
legacy field (reported as `legacy-ignored`, since the executor would drop those
transitions). Otherwise, in this order: `on_success` → `{{ succeeded() }}`,
`on_failure` → `{{ failed() }}`, `on_complete` → no `when` (fires on any
outcome), `on_timeout` → `{{ timed_out() }}`, each `decision` branch → its own
`when` (none for a default branch); a task-level `publish` goes to the first
transition whose `when` contains `succeeded()`, else the first one, else a new
`{when: "{{ succeeded() }}", publish}`. Spellings only packsync accepts (a
list of targets, conditional `{when, do}` items, `do: a, b`, publish as a
mapping, `{default: task}` as an "else") become what the equivalent native
spelling gives.
Empty `publish` and absent `when`/`do` are left out, as Attune's serde does.
"""

from __future__ import annotations

import re
from typing import Any

from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.validate.structure import CHART_META, TRANSITION_KEYS, canonical
from packsync.pipeline.yamlsafe import YMap, YNode, YScalar, YSeq, to_plain

# legacy key → the outcome it stands for (None: any outcome), in Attune's order
OUTCOMES: dict[str, str | None] = {
    "on_success": "succeeded()",
    "on_failure": "failed()",
    "on_complete": None,
    "on_timeout": "timed_out()",
}
LEGACY_KEYS = (*OUTCOMES, "decision", "publish")
# Orquesta engine commands usable as transition targets (normalise.py maps them).
ENGINE_COMMANDS = frozenset({"noop", "fail", "continue", "retry"})
UNSUPPORTED = "attune-unsupported"
SUCCEEDED = "{{ succeeded() }}"
_WHOLE_EXPR = re.compile(r"\s*\{\{(.*)\}\}\s*", re.S)
# scheduler.rs classifies a `when` by these substrings (lower case, no spaces)
_OUTCOME_CALLS = ("succeeded()", "failed()", "timed_out()")


def build_next(info: Any, rep: Reporter) -> list[dict[str, Any]]:
    """`info` is the task's `validate.structure.TaskInfo` (its keys, targets, published names)."""
    keys: dict[str, YNode] = info.keys
    explicit = keys.get("next")
    if isinstance(explicit, YSeq) and explicit.items:
        legacy = [k for k in LEGACY_KEYS if k in keys]
        if legacy:
            rep.error(
                "legacy-ignored",
                f"Attune ignores {', '.join(legacy)} on a task that has 'next': "
                "move them into 'next'",
                keys[legacy[0]],
            )
        return [_native(item, info, rep) for item in explicit.items if isinstance(item, YMap)]
    out: list[dict[str, Any]] = []
    for legacy_key, outcome in OUTCOMES.items():
        out.extend(_outcome(keys.get(legacy_key), outcome, info, rep))
    out.extend(_decisions(keys.get("decision"), info, rep))
    publish = publish_list(keys.get("publish"), info, rep)
    if publish:
        succeeded = [t for t in out if "succeeded()" in (t.get("when") or "")]
        if succeeded or out:
            target = (succeeded or out)[0]
            target["publish"] = target.get("publish", []) + publish
        else:
            out.append({"when": SUCCEEDED, "publish": publish})
    return out


def _native(item: YMap, info: Any, rep: Reporter) -> dict[str, Any]:
    keys = {canonical(k): v for k, (_, v) in item.items.items() if canonical(k) in TRANSITION_KEYS}
    entry: dict[str, Any] = {}
    when = keys.get("when")
    if isinstance(when, YScalar) and isinstance(when.value, str):
        entry["when"] = when.value  # a native condition: templates.py's condition-ignored
    return _finish(entry, keys, info, rep)


def outcome_only(when: str, node: YNode, rep: Reporter) -> None:
    """Attune's executor fires a transition whose `when` mentions succeeded(),
    failed() or timed_out() on that outcome alone: the rest of the condition
    is never evaluated. Say so rather than let a condition be dropped quietly."""
    flat = re.sub(r"\s", "", when.lower())
    call = next((c for c in _OUTCOME_CALLS if c in flat), None)
    if call is None or flat.removeprefix("{{").removesuffix("}}") == call:
        return
    rep.warning(
        "outcome-condition",
        f"Attune's executor fires this transition whenever the task's outcome is "
        f"{call} and ignores the rest of the condition; to test it, write the "
        f"condition alone (it is then evaluated whatever the outcome)",
        node,
    )


def _finish(
    entry: dict[str, Any], keys: dict[str, YNode], info: Any, rep: Reporter
) -> dict[str, Any]:
    publish = publish_list(keys.get("publish"), info, rep)
    if publish:
        entry["publish"] = publish
    do = keys.get("do")
    if do is not None and not (isinstance(do, YScalar) and do.value is None):
        entry["do"] = targets(do, info)
    chart = to_plain(keys[CHART_META]) if CHART_META in keys else None
    if chart is not None:
        entry[CHART_META] = chart
    return entry


def _outcome(
    node: YNode | None, outcome: str | None, info: Any, rep: Reporter
) -> list[dict[str, Any]]:
    """`on_x: a`, `on_x: [a, b]` (one transition) and `on_x: [{when: c, do: d}]`
    (one transition per item, `when` = the outcome and the condition)."""
    items = node.items if isinstance(node, YSeq) else [node] if node is not None else []
    out: list[dict[str, Any]] = []
    plain: dict[str, Any] | None = None
    for item in items:
        if isinstance(item, YMap):
            keys = {canonical(k): v for k, (_, v) in item.items.items()}
            entry = {"when": _when(outcome, keys.get("when"), rep)}
            if entry["when"] is not None:
                outcome_only(entry["when"], keys.get("when") or item, rep)
            out.append(_finish(entry, keys, info, rep))
        elif plain is None:
            plain = {"when": _when(outcome, None, rep), "do": targets(item, info)}
            out.append(plain)
        else:
            plain["do"].extend(targets(item, info))
    for entry in out:
        if entry["when"] is None:
            del entry["when"]
    return out


def _expr(cond: YNode, rep: Reporter) -> str | None:
    value = str(cond.value) if isinstance(cond, YScalar) else ""
    match = _WHOLE_EXPR.fullmatch(value)
    if match and "{{" not in match.group(1) and "}}" not in match.group(1):
        return match.group(1).strip()
    if "{{" not in value and "{%" not in value and "<%" not in value and value.strip():
        return value.strip()
    rep.error(
        "legacy-when",
        "a legacy condition must be one '{{ expression }}' to be combined with the task outcome",
        cond,
    )
    return None


def _when(outcome: str | None, cond: YNode | None, rep: Reporter) -> str | None:
    expr = _expr(cond, rep) if cond is not None and not _is_null(cond) else None
    if outcome is None:
        return "{{ " + expr + " }}" if expr else None
    return "{{ " + outcome + (f" and ({expr})" if expr else "") + " }}"


def _is_null(node: YNode) -> bool:
    return isinstance(node, YScalar) and node.value is None


def _decisions(node: YNode | None, info: Any, rep: Reporter) -> list[dict[str, Any]]:
    """Attune: each branch → `{when: branch.when, do: [branch.next]}`; `default:
    true` only lets a branch lack `when`, and such a branch fires on every
    outcome (a `decision-default` warning says so). packsync's `{default: task}`
    is an "else": `{when: "{{ not ((c1) or (c2)) }}", do: [task]}` over the
    other branches' conditions."""
    out: list[dict[str, Any]] = []
    conds: list[str] = []
    elses: list[dict[str, Any]] = []
    for item in node.items if isinstance(node, YSeq) else []:
        if not isinstance(item, YMap):
            continue
        keys = {canonical(k): v for k, (_, v) in item.items.items()}
        when, nxt, dflt = keys.get("when"), keys.get("next"), keys.get("default")
        named_default = isinstance(dflt, YScalar) and isinstance(dflt.value, str) and nxt is None
        is_default = named_default or (isinstance(dflt, YScalar) and dflt.value is True)
        target = dflt if named_default else nxt
        missing_when = when is None and not is_default
        if target is None or missing_when:
            rep.error("required", "a decision needs 'when' and 'next', or 'default'", item)
            if target is None:
                continue  # (without `when` the stored branch is still Attune's: it always fires)
        entry: dict[str, Any] = {}
        if isinstance(when, YScalar) and isinstance(when.value, str):
            entry["when"] = when.value
            outcome_only(when.value, when, rep)
            expr = _expr(when, rep)
            if expr:
                conds.append(expr)
        elif named_default:
            elses.append(entry)
        elif not missing_when:
            rep.warning(
                "decision-default",
                "Attune runs a default decision branch on every outcome, beside the "
                "branches that match: give it a 'when' (e.g. the negation of the others)",
                dflt or item,
            )
        entry["do"] = targets(target, info)
        out.append(entry)
    if conds:
        for entry in elses:
            entry["when"] = "{{ not (" + " or ".join(f"({c})" for c in conds) + ") }}"
    return out


def targets(node: YNode | None, info: Any) -> list[str]:
    """Task names of a `do`/`on_x`/`next`: a name, `a, b` or a list (recorded on info)."""
    names: list[str] = []
    items = node.items if isinstance(node, YSeq) else [node] if node is not None else []
    for item in items:
        if isinstance(item, YScalar) and isinstance(item.value, str):
            for part in item.value.split(","):
                if part.strip():
                    names.append(part.strip())
                    info.targets.append((part.strip(), item))
    return names


def publish_list(node: YNode | None, info: Any, rep: Reporter) -> list[Any]:
    """Attune's `publish` is a list of `{name: value}` maps and bare names (a
    bare name publishes the whole result); a mapping becomes one item per key."""
    if node is None:
        return []
    pairs: list[tuple[Any, list[tuple[str, YNode]]]]
    if isinstance(node, YMap):
        pairs = [({k: to_plain(v)}, [(k, kn)]) for k, (kn, v) in node.items.items()]
    elif isinstance(node, YSeq):
        pairs = []
        for item in node.items:
            if isinstance(item, YMap):
                pairs.append((to_plain(item), [(k, kn) for k, (kn, _) in item.items.items()]))
            elif isinstance(item, YScalar) and isinstance(item.value, str):
                pairs.append((item.value, [(item.value, item)]))
            else:
                rep.error("wrong-type", "each publish item must be a mapping or a name", item)
    else:
        return []
    seen: set[str] = set()
    out: list[Any] = []
    for value, names in pairs:
        for name, key_node in names:
            if name in seen:
                rep.error(
                    "duplicate-variable", f"published variable {name!r} is defined twice", key_node
                )
            seen.add(name)
            info.published.append((name, key_node))
        out.append(value)
    return out
