"""load: a `ScannedPack` → a `LoadedPack` (parse + validate every changed file).

This is the pure composition of the parse and validate stages, shared by the
offline `validate` command and by sync: files whose content hash is already
registered (and not failing) are passed through untouched, so an unchanged
pack costs a hash per file and no parse at all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from packsync.core.diagnostics import Diagnostic, error, has_errors, warning
from packsync.pipeline.model import (
    ActionMeta,
    HostCatalog,
    PackMeta,
    ParsedWorkflow,
    ScannedPack,
    SourceFile,
    file_ref,
)
from packsync.pipeline.scan import WORKFLOW_DIRS, YAML_SUFFIXES, is_hidden


# The parser and its validators load on first use: a sweep that finds every
# pack unchanged (and `sync`'s start-up) never imports them.
def parse_workflow(
    source: SourceFile, catalog: HostCatalog, action: ActionMeta | None = None
) -> ParsedWorkflow:
    from packsync.pipeline.parse import parse_workflow as parse

    return parse(source, catalog, action)


def parse_action_meta(source: SourceFile) -> tuple[ActionMeta | None, list[Diagnostic]]:
    """One parse per action file content: a sync asks three times (the
    catalog, the action links, load_pack)."""
    key = (source.hash, source.pack_ref, source.rel_path, source.display_path)
    hit = _ACTION_METAS.get(key)
    if hit is None:
        from packsync.pipeline.parse import parse_action_meta as parse

        hit = parse(source)
        if len(_ACTION_METAS) >= 4096:
            _ACTION_METAS.clear()
        _ACTION_METAS[key] = hit
    return hit[0], list(hit[1])


_ACTION_METAS: dict[tuple[str, str, str, str], tuple[ActionMeta | None, list[Diagnostic]]] = {}


def parse_pack_meta(source: SourceFile) -> tuple[PackMeta | None, list[Diagnostic]]:
    from packsync.pipeline.parse import parse_pack_meta as parse

    return parse(source)


@dataclass(slots=True)
class LoadedPack:
    ref: str
    # None: pack in error (pack.yaml missing or broken); registered rows are kept.
    meta: PackMeta | None
    workflows: list[ParsedWorkflow] = field(default_factory=list)
    unchanged: list[SourceFile] = field(default_factory=list)
    # Every workflow rel_path present on disk, unreadable ones included: a file
    # that exists but cannot be read is failing, not removed.
    present_paths: set[str] = field(default_factory=set)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    checksum: str = ""
    # rel path → why .packsyncignore left the file out (not loaded, not "removed")
    ignored: dict[str, str] = field(default_factory=dict)
    stamp: str | None = None  # the scan's stat stamp (ScannedPack.stamp)

    @property
    def all_diagnostics(self) -> list[Diagnostic]:
        out = list(self.diagnostics)
        for wf in self.workflows:
            out.extend(wf.diagnostics)
        return out

    @property
    def has_errors(self) -> bool:
        return has_errors(self.all_diagnostics)


def pack_checksum(scanned: ScannedPack) -> str:
    """Changes whenever pack.yaml or any workflow or action file's name or
    content does (an action YAML gives its linked workflow's columns and rows)."""
    digest = hashlib.sha256()
    if scanned.pack_file is not None:
        digest.update(scanned.pack_file.hash.encode())
    for source in sorted(
        (*scanned.workflow_files, *scanned.action_files), key=lambda s: s.rel_path
    ):
        digest.update(f"\0{source.rel_path}\0{source.hash}".encode())
    return digest.hexdigest()


def stem_refs_on_disk(base_dir: os.PathLike[str] | str, ref: str) -> set[str]:
    """Action refs a pack offers, from file names only (no reads). Listing every
    pack for every sync is still quadratic in a storm: sync goes through
    `catalog.CatalogCache`, which re-lists only the packs that changed."""
    refs: set[str] = set()
    root = os.path.join(base_dir, ref)
    for sub in ("actions", *WORKFLOW_DIRS):
        try:
            names = os.listdir(os.path.join(root, sub))
        except OSError:
            continue
        for name in names:
            if name.endswith(YAML_SUFFIXES) and not is_hidden(name):
                refs.add(file_ref(ref, name))
    return refs


def pack_actions(scanned: ScannedPack) -> set[str]:
    """What a scanned pack offers: its parsed action names and workflow refs."""
    refs = {source.stem_ref for source in scanned.workflow_files}
    for source in scanned.action_files:
        action, _ = parse_action_meta(source)
        if action is not None:
            refs.add(action.ref)
    return refs


def linked_hash(source: SourceFile, action: ActionMeta | None) -> str:
    """The content identity of a workflow: its file's hash, combined with its
    action YAML's for an action-linked one (that YAML gives its ref, label,
    schemas), so editing either re-registers it."""
    if action is None:
        return source.hash
    return hashlib.sha256(f"{source.hash}\0{action.content_hash}".encode()).hexdigest()


def linked_actions(scanned: ScannedPack) -> tuple[dict[str, ActionMeta], list[Diagnostic]]:
    """Workflow rel_path → the action YAML whose `workflow_file` names it (the
    first by file name, as Attune's pack loader reads them in that order)."""
    links: dict[str, ActionMeta] = {}
    diags: list[Diagnostic] = []
    sources = {s.rel_path: s for s in scanned.workflow_files}
    for source in sorted(scanned.action_files, key=lambda s: s.rel_path.rsplit("/", 1)[-1]):
        action, _ = parse_action_meta(source)
        path = action.workflow_path if action is not None else None
        if action is None or path is None or path not in sources:
            continue
        first = links.setdefault(path, action)
        if first is not action:
            diags.append(
                warning(
                    source.display_path,
                    "shared-workflow-file",
                    f"workflow_file {action.workflow_file!r} is already linked to "
                    f"{first.ref!r} ({first.file_path}); packsync registers it once, "
                    f"under {first.ref!r}",
                    1,
                    1,
                )
            )
    return links, diags


def _duplicate_ref(source: SourceFile, first: SourceFile, ref: str) -> Diagnostic:
    return error(
        source.display_path,
        "duplicate-ref",
        f"workflow ref '{ref}' is already defined by {first.rel_path}; rename one of the files",
        1,
        1,
    )


def load_pack(
    scanned: ScannedPack,
    catalog: HostCatalog,
    *,
    known: Mapping[str, str] | None = None,
    parse: Callable[[SourceFile, HostCatalog, ActionMeta | None], ParsedWorkflow] | None = None,
) -> LoadedPack:
    """Parse and validate a pack; `known` maps rel_path → content hash of
    registered, non-failing rows, which are skipped as unchanged. `parse`:
    parse_workflow, or a stand-in for it (preload.py: parsed ahead)."""
    known = known or {}
    parse = parse or parse_workflow
    loaded = LoadedPack(
        ref=scanned.ref,
        meta=None,
        diagnostics=list(scanned.diagnostics),
        checksum=pack_checksum(scanned),
        stamp=scanned.stamp,
    )
    if scanned.pack_file is not None:
        loaded.meta, diags = parse_pack_meta(scanned.pack_file)
        loaded.diagnostics.extend(diags)
        if has_errors(diags):
            loaded.meta = None
    loaded.present_paths = {s.rel_path for s in scanned.workflow_files}
    loaded.present_paths.update(scanned.unreadable_workflows)
    loaded.ignored = dict(scanned.ignored)
    links, diags = linked_actions(scanned)
    loaded.diagnostics.extend(diags)
    claimed: dict[str, SourceFile] = {}
    for source in scanned.workflow_files:
        action = links.get(source.rel_path)
        ref = action.ref if action is not None else source.stem_ref
        first = claimed.setdefault(ref, source)
        if first is not source:
            parsed = ParsedWorkflow(
                ref=ref,
                pack_ref=source.pack_ref,
                file_path=source.rel_path,
                content_hash=source.hash,
                diagnostics=[_duplicate_ref(source, first, ref)],
                action=action,
            )
            loaded.workflows.append(parsed)
        elif known.get(source.rel_path) == linked_hash(source, action):
            loaded.unchanged.append(source)
        else:
            parsed = parse(source, catalog, action)
            parsed.content_hash = linked_hash(source, action)
            loaded.workflows.append(parsed)
    return loaded
