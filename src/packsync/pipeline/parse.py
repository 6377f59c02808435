"""Parse + validate entry points used by the rest of packsync.

`parse_workflow` (files) and `validate_definition` (REST API data) run the same
checks on the same located tree; only the positions differ (line/column for
files, 0:0 plus a JSON path for API data). Nothing here raises on bad input:
every problem, including an internal bug, becomes a located diagnostic.
"""

from __future__ import annotations

import json
import re
from typing import Any

from packsync.core.diagnostics import Diagnostic, has_errors
from packsync.core.refs import PACK_REF, PACK_REF_CODE, pack_ref_message
from packsync.core.text import printable
from packsync.pipeline.model import (
    ActionMeta,
    HostCatalog,
    PackMeta,
    ParsedWorkflow,
    SourceFile,
    action_label,
    content_hash,
)
from packsync.pipeline.normalise import drop_nulls, normalise_workflow
from packsync.pipeline.validate.dialect import check_dialect
from packsync.pipeline.validate.graph import check_graph, check_names
from packsync.pipeline.validate.report import Reporter
from packsync.pipeline.validate.rules import check_tasks, check_variable_names
from packsync.pipeline.validate.schemas import check_schema
from packsync.pipeline.validate.structure import check_workflow
from packsync.pipeline.validate.templates import Names, check_templates
from packsync.pipeline.yamlsafe import YMap, YNode, YScalar, compose, decode, from_plain, to_plain

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
)


def load_mapping(content: bytes, rep: Reporter, what: str) -> YMap | None:
    """Bytes → located mapping, or None with the reasons reported."""
    text, problem = decode(content)
    problems = [problem] if problem else []
    root: YNode | None = None
    if text is not None:
        rep.lines = text.split("\n")
        root, problems = compose(text)
    for p in problems:
        rep.error_at(p.code, p.message, p.line, p.column)
    if root is None:
        return None
    if not isinstance(root, YMap):
        rep.error(
            "not-a-mapping",
            f"{what} must be a YAML mapping (key: value), not a list or a scalar",
            root,
        )
        return None
    return root


def _internal(rep: Reporter, exc: BaseException) -> None:
    rep.error(
        "internal-error",
        f"validator failed on this file ({type(exc).__name__}); please report it",
        None,
    )


def _str(node: YNode | None) -> str | None:
    if isinstance(node, YScalar) and node.value is not None:
        return node.value if isinstance(node.value, str) else node.text
    return None


def _get(root: YMap, key: str) -> YNode | None:
    pair = root.items.get(key)
    return pair[1] if pair else None


def parse_pack_meta(file: SourceFile) -> tuple[PackMeta | None, list[Diagnostic]]:
    rep = Reporter(file.display_path)
    try:
        meta = _pack_meta(file, rep)
    except Exception as exc:  # a bug must not take the daemon down
        _internal(rep, exc)
        meta = None
    diags = rep.finish()
    return (None if has_errors(diags) else meta), diags


def _pack_meta(file: SourceFile, rep: Reporter) -> PackMeta | None:
    root = load_mapping(file.content, rep, "pack.yaml")
    if root is None:
        return None
    ref_key = "ref" if "ref" in root.items else "name"
    ref_node = _get(root, ref_key)
    if ref_node is None:
        rep.error("required", f"pack.yaml needs 'ref: {file.pack_ref}'", root)
    elif not (isinstance(ref_node, YScalar) and isinstance(ref_node.value, str)):
        rep.error("wrong-type", f"pack.yaml {ref_key!r} must be a string", ref_node)
    elif not PACK_REF.match(ref_node.value):
        rep.error(PACK_REF_CODE, pack_ref_message(printable(ref_node.value)), ref_node)
    elif ref_node.value != file.pack_ref:
        rep.error(
            "pack-ref-mismatch",
            f"pack ref {ref_node.value!r} must equal the folder name {file.pack_ref!r}: "
            "rename the folder or fix the ref",
            ref_node,
        )
    for key in ("label", "description"):
        node = _get(root, key)
        if node is not None and not (isinstance(node, YScalar) and isinstance(node.value, str)):
            rep.error("wrong-type", f"pack.yaml {key!r} must be a string", node)
    version = _get(root, "version")
    if version is not None:
        text = _str(version)
        if text is None or isinstance(version, YMap):
            rep.error("wrong-type", "pack.yaml 'version' must be a string such as '1.0.0'", version)
        elif not SEMVER.match(text):
            rep.warning(
                "pack-version",
                f"pack version {text!r} is not semantic versioning: use MAJOR.MINOR.PATCH "
                "(e.g. '1.0.0'), quoted",
                version,
            )
    data = to_plain(root)
    known = {ref_key, "label", "description", "version", "tags", "dependencies"}
    return PackMeta(
        ref=file.pack_ref,
        label=_str(_get(root, "label")),
        description=_str(_get(root, "description")),
        version=_str(version),
        tags=_str_list(data.get("tags")),
        dependencies=_str_list(data.get("dependencies")),
        meta={k: v for k, v in data.items() if k not in known},
    )


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return []


def parse_action_meta(file: SourceFile) -> tuple[ActionMeta | None, list[Diagnostic]]:
    rep = Reporter(file.display_path)
    meta: ActionMeta | None = None
    try:
        root = load_mapping(file.content, rep, "an action file")
        if root is not None:
            node = _get(root, "ref") or _get(root, "name")
            name = _str(node)
            if node is None or not name:
                rep.error("required", "an action file needs 'name' (or 'ref')", node or root)
            else:
                ref = name if name.startswith(f"{file.pack_ref}.") else f"{file.pack_ref}.{name}"
                meta = _action_meta(root, ref, file)
    except Exception as exc:
        _internal(rep, exc)
    diags = rep.finish()
    return (None if has_errors(diags) else meta), diags


def _action_meta(root: YMap, ref: str, file: SourceFile) -> ActionMeta:
    """What Attune's pack loader reads from an action YAML for its linked workflow."""
    data = to_plain(root)
    label, description, tags = data.get("label"), data.get("description"), data.get("tags")
    workflow_file = data.get("workflow_file")
    return ActionMeta(
        ref=ref,
        file_path=file.rel_path,
        label=label if isinstance(label, str) else action_label(ref.rsplit(".", 1)[-1]),
        description=description if isinstance(description, str) else None,
        tags=[t for t in tags if isinstance(t, str)] if isinstance(tags, list) else None,
        param_schema=data.get("parameters"),
        out_schema=data.get("output"),
        workflow_file=workflow_file if isinstance(workflow_file, str) else None,
        content_hash=file.hash,
    )


def parse_workflow(
    file: SourceFile, catalog: HostCatalog, action: ActionMeta | None = None
) -> ParsedWorkflow:
    """`action`: the action YAML whose `workflow_file` names this file, if any."""
    result = ParsedWorkflow(
        ref=action.ref if action is not None else file.stem_ref,
        pack_ref=file.pack_ref,
        file_path=file.rel_path,
        content_hash=file.hash,
        action=action,
    )
    rep = Reporter(file.display_path)
    try:
        root = load_mapping(file.content, rep, "a workflow file")
        if root is not None:
            _validate(root, result, rep, catalog)
    except Exception as exc:
        _internal(rep, exc)
    result.diagnostics = rep.finish()
    return result


def validate_definition(
    data: object, *, pack_ref: str, ref: str, display_path: str, catalog: HostCatalog
) -> ParsedWorkflow:
    """Same checks as `parse_workflow` on JSON data (POST/PUT of API workflows)."""
    rep = Reporter(display_path, api=True)
    try:
        digest = content_hash(json.dumps(data, sort_keys=True, allow_nan=False).encode())
    except (TypeError, ValueError, RecursionError):
        digest = ""
    result = ParsedWorkflow(ref=ref, pack_ref=pack_ref, file_path="", content_hash=digest)
    try:
        if not PACK_REF.match(pack_ref):
            rep.error(PACK_REF_CODE, pack_ref_message(printable(pack_ref)), None)
        root = from_plain(data)
        if not isinstance(root, YMap):
            rep.error("not-a-mapping", "a workflow must be a JSON object", root)
        else:
            _validate(root, result, rep, catalog)
    except ValueError as exc:
        rep.error("invalid-data", f"{exc}: send plain JSON data", None)
    except Exception as exc:
        _internal(rep, exc)
    result.diagnostics = rep.finish()
    return result


def _validate(root: YMap, result: ParsedWorkflow, rep: Reporter, catalog: HostCatalog) -> None:
    if check_dialect(root, rep):
        return
    drop_nulls(root)
    check_workflow(root, rep)
    norm = normalise_workflow(root, rep, linked=result.action is not None)
    definition = norm.definition
    ref_node = _get(root, "ref")
    if (
        isinstance(ref_node, YScalar)
        and isinstance(ref_node.value, str)
        and ref_node.value != result.ref
    ):
        origin = (
            f"the ref of {result.action.file_path}"
            if result.action is not None
            else "<pack>.<file stem>"
        )
        rep.error(
            "ref-mismatch",
            f"ref {ref_node.value!r} must equal {result.ref!r} ({origin}): fix it or remove 'ref'",
            ref_node,
        )
    check_names(norm.tasks, rep, {})
    check_graph(norm.tasks, rep)
    check_tasks(norm.tasks, catalog, rep)
    check_variable_names(norm.variables, rep)
    for key, schema in norm.schemas.items():
        source = _get(root, key)
        if source is not None:
            check_schema(key, source, schema, rep)
    names = Names(
        parameters={name for name, _, kind in norm.variables if kind == "parameter"},
        has_parameters=definition.get("parameters") is not None,
        variables={name for name, _, kind in norm.variables if kind in ("var", "publish")},
        tasks={t["name"] for t in _all_tasks(definition["tasks"])},
    )
    check_templates(root, names, rep)
    enabled = _get(root, "enabled")
    result.enabled = not (isinstance(enabled, YScalar) and enabled.value is False)
    fill_columns(result, definition)


def fill_columns(result: ParsedWorkflow, definition: dict[str, Any]) -> None:
    """The definition and row columns as Attune writes them.

    Standalone (registrar.rs): a file without `ref` gets the file's ref (Attune's
    loader requires one); the row's label falls back to the file name.
    Action-linked (pack_registry/loader.rs): empty ref/label/description/tags of
    the definition come from the action YAML, whose `parameters`/`output` win
    for the row's schemas.
    """
    action = result.action
    if not definition["ref"]:
        definition["ref"] = result.ref
    if action is not None:
        definition["label"] = definition["label"] or action.label
        if definition["description"] is None:
            definition["description"] = action.description or ""
        if not definition["tags"] and action.tags is not None:
            definition["tags"] = list(action.tags)
    result.definition = definition
    result.label = definition["label"] or result.name
    result.description = definition["description"]
    result.version = definition["version"] or None
    result.tags = list(definition["tags"])
    result.param_schema = definition["parameters"]
    result.out_schema = definition["output"]
    if action is not None:
        if action.param_schema is not None:
            result.param_schema = action.param_schema
        if action.out_schema is not None:
            result.out_schema = action.out_schema


def _all_tasks(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for task in tasks:
        out.append(task)
        out.extend(_all_tasks(task.get("tasks") or []))
    return out
