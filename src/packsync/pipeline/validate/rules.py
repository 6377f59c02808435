"""Per-task rules that need more than a type check: action references and
their existence on this host, task type requirements, with_items, and
variable names."""

from __future__ import annotations

import re

from packsync.pipeline.model import HostCatalog
from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.validate.structure import TaskInfo, is_template
from packsync.pipeline.yamlsafe import YNode, YScalar, YSeq

ACTION_REF = re.compile(r"^[a-z][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def attune_action_ref(ref: str) -> bool:
    """validator.rs is_valid_action_ref: two or more non-empty '.'-separated parts."""
    parts = ref.split(".")
    return len(parts) >= 2 and all(parts)


def attune_variable_name(name: str) -> bool:
    """validator.rs is_valid_variable_name: Unicode letters/digits, '_' and '-'."""
    return bool(name) and all(c.isalnum() or c in "_-" for c in name)


def check_tasks(infos: list[TaskInfo], catalog: HostCatalog, rep: Reporter) -> None:
    for info in infos:
        _check_action(info, catalog, rep)
        _check_items(info, rep)
        check_tasks(info.subtasks, catalog, rep)


def _check_action(info: TaskInfo, catalog: HostCatalog, rep: Reporter) -> None:
    action = info.keys.get("action")
    if action is None:
        if info.type in ("action", "workflow") and "action" not in info.node.items:
            rep.error(
                "missing-action",
                f"task {info.name!r} of type {info.type!r} needs 'action: <pack>.<action>'",
                info.name_node,
            )
        return
    if not isinstance(action, YScalar) or not isinstance(action.value, str):
        return
    ref = action.value.strip()
    if is_template(ref):
        if not attune_action_ref(ref):
            rep.error(
                "action-format",
                f"action {ref!r}: Attune needs '<pack>.<action>' even in a template "
                "(e.g. '{{ parameters.pack }}.deploy')",
                action,
            )
        return
    if not ACTION_REF.match(ref):
        rep.error(
            "action-format",
            f"action {ref!r} must be '<pack>.<action>' (pack in lower case, e.g. core.echo)",
            action,
        )
        return
    pack = ref.split(".", 1)[0]
    if not catalog.has_pack(pack):
        rep.warning(
            "unknown-pack",
            f"action {ref!r}: pack {pack!r} is not on this host, so the action cannot be "
            "checked; install the pack or fix the name",
            action,
        )
    elif not catalog.has_action(ref):
        # compare the action names only: the shared pack prefix would make every ref "close"
        names = {r.split(".", 1)[1]: r for r in catalog.actions_of(pack) or () if "." in r}
        close = rep.nearest(ref.split(".", 1)[1], names)
        hint = f" (did you mean {names[close]!r}?)" if close else ""
        rep.error("unknown-action", f"pack {pack!r} defines no action {ref!r}{hint}", action)


def _check_items(info: TaskInfo, rep: Reporter) -> None:
    items = info.keys.get("with_items")
    for key in ("batch_size", "concurrency") if items is not None else ():
        value = info.keys.get(key)
        if isinstance(value, YScalar) and value.value == 0:
            rep.error(
                key.replace("_", "-"),
                f"{key} must be at least 1 with 'with_items' (Attune refuses 0)",
                value,
            )
    if items is None:
        for key in ("batch_size", "concurrency"):
            if key in info.keys:
                rep.warning(
                    "with-items",
                    f"{key!r} has no effect without 'with_items' on task {info.name!r}",
                    info.keys[key],
                )
        return
    if isinstance(items, YSeq):
        if not items.items:
            rep.error("with-items", "with_items is an empty list: the task would never run", items)
    elif not (isinstance(items, YScalar) and is_template(items.value)):
        rep.error(
            "with-items",
            "with_items must be a list or a '{{ }}' template that yields a list",
            items,
        )


def check_variable_names(variables: list[tuple[str, YNode, str]], rep: Reporter) -> None:
    """Attune's rule for `vars` names (letters, digits, '_', '-'): an error there, a
    warning for published names (Attune does not check those; `workflow['a b']`
    still reads them). Parameters are free: `parameters['odd name']` works."""
    for name, node, kind in variables:
        if kind == "parameter" or attune_variable_name(name):
            continue
        report = rep.error if kind == "var" else rep.warning
        report(
            "variable-name",
            f"{kind} name {name!r} is not valid: use letters, digits, '_' and '-' "
            "(and '_' rather than '-' so templates can name it bare)",
            node,
        )
