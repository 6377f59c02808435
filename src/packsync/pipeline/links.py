"""Action-linked workflows: the action YAML whose `workflow_file` names a
workflow file of the pack, as Attune's pack loader reads it
(pack_registry/loader.rs `load_actions` / `load_workflow_for_action`).

That action YAML is authoritative for the action row linked to the workflow
(ref, label, description, parameters, output, entrypoint = `workflow_file` as
written). Which YAML links which file is decided once, by
`load.linked_actions`; this module turns its answer into the rows' terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from packsync.core.storable import plain_json
from packsync.pipeline.load import linked_actions
from packsync.pipeline.model import ActionMeta, ScannedPack


@dataclass(frozen=True, slots=True)
class ActionLink:
    """The action an action YAML defines for the workflow file it links."""

    ref: str
    label: str
    description: str | None
    entrypoint: str
    param_schema: dict[str, Any] | None
    out_schema: dict[str, Any] | None
    tags: list[str] = field(default_factory=list)
    action_file: str = ""
    # sha256 of the action YAML: recorded beside the workflow file's hash, so an
    # edit of the action YAML alone updates the rows
    action_hash: str = ""


def action_links(scanned: ScannedPack) -> dict[str, ActionLink]:
    """Workflow rel_path → the action row linked to it: the rows' view of
    `load.linked_actions`, which reads the action YAMLs (one rule for both)."""
    metas, _ = linked_actions(scanned)
    return {path: _link(meta) for path, meta in metas.items()}


def _link(meta: ActionMeta) -> ActionLink:
    assert meta.workflow_file is not None  # linked_actions keeps only linking files
    return ActionLink(
        ref=meta.ref,
        label=meta.label,
        description=meta.description,
        entrypoint=meta.workflow_file,
        param_schema=plain_json(meta.param_schema) if meta.param_schema is not None else None,
        out_schema=plain_json(meta.out_schema) if meta.out_schema is not None else None,
        tags=list(meta.tags or []),
        action_file=meta.file_path,
        action_hash=meta.content_hash,
    )
