"""Parse + validate entry points used by the rest of packsync.

PLACEHOLDER: a minimal implementation so the pipeline runs end to end; the
parse/validate work replaces the internals but keeps these signatures.
"""

from __future__ import annotations

from typing import Any

import yaml

from packsync.diagnostics import Diagnostic, error
from packsync.pipeline.model import ActionMeta, HostCatalog, PackMeta, ParsedWorkflow, SourceFile


def _load(file: SourceFile) -> tuple[Any, list[Diagnostic]]:
    try:
        return yaml.safe_load(file.content.decode("utf-8")), []
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return None, [error(file.display_path, "yaml-syntax", str(exc), 1, 1)]


def parse_pack_meta(file: SourceFile) -> tuple[PackMeta | None, list[Diagnostic]]:
    data, diags = _load(file)
    if diags:
        return None, diags
    if not isinstance(data, dict):
        return None, [
            error(file.display_path, "not-a-mapping", "pack.yaml must be a mapping", 1, 1)
        ]
    ref = data.get("ref") or data.get("name")
    if ref != file.pack_ref:
        return None, [
            error(
                file.display_path,
                "pack-ref-mismatch",
                f"pack ref {ref!r} must equal the folder name {file.pack_ref!r}",
                1,
                1,
            )
        ]
    known = {"ref", "name", "label", "description", "version", "tags", "dependencies"}
    return (
        PackMeta(
            ref=file.pack_ref,
            label=data.get("label"),
            description=data.get("description"),
            version=str(data["version"]) if "version" in data else None,
            tags=list(data.get("tags") or []),
            dependencies=list(data.get("dependencies") or []),
            meta={k: v for k, v in data.items() if k not in known},
        ),
        [],
    )


def parse_action_meta(file: SourceFile) -> tuple[ActionMeta | None, list[Diagnostic]]:
    data, diags = _load(file)
    if diags or not isinstance(data, dict):
        return None, diags
    name = str(data.get("ref") or data.get("name") or file.stem_ref.split(".", 1)[1])
    ref = name if "." in name else f"{file.pack_ref}.{name}"
    return ActionMeta(ref=ref, file_path=file.rel_path), []


def parse_workflow(file: SourceFile, catalog: HostCatalog) -> ParsedWorkflow:
    result = ParsedWorkflow(
        ref=file.stem_ref,
        pack_ref=file.pack_ref,
        file_path=file.rel_path,
        content_hash=file.hash,
    )
    data, diags = _load(file)
    result.diagnostics.extend(diags)
    if diags:
        return result
    if not isinstance(data, dict) or "tasks" not in data or "version" not in data:
        result.diagnostics.append(
            error(file.display_path, "required", "a workflow needs 'version' and 'tasks'", 1, 1)
        )
        return result
    result.definition = data
    result.label = data.get("label")
    result.description = data.get("description")
    result.version = str(data["version"])
    result.param_schema = data.get("parameters")
    result.out_schema = data.get("output")
    result.tags = list(data.get("tags") or [])
    result.enabled = bool(data.get("enabled", True))
    return result
