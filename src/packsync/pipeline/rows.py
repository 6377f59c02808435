"""rows: the columns of the rows a plan writes, in the form Attune's registrar
(and, for action-linked workflows, its pack loader) stores them.

Pure, so the sync that writes them (sync/register.py) and the plan that shows
them (pipeline/diff.py) build the very same rows.
"""

from __future__ import annotations

from typing import Any

from packsync.pipeline.model import ParsedWorkflow
from packsync.pipeline.plan import Plan


def companion_entrypoint(ref: str, pack_ref: str) -> str:
    """Attune's registrar: `workflows/<name>.workflow.yaml`, name = the ref
    without its pack prefix (the file stem when ref = `<pack>.<stem>`)."""
    return f"workflows/{ref.removeprefix(pack_ref + '.')}.workflow.yaml"


def workflow_columns(wf: ParsedWorkflow, plan: Plan) -> dict[str, Any]:
    """workflow_definition's columns for a workflow. An action-linked one takes
    what its file leaves out from the action YAML, as Attune's pack loader does
    (schemas: the action YAML's first)."""
    link = plan.links.get(wf.file_path)
    name = wf.ref.rsplit(".", 1)[-1]
    cols: dict[str, Any] = {
        "ref": wf.ref,
        "label": wf.label or name,
        "description": wf.description,
        "version": wf.version or "",
        "param_schema": wf.param_schema,
        "out_schema": wf.out_schema,
        "tags": [str(t) for t in wf.tags],
    }
    if link is not None:
        cols["label"] = wf.label or link.label
        if wf.description is None:
            cols["description"] = link.description or ""
        if link.param_schema is not None:
            cols["param_schema"] = link.param_schema
        if link.out_schema is not None:
            cols["out_schema"] = link.out_schema
        cols["tags"] = cols["tags"] or list(link.tags)
    return cols


def action_columns(wf: ParsedWorkflow, plan: Plan, pack_ref: str) -> dict[str, Any]:
    """The action row beside a workflow: the companion action of Attune's
    registrar, or the action an action YAML defines (pack loader)."""
    link = plan.links.get(wf.file_path)
    if link is not None:
        return {
            "ref": link.ref,
            "label": link.label,
            "description": link.description,
            "entrypoint": link.entrypoint,
            "param_schema": link.param_schema,
            "out_schema": link.out_schema,
        }
    cols = workflow_columns(wf, plan)
    return {
        "ref": wf.ref,
        "label": cols["label"],
        "description": cols["description"],
        "entrypoint": companion_entrypoint(wf.ref, pack_ref),
        "param_schema": cols["param_schema"],
        "out_schema": cols["out_schema"],
    }
