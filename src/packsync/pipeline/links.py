"""Action-linked workflows: the action YAML whose `workflow_file` names a
workflow file of the pack, as Attune's pack loader reads it
(pack_registry/loader.rs `load_actions` / `load_workflow_for_action`).

That action YAML is authoritative for the action row linked to the workflow
(ref, label, description, parameters, output, entrypoint = `workflow_file` as
written) and fills what the workflow file leaves out. Pure: reads the bytes
scan already holds.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from packsync.db.storable import plain_json
from packsync.pipeline.model import ScannedPack, SourceFile
from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.yamlsafe import to_plain


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


def generate_label(name: str) -> str:
    """Attune's label for an action YAML without one: `deploy_app` → `Deploy App`."""
    return " ".join(w[:1].upper() + w[1:] for w in name.split("_"))


def action_links(scanned: ScannedPack) -> dict[str, ActionLink]:
    """Workflow rel_path → the action linked to it (the first action file, in
    path order, when several name the same workflow file)."""
    present = {s.rel_path for s in scanned.workflow_files}
    links: dict[str, ActionLink] = {}
    for source in sorted(scanned.action_files, key=lambda s: s.rel_path):
        found = _link(source)
        if found is None:
            continue
        path, link = found
        if path in present and path not in links:
            links[path] = link
    return links


def _link(source: SourceFile) -> tuple[str, ActionLink] | None:
    from packsync.pipeline.parse import load_mapping  # parse imports the pipeline

    root = load_mapping(source.content, Reporter(source.display_path), "an action file")
    if root is None:
        return None
    data = to_plain(root)
    workflow_file = data.get("workflow_file")
    ref = data.get("ref") or data.get("name")
    if not isinstance(workflow_file, str) or not workflow_file or not isinstance(ref, str):
        return None
    if "." not in ref:
        ref = f"{source.pack_ref}.{ref}"
    base = posixpath.dirname(source.rel_path)
    path = posixpath.normpath(posixpath.join(base, workflow_file))
    if path.startswith("../") or path == ".." or posixpath.isabs(path):
        return None  # escapes the pack: Attune's loader refuses it too
    name = ref.rsplit(".", 1)[-1]
    label = data.get("label")
    description = data.get("description")
    params = data.get("parameters")
    output = data.get("output")
    tags = data.get("tags")
    return path, ActionLink(
        ref=ref,
        label=label if isinstance(label, str) else generate_label(name),
        description=description if isinstance(description, str) else None,
        entrypoint=workflow_file,
        param_schema=plain_json(params) if params is not None else None,
        out_schema=plain_json(output) if output is not None else None,
        tags=[t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        action_file=source.rel_path,
        action_hash=source.hash,
    )
