"""diff: the rows a plan would write, as stable text, and unified diffs of them.

Pure. Both sides of a diff are the *stored* form: the registered side is read
back from Attune's rows, the planned side is built by the same
`rows.workflow_columns` / `action_columns` the sync writes with, then
round-tripped through JSON exactly as the jsonb columns store it. So a diff
shows what Attune will load and run, not what the YAML file looks like.
Documents are YAML with sorted keys: the key order of jsonb, of Python dicts
and of the file never shows up as a change.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

import yaml

from packsync.pipeline.model import ParsedWorkflow
from packsync.pipeline.plan import Plan
from packsync.pipeline.rows import action_columns, workflow_columns

# The columns shown, in the order of Attune's tables (values sorted within).
WORKFLOW_FIELDS = (
    "ref",
    "label",
    "description",
    "version",
    "tags",
    "param_schema",
    "out_schema",
    "definition",
)
ACTION_FIELDS = ("ref", "label", "description", "entrypoint", "param_schema", "out_schema")


def stored(value: Any) -> Any:
    """`value` as a jsonb column gives it back (YAML dates become strings)."""
    return json.loads(json.dumps(value, default=str))


def planned_workflow(wf: ParsedWorkflow, plan: Plan) -> dict[str, Any]:
    """The workflow_definition row the sync writes for `wf`."""
    cols = workflow_columns(wf, plan)
    cols["definition"] = wf.definition
    return {name: stored(cols.get(name)) for name in WORKFLOW_FIELDS}


def planned_action(wf: ParsedWorkflow, plan: Plan, pack_ref: str) -> dict[str, Any]:
    """The action row the sync writes beside `wf` (companion or linked)."""
    cols = action_columns(wf, plan, pack_ref)
    return {name: stored(cols.get(name)) for name in ACTION_FIELDS}


def row_document(row: Mapping[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any] | None:
    """A registered row (as read from the database) in the same shape."""
    if row is None:
        return None
    return {name: stored(row.get(name)) for name in fields}


def document(doc: Mapping[str, Any] | None) -> str:
    """Stable YAML text of a row; '' for no row."""
    if doc is None:
        return ""
    parts = []
    for name, value in doc.items():  # the fields in table order, values sorted inside
        parts.append(
            yaml.safe_dump(
                {name: value},
                sort_keys=True,
                default_flow_style=False,
                allow_unicode=True,
                width=100,
            )
        )
    return "".join(parts)


def unified(old: str, new: str, old_label: str, new_label: str) -> str:
    """A unified diff (3 lines of context); '' when the texts are equal."""
    if old == new:
        return ""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=old_label if old else "/dev/null",
        tofile=new_label if new else "/dev/null",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
