"""StackStorm Orquesta files: one `orquesta-dialect` diagnostic instead of a
flood of unrelated errors.

Orquesta looks like Attune's format (tasks, next, when, publish, do) but uses
YAQL `<% %>`, an `input:` list, inline `action: pack.x a=b` parameters and an
`output:` list, and its context as `ctx()` or `_.x`, none of which Attune can
run. A file showing two of these traits (YAQL in two places counts as two) is
taken as Orquesta; one alone gets its own located error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.yamlsafe import YMap, YNode, YScalar, YSeq

INLINE_PARAMS = re.compile(r"^\s*[\w.-]+\.[\w.-]+\s+[\w-]+=")
ORQUESTA_CONTEXT = re.compile(r"\{\{[^}]*(\bctx\(|(?<![\w.])_\.)")


def _strings(node: YNode) -> Iterator[YScalar]:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, YScalar):
            if isinstance(current.value, str) and (
                "<%" in current.value or "_." in current.value or "ctx(" in current.value
            ):
                yield current
        elif isinstance(current, YSeq):
            stack.extend(reversed(current.items))
        elif isinstance(current, YMap):
            stack.extend(v for _, v in reversed(current.items.values()))


def _task_entries(root: YMap) -> list[tuple[str, YNode]]:
    """(name, task) of the top-level tasks, map or list form."""
    tasks = root.items.get("tasks", (None, None))[1]
    if isinstance(tasks, YMap):
        return [(k, v) for k, (_, v) in tasks.items.items()]
    out: list[tuple[str, YNode]] = []
    for task in tasks.items if isinstance(tasks, YSeq) else []:
        name = task.items.get("name", (None, None))[1] if isinstance(task, YMap) else None
        out.append((str(name.value) if isinstance(name, YScalar) else "", task))
    return out


def _inline_action(root: YMap) -> YScalar | None:
    for _, task in _task_entries(root):
        action = task.items.get("action", (None, None))[1] if isinstance(task, YMap) else None
        if isinstance(action, YScalar) and INLINE_PARAMS.match(str(action.value)):
            return action
    return None


ENGINE_COMMANDS = frozenset({"noop", "fail", "continue", "retry"})


def _engine_command(root: YMap) -> YScalar | None:
    """A transition to `fail`/`retry`/... where no task has that name."""
    entries = _task_entries(root)
    names = {k for k, _ in entries}
    for _, task in entries:
        nxt = task.items.get("next", (None, None))[1] if isinstance(task, YMap) else None
        for item in nxt.items if isinstance(nxt, YSeq) else []:
            do = item.items.get("do", (None, None))[1] if isinstance(item, YMap) else None
            targets = do.items if isinstance(do, YSeq) else [do] if do is not None else []
            for target in targets:
                if isinstance(target, YScalar) and target.value in ENGINE_COMMANDS - names:
                    return target
    return None


def traits(root: YMap) -> list[tuple[str, YNode]]:
    """(what Attune cannot run, where) for each Orquesta trait found."""
    found: list[tuple[str, YNode]] = []
    for key, what in (("input", "an 'input:' list"), ("output", "an 'output:' list")):
        node = root.items.get(key, (None, None))[1]
        if isinstance(node, YSeq):
            found.append((what, node))
    strings = list(_strings(root))
    yaql = [n for n in strings if "<%" in str(n.value)]
    if yaql:
        found.append(("YAQL '<% %>' expressions", yaql[0]))
        if len(yaql) > 1:  # YAQL in several places is Orquesta on its own
            found.append(("", yaql[1]))
    context = next((n for n in strings if ORQUESTA_CONTEXT.search(str(n.value))), None)
    if context is not None:
        found.append(("Orquesta's context ('ctx()', '_.x')", context))
    command = _engine_command(root)
    if command is not None:
        found.append(("engine commands as targets ('do: retry')", command))
    inline = _inline_action(root)
    if inline is not None:
        found.append(("inline action parameters ('action: pack.x a=b')", inline))
    return sorted(found, key=lambda t: (t[1].line, t[1].column))


def check_dialect(root: YMap, rep: Reporter) -> bool:
    """Report an Orquesta file once; True when it is one (then nothing else is checked)."""
    found = traits(root)
    if len(found) < 2:
        return False
    listed = "; ".join(f"{what} (line {node.line})" for what, node in found if what)
    rep.error(
        "orquesta-dialect",
        f"this is a StackStorm Orquesta workflow, which Attune cannot run: {listed}. "
        "Port it to Attune's format (parameters, '{{ }}' expressions, 'input:' under the "
        "task; see docs/workflow-format.md) or keep it out of the packs directory",
        found[0][1],
    )
    return True
