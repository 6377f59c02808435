"""StackStorm Orquesta files: one `orquesta-dialect` diagnostic instead of a
flood of unrelated errors.

Orquesta looks like Attune's format (tasks, next, when, publish, do) but uses
YAQL `<% %>`, an `input:` list, inline `action: pack.x a=b` parameters and an
`output:` list, none of which Attune can run. A file showing two of these
traits is taken as Orquesta; one alone gets its own located error.
"""

from __future__ import annotations

import re

from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.yamlsafe import YMap, YNode, YScalar, YSeq

INLINE_PARAMS = re.compile(r"^\s*[\w.-]+\.[\w.-]+\s+[\w-]+=")


def _first_yaql(node: YNode) -> YScalar | None:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, YScalar):
            if isinstance(current.value, str) and "<%" in current.value:
                return current
        elif isinstance(current, YSeq):
            stack.extend(reversed(current.items))
        elif isinstance(current, YMap):
            stack.extend(reversed([v for _, v in current.items.values()]))
    return None


def _inline_action(root: YMap) -> YScalar | None:
    tasks = root.items.get("tasks", (None, None))[1]
    entries = (
        [v for _, v in tasks.items.values()]
        if isinstance(tasks, YMap)
        else tasks.items
        if isinstance(tasks, YSeq)
        else []
    )
    for task in entries:
        action = task.items.get("action", (None, None))[1] if isinstance(task, YMap) else None
        if isinstance(action, YScalar) and INLINE_PARAMS.match(str(action.value)):
            return action
    return None


def traits(root: YMap) -> list[tuple[str, YNode]]:
    """(what Attune cannot run, where) for each Orquesta trait found."""
    found: list[tuple[str, YNode]] = []
    for key, what in (("input", "an 'input:' list"), ("output", "an 'output:' list")):
        node = root.items.get(key, (None, None))[1]
        if isinstance(node, YSeq):
            found.append((what, node))
    yaql = _first_yaql(root)
    if yaql is not None:
        found.append(("YAQL '<% %>' expressions", yaql))
    inline = _inline_action(root)
    if inline is not None:
        found.append(("inline action parameters ('action: pack.x a=b')", inline))
    return sorted(found, key=lambda t: (t[1].line, t[1].column))


def check_dialect(root: YMap, rep: Reporter) -> bool:
    """Report an Orquesta file once; True when it is one (then nothing else is checked)."""
    found = traits(root)
    if len(found) < 2:
        return False
    listed = "; ".join(f"{what} (line {node.line})" for what, node in found)
    rep.error(
        "orquesta-dialect",
        f"this is a StackStorm Orquesta workflow, which Attune cannot run: {listed}. "
        "Port it to Attune's format (parameters, '{{ }}' expressions, 'input:' under the "
        "task; see docs/workflow-format.md) or keep it out of the packs directory",
        found[0][1],
    )
    return True
