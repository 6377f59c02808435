"""load: a `ScannedPack` → a `LoadedPack` (parse + validate every changed file).

This is the pure composition of the parse and validate stages, shared by the
offline `validate` command and by sync: files whose content hash is already
registered (and not failing) are passed through untouched, so an unchanged
pack costs a hash per file and no parse at all.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from packsync.diagnostics import Diagnostic, error, has_errors
from packsync.pipeline.model import (
    HostCatalog,
    PackMeta,
    ParsedWorkflow,
    ScannedPack,
    ScanResult,
    SourceFile,
    file_ref,
)
from packsync.pipeline.parse import parse_action_meta, parse_pack_meta, parse_workflow
from packsync.pipeline.scan import PACK_REF, WORKFLOW_DIRS, YAML_SUFFIXES, is_hidden


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
    content does (an action YAML can carry an action-linked workflow's rows)."""
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


def build_catalog(scan: ScanResult) -> HostCatalog:
    """Every pack on this host with the actions it defines.

    Packs in `scan` contribute their parsed action names and workflow refs;
    other pack folders under the base directory contribute their file stems.
    """
    catalog = HostCatalog()
    try:
        names = os.listdir(scan.base_dir)
    except OSError:
        names = []
    for name in names:
        if PACK_REF.match(name) and os.path.isdir(os.path.join(scan.base_dir, name)):
            catalog.actions_by_pack[name] = stem_refs_on_disk(scan.base_dir, name)
    for ref, scanned in scan.packs.items():
        catalog.actions_by_pack.setdefault(ref, set()).update(pack_actions(scanned))
    return catalog


def pack_actions(scanned: ScannedPack) -> set[str]:
    """What a scanned pack offers: its parsed action names and workflow refs."""
    refs = {source.stem_ref for source in scanned.workflow_files}
    for source in scanned.action_files:
        action, _ = parse_action_meta(source)
        if action is not None:
            refs.add(action.ref)
    return refs


def _duplicate_ref(source: SourceFile, first: SourceFile) -> Diagnostic:
    return error(
        source.display_path,
        "duplicate-ref",
        f"workflow ref '{source.stem_ref}' is already defined by {first.rel_path}; "
        "rename one of the files",
        1,
        1,
    )


def load_pack(
    scanned: ScannedPack, catalog: HostCatalog, *, known: Mapping[str, str] | None = None
) -> LoadedPack:
    """Parse and validate a pack; `known` maps rel_path → content hash of
    registered, non-failing rows, which are skipped as unchanged."""
    known = known or {}
    loaded = LoadedPack(
        ref=scanned.ref,
        meta=None,
        diagnostics=list(scanned.diagnostics),
        checksum=pack_checksum(scanned),
    )
    if scanned.pack_file is not None:
        loaded.meta, diags = parse_pack_meta(scanned.pack_file)
        loaded.diagnostics.extend(diags)
        if has_errors(diags):
            loaded.meta = None
    loaded.present_paths = {s.rel_path for s in scanned.workflow_files}
    loaded.present_paths.update(scanned.unreadable_workflows)
    claimed: dict[str, SourceFile] = {}
    for source in scanned.workflow_files:
        first = claimed.setdefault(source.stem_ref, source)
        if first is not source:
            parsed = ParsedWorkflow(
                ref=source.stem_ref,
                pack_ref=source.pack_ref,
                file_path=source.rel_path,
                content_hash=source.hash,
                diagnostics=[_duplicate_ref(source, first)],
            )
            loaded.workflows.append(parsed)
        elif known.get(source.rel_path) == source.hash:
            loaded.unchanged.append(source)
        else:
            loaded.workflows.append(parse_workflow(source, catalog))
    return loaded
