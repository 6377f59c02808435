"""Task names and the transition graph: undefined targets, entry tasks,
reachability, join counts and parallel rules. Cycles are allowed.

A task is an entry task when no transition leads to it (Orquesta's rule);
unreachable means no path from any entry task. Sub-tasks of a `parallel`
task form their own scope: their transitions may only name siblings.
"""

from __future__ import annotations

from collections import deque

from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.validate.structure import RESERVED_TASK_NAMES, TaskInfo
from packsync.pipeline.yamlsafe import YScalar

# Orquesta engine commands: Attune has none, a transition must name a task.
ENGINE_COMMANDS = frozenset({"noop", "fail", "continue", "retry"})


def check_names(infos: list[TaskInfo], rep: Reporter, seen: dict[str, TaskInfo]) -> None:
    for info in infos:
        if not info.name:
            if "name" in info.keys:  # a missing name was reported with the task's keys
                rep.error("required", "a task needs a non-empty name", info.name_node)
        elif info.name in seen:
            first = seen[info.name].name_node
            rep.error(
                "duplicate-task",
                f"task name {info.name!r} is already used (line {first.line}): rename one",
                info.name_node,
            )
        else:
            seen[info.name] = info
        if info.name in RESERVED_TASK_NAMES:
            rep.error(
                "reserved-task-name",
                f"{info.name!r} is a reserved context name and cannot name a task: rename it",
                info.name_node,
            )
        check_names(info.subtasks, rep, seen)


def check_graph(infos: list[TaskInfo], rep: Reporter, top_level: bool = True) -> None:
    names = {i.name for i in infos if i.name}
    inbound: dict[str, set[str]] = {n: set() for n in names}
    dangling = False
    for info in infos:
        for target, node in info.targets:
            if target in names:
                inbound[target].add(info.name)
                continue
            dangling = True
            hint = rep.suggest(target, names)
            if not hint and target in ENGINE_COMMANDS:
                hint = (
                    f" ({target!r} is an Orquesta engine command; Attune has none: "
                    "transition to a task, or leave the transition out)"
                )
            rep.error(
                "unknown-task",
                f"task {info.name!r} transitions to undefined task {target!r}{hint}",
                node,
            )
    for info in infos:
        _check_join(info, len(inbound.get(info.name, ())), rep)
        _check_parallel(info, rep)
        if info.subtasks:
            check_graph(info.subtasks, rep, top_level=False)
    if not top_level or not names:
        return
    entries = [i.name for i in infos if i.name and not inbound.get(i.name)]
    if not entries:
        rep.error(
            "no-entry-task",
            "unable to identify any tasks to start the workflow: every task has an inbound "
            "transition; remove one so a task can start",
            infos[0].name_node,
        )
        return
    if dangling:  # a mistyped target orphans its intended task: one cause, reported above
        return
    reached = _reachable(entries, infos)
    for info in infos:
        if not info.name or info.name in reached:
            continue
        after = _reachable([info.name], infos) - reached - {info.name}
        reached |= after | {info.name}
        also = f" (nor can the {len(after)} task(s) it leads to)" if after else ""
        rep.error(
            "unreachable-task",
            f"task {info.name!r} can never run: no path leads to it from a start task{also}; "
            "Attune refuses the workflow: add a transition to it, or remove it",
            info.name_node,
        )


def _reachable(entries: list[str], infos: list[TaskInfo]) -> set[str]:
    edges = {i.name: [t for t, _ in i.targets] for i in infos}
    seen = set(entries)
    queue = deque(entries)
    while queue:
        for nxt in edges.get(queue.popleft(), ()):
            if nxt not in seen and nxt in edges:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _check_join(info: TaskInfo, inbound: int, rep: Reporter) -> None:
    join = info.keys.get("join")
    if not isinstance(join, YScalar):
        return
    needed = inbound if join.value == "all" else join.value
    if isinstance(needed, int) and (needed > inbound or inbound == 0):
        rep.error(
            "join-count",
            f"task {info.name!r} joins {join.text} branches but only {inbound} task(s) "
            "transition to it: lower the join count or add transitions",
            join,
        )


def _check_parallel(info: TaskInfo, rep: Reporter) -> None:
    sub = info.keys.get("tasks")
    if info.type == "parallel":
        if not info.subtasks:
            rep.error(
                "parallel-no-tasks",
                f"parallel task {info.name!r} needs sub-tasks under 'tasks'",
                info.keys.get("type") or info.name_node,
            )
        for key in ("action", "with_items"):
            if key in info.keys:
                rep.error(
                    "parallel-rules",
                    f"a parallel task cannot have {key!r}: put it on its sub-tasks",
                    info.keys[key],
                )
    elif sub is not None:
        rep.error(
            "parallel-rules",
            f"task {info.name!r} has sub-tasks but is not 'type: parallel': "
            "add it or remove 'tasks'",
            sub,
        )
