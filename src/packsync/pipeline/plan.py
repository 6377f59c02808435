"""plan: registered state of one pack + what is on disk → the writes to make.

Pure (no I/O), so every sync rule of SPEC §6 is decided in one place and can
be read top to bottom: unchanged files cost nothing, a failing file keeps its
last good row, api rows are never touched, a pack owned by another sync_group
is a conflict, and deletes happen only when the caller's guard allows them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from packsync.core.diagnostics import Diagnostic, error, has_errors
from packsync.core.results import PackResult, WorkflowResult
from packsync.core.storable import plain_json, unstorable
from packsync.pipeline.ignore import ignored_pack_message, ignored_registered
from packsync.pipeline.links import ActionLink
from packsync.pipeline.load import LoadedPack
from packsync.pipeline.model import ParsedWorkflow, ScannedPack, file_ref
from packsync.pipeline.scan import PACK_FILE, WORKFLOW_DIRS

PACK_FOLDER = "."  # error-row file_path for problems with the folder itself
NOT_FOUND = "no pack folder and nothing registered"


@dataclass(frozen=True, slots=True)
class RegisteredWorkflow:
    """A workflow row packsync owns (managed_workflow), as read under the lock."""

    id: int
    ref: str
    file_path: str | None
    content_hash: str | None
    source: str
    action_id: int | None = None
    # False: Attune's row is gone (deleted by Attune): the state row is stale.
    exists: bool = True
    # sha256 of the action YAML an action-linked workflow was written from
    link_hash: str | None = None


@dataclass(slots=True)
class RegisteredPack:
    """The database's view of one pack, read under the pack lock."""

    ref: str
    pack: dict[str, Any] | None = None  # Attune's pack row, None when there is none
    managed: dict[str, Any] | None = None  # packsync's managed_pack row
    workflows: list[RegisteredWorkflow] = field(default_factory=list)
    # Refs of this pack's workflow_definition and action rows packsync does not own.
    taken: set[str] = field(default_factory=set)
    errors: dict[str, Any] = field(default_factory=dict)  # file_path → errors jsonb

    @property
    def owner(self) -> str | None:
        return None if self.managed is None else str(self.managed["sync_group"])

    @property
    def pack_id(self) -> int | None:
        return None if self.pack is None else int(self.pack["id"])

    @property
    def created_pack(self) -> bool:
        """packsync created the Attune pack row that exists now."""
        return (
            self.pack_id is not None
            and self.managed is not None
            and self.managed["created_pack_id"] == self.pack_id
        )

    @property
    def registered(self) -> bool:
        return self.managed is not None

    def file_rows(self) -> dict[str, RegisteredWorkflow]:
        return {
            w.file_path: w
            for w in self.workflows
            if w.source == "file" and w.file_path and w.exists
        }

    def stale_ids(self) -> list[int]:
        return sorted(w.id for w in self.workflows if not w.exists and w.source == "file")

    def known(self, links: Mapping[str, ActionLink] | None = None) -> dict[str, str]:
        """rel_path → hash of registered file rows without an error row whose
        action link (if any) is unchanged: the files load_pack may skip
        without parsing."""
        links = links or {}
        return {
            path: row.content_hash
            for path, row in self.file_rows().items()
            if row.content_hash
            and path not in self.errors
            and row.link_hash == link_hash(links.get(path))
        }


@dataclass(frozen=True, slots=True)
class PackRow:
    """Attune's pack row as packsync writes it from pack.yaml."""

    ref: str
    label: str
    description: str | None
    version: str
    tags: list[str]
    dependencies: list[str]
    meta: dict[str, Any]
    storage_path: str


@dataclass(frozen=True, slots=True)
class ManagedPack:
    """packsync's record of a pack it manages (state schema)."""

    sync_group: str
    storage_path: str
    checksum: str
    stamp: str | None = None  # the stat stamp of the scan the checksum came from


@dataclass(frozen=True, slots=True)
class ErrorRow:
    file_path: str
    ref: str | None
    errors: list[dict[str, Any]]


@dataclass(slots=True)
class Plan:
    result: PackResult
    pack_id: int | None = None  # Attune's pack id (None: pack_row will create it)
    created_pack_id: int | None = None  # the pack row packsync created, if it did
    pack_row: PackRow | None = None  # insert (pack_id None) or update of a created row
    managed: ManagedPack | None = None  # packsync's pack record to write, None: no write
    stamp: str | None = None  # an unchanged pack's new stat stamp (nothing else written)
    upserts: list[ParsedWorkflow] = field(default_factory=list)
    # rel_path → the registered row an upsert replaces (same ref) or None (new)
    replaces: dict[str, int] = field(default_factory=dict)
    links: dict[str, ActionLink] = field(default_factory=dict)
    delete_ids: list[int] = field(default_factory=list)
    remove_pack: bool = False  # folder gone: drop file rows and what packsync created
    set_errors: list[ErrorRow] = field(default_factory=list)
    clear_errors: list[str] = field(default_factory=list)
    clear_all_errors: bool = False

    @property
    def writes_nothing(self) -> bool:
        return not (
            self.pack_row
            or self.managed
            or self.stamp
            or self.upserts
            or self.delete_ids
            or self.remove_pack
            or self.set_errors
            or self.clear_errors
            or self.clear_all_errors
        )

    def link_hash(self, wf: ParsedWorkflow) -> str | None:
        return link_hash(self.links.get(wf.file_path))


def link_hash(link: ActionLink | None) -> str | None:
    return None if link is None else link.action_hash


@dataclass(frozen=True, slots=True)
class PlanOptions:
    sync_group: str
    storage_path: str  # logical: base dir / ref, never a resolved symlink target
    pack_root: str  # display prefix of the pack's diagnostics (str(ScannedPack.root))
    skip_validation_errors: bool = True
    update_existing: bool = True
    create_packs: bool = True


def _rel_path(file: str, pack_root: str) -> str:
    prefix = pack_root.rstrip("/") + "/"
    if file.startswith(prefix):
        return file[len(prefix) :]
    return PACK_FOLDER if file.rstrip("/") == pack_root.rstrip("/") else PACK_FILE


# Attune's column widths (workflow_definition: varchar(255) ref/label, varchar(50) version).
_WIDTHS = (("ref", 255), ("label", 255), ("version", 50))


def _storage_problem(wf: ParsedWorkflow, pack_root: str) -> Diagnostic | None:
    fields = [wf.label, wf.description, wf.version, wf.tags, wf.definition]
    fields += [wf.param_schema, wf.out_schema]
    found = unstorable(fields, check_depth=False)
    problem = found[1] if found else None
    if problem is None:
        for name, width in _WIDTHS:
            value = getattr(wf, name)
            if isinstance(value, str) and len(value) > width:
                problem = f"a {name} longer than {width} characters (Attune's column width)"
                break
    if problem is None:
        return None
    return error(
        f"{pack_root}/{wf.file_path}",
        "unstorable-text",
        f"the workflow contains {problem}, which the database cannot store; remove it",
        1,
        1,
    )


def _api_conflict(wf: ParsedWorkflow, pack_root: str) -> Diagnostic:
    return error(
        f"{pack_root}/{wf.file_path}",
        "ref-conflict",
        f"workflow '{wf.ref}' is managed through the API (source 'api'); "
        "rename the file or delete the API workflow",
        1,
        1,
    )


def _attune_conflict(wf: ParsedWorkflow, ref: str, pack_root: str) -> Diagnostic:
    return error(
        f"{pack_root}/{wf.file_path}",
        "ref-conflict",
        f"'{ref}' is already registered in Attune by something other than packsync "
        "(Attune's API, UI or pack loader); packsync leaves that row alone: rename the "
        "file or remove the existing workflow/action in Attune",
        1,
        1,
    )


def unchanged_pack(
    registered: RegisteredPack, scanned: ScannedPack, checksum: str, opts: PlanOptions
) -> PackResult | None:
    """The fast path of a sweep: when the pack's checksum (pack.yaml + every
    workflow file's path and hash) matches the registered one, every file row
    matches the disk and nothing is failing, the pack needs no parse at all
    (pack.yaml included). None: take the full path."""
    managed = registered.managed
    if (
        managed is None
        or registered.pack is None
        or not opts.update_existing
        or registered.owner != opts.sync_group
        or registered.errors
        or registered.stale_ids()
        or managed["checksum"] != checksum
        or managed["storage_path"] != opts.storage_path
        or has_errors(scanned.diagnostics)
        or scanned.unreadable_workflows
    ):
        return None
    file_rows = registered.file_rows()
    on_disk = {s.rel_path: s.hash for s in scanned.workflow_files}
    if {p: r.content_hash for p, r in file_rows.items()} != on_disk:
        return None
    return unchanged_result(registered.ref, file_rows, scanned.diagnostics)


def unchanged_result(
    ref: str, file_rows: Mapping[str, RegisteredWorkflow], diagnostics: list[Diagnostic]
) -> PackResult:
    """What a pack that needs no write reports: every file row unchanged."""
    result = PackResult(pack_ref=ref, diagnostics=list(diagnostics))
    result.workflows = [
        WorkflowResult(r.ref, p, "unchanged", r.id) for p, r in sorted(file_rows.items())
    ]
    result.loaded = len(file_rows)
    return result


def stamp_refresh(registered: RegisteredPack, scanned: ScannedPack) -> str | None:
    """An unchanged pack's stat stamp to record, when it moved (a touched
    file) and can be had; None: nothing to write."""
    current = None if registered.managed is None else registered.managed.get("stamp")
    return scanned.stamp if scanned.stamp not in (None, current) else None


def plan_removed(registered: RegisteredPack, opts: PlanOptions, *, refused: str | None) -> Plan:
    """The pack folder is gone. `refused` is the deletion guard's reason, if any."""
    result = PackResult(pack_ref=registered.ref, outcome="removed")
    plan = Plan(result=result)
    if registered.owner is not None and registered.owner != opts.sync_group:
        result.outcome = "ok"
        result.message = f"pack is registered by sync_group '{registered.owner}'; not touched"
        plan.clear_all_errors = bool(registered.errors)
        return plan
    file_rows = registered.file_rows()
    if refused is not None and (file_rows or registered.registered):
        result.outcome = "refused"
        result.message = refused
        return plan
    plan.remove_pack = registered.registered
    plan.clear_all_errors = bool(registered.errors)
    for path, row in sorted(file_rows.items()):
        result.workflows.append(WorkflowResult(row.ref, path, "deleted", row.id))
    if not registered.registered:
        result.message = NOT_FOUND
    return plan


def plan_pack(
    registered: RegisteredPack,
    loaded: LoadedPack,
    opts: PlanOptions,
    links: dict[str, ActionLink] | None = None,
) -> Plan:
    """The pack folder exists: compare it with the registered state. `links`:
    workflow rel_path → the action its action YAML defines (action-linked)."""
    result = PackResult(pack_ref=loaded.ref, diagnostics=list(loaded.diagnostics))
    plan = Plan(
        result=result,
        pack_id=registered.pack_id,
        created_pack_id=registered.pack_id if registered.created_pack else None,
        links=dict(links or {}),
    )
    result.loaded = len(loaded.present_paths)
    pack_file_display = f"{opts.pack_root}/{PACK_FILE}"

    if registered.owner is not None and registered.owner != opts.sync_group:
        result.outcome = "conflict"
        result.diagnostics.append(
            error(
                pack_file_display,
                "pack-conflict",
                f"pack '{loaded.ref}' is already registered by sync_group '{registered.owner}'; "
                "the owner keeps it (rename this pack or remove it from one host)",
            )
        )
        return plan

    error_rows = _pack_level_error_rows(registered, loaded, opts)
    results = _workflow_changes(plan, registered, loaded, opts, error_rows)
    _keep_ignored(registered, loaded, opts, results, error_rows)

    meta_problem = _meta_problem(loaded, pack_file_display) or _pack_row_problem(
        registered, loaded, opts, pack_file_display
    )
    if meta_problem is not None:
        result.diagnostics.append(meta_problem)
        pack_diags = [
            d for d in loaded.diagnostics if _rel_path(d.file, opts.pack_root) == PACK_FILE
        ]
        error_rows[PACK_FILE] = ErrorRow(
            PACK_FILE, None, [d.to_dict() for d in (*pack_diags, meta_problem)]
        )
    if loaded.meta is None or meta_problem is not None:
        # Pack in error: a located diagnostic, nothing registered, rows kept.
        result.outcome = "pack-error"
        if not any(d.is_error for d in result.diagnostics):
            result.diagnostics.append(
                error(pack_file_display, "pack-error", "pack.yaml is invalid")
            )
        _hold_writes(plan, results)
        _finish(plan, registered, results, error_rows)
        return plan

    failing = any(w.change == "failed" for w in results.values()) or bool(error_rows)
    if failing and not opts.skip_validation_errors:
        # The whole pack fails: nothing written but the error rows.
        result.outcome = "errors"
        result.message = "pack not synced: some files fail and skip_validation_errors is false"
        _hold_writes(plan, results)
        _finish(plan, registered, results, error_rows)
        return plan

    for path, row in sorted(registered.file_rows().items()):
        if path not in loaded.present_paths and path not in results:
            results[path] = WorkflowResult(row.ref, path, "deleted", row.id)
            plan.delete_ids.append(row.id)
    plan.delete_ids.extend(registered.stale_ids())
    plan.pack_row = _pack_row_change(registered, loaded, opts)
    managed = ManagedPack(opts.sync_group, opts.storage_path, loaded.checksum, loaded.stamp)
    current = registered.managed
    if (
        current is None
        or plan.pack_row is not None
        or (current["storage_path"], current["checksum"], current.get("stamp"))
        != (managed.storage_path, managed.checksum, managed.stamp)
    ):
        plan.managed = managed
    result.outcome = "errors" if failing else "ok"
    _finish(plan, registered, results, error_rows)
    return plan


def _keep_ignored(
    registered: RegisteredPack,
    loaded: LoadedPack,
    opts: PlanOptions,
    results: dict[str, WorkflowResult],
    error_rows: dict[str, ErrorRow],
) -> None:
    """A registered workflow whose file an ignore rule hides is not "gone":
    it fails with `ignored-registered` and keeps its rows."""
    for path, row in sorted(registered.file_rows().items()):
        reason = loaded.ignored.get(path)
        if reason is None or path in loaded.present_paths:
            continue
        diag = ignored_registered(f"{opts.pack_root}/{path}", row.ref, reason)
        results[path] = WorkflowResult(row.ref, path, "failed", row.id, errors=[diag])
        error_rows[path] = ErrorRow(path, row.ref, [diag.to_dict()])


def ignored_pack(registered: RegisteredPack, reason: str, opts: PlanOptions) -> PackResult:
    """A base rule leaves the whole pack folder out: nothing to do when nothing of
    this group is registered; otherwise a refusal that keeps every row (no writes)."""
    result = PackResult(pack_ref=registered.ref, message=f"ignored ({reason})")
    mine = registered.owner in (None, opts.sync_group)
    if mine and (registered.registered or registered.file_rows()):
        result.outcome = "refused"
        result.message = ignored_pack_message(reason)
        result.diagnostics.append(error(opts.pack_root, "ignored-registered", result.message))
    return result


def _is_workflow_path(path: str) -> bool:
    return path.startswith(tuple(f"{d}/" for d in WORKFLOW_DIRS))


def _pack_level_error_rows(
    registered: RegisteredPack, loaded: LoadedPack, opts: PlanOptions
) -> dict[str, ErrorRow]:
    """Error rows for pack-level diagnostics (pack.yaml, unreadable files), per file."""
    file_rows = registered.file_rows()
    by_file: dict[str, list[Diagnostic]] = defaultdict(list)
    for diag in loaded.diagnostics:
        by_file[_rel_path(diag.file, opts.pack_root)].append(diag)
    rows: dict[str, ErrorRow] = {}
    for path, diags in by_file.items():
        if has_errors(diags):
            row = file_rows.get(path)
            ref = row.ref if row else None
            if ref is None and _is_workflow_path(path):
                ref = file_ref(loaded.ref, path)
            rows[path] = ErrorRow(path, ref, [d.to_dict() for d in diags])
    return rows


def _workflow_changes(
    plan: Plan,
    registered: RegisteredPack,
    loaded: LoadedPack,
    opts: PlanOptions,
    error_rows: dict[str, ErrorRow],
) -> dict[str, WorkflowResult]:
    """Classify every workflow file on disk; queue upserts and error rows."""
    file_rows = registered.file_rows()
    api_refs = {w.ref for w in registered.workflows if w.source == "api"}
    results: dict[str, WorkflowResult] = {}
    for wf in loaded.workflows:
        existing = file_rows.get(wf.file_path)
        if existing is not None and existing.ref != wf.ref:
            # same file, another ref: the old rows go, new ones are created
            plan.delete_ids.append(existing.id)
            existing = None
        rid = existing.id if existing else None
        errors = [d for d in wf.diagnostics if d.is_error]
        warnings = [d for d in wf.diagnostics if not d.is_error]
        if not errors:
            link = plan.links.get(wf.file_path)
            extra = _registration_problem(wf, api_refs, opts.pack_root) or _taken_problem(
                wf, link.ref if link else wf.ref, registered.taken, opts.pack_root
            )
            errors.extend([extra] if extra is not None else [])
        if errors:
            results[wf.file_path] = WorkflowResult(
                wf.ref, wf.file_path, "failed", rid, warnings, errors
            )
            merged = _merge(wf.diagnostics, errors)
            error_rows[wf.file_path] = ErrorRow(wf.file_path, wf.ref, [d.to_dict() for d in merged])
        elif existing is None:
            results[wf.file_path] = WorkflowResult(wf.ref, wf.file_path, "created", None, warnings)
            plan.upserts.append(wf)
        elif (
            existing.content_hash == wf.content_hash and existing.link_hash == plan.link_hash(wf)
        ) or not opts.update_existing:
            results[wf.file_path] = WorkflowResult(wf.ref, wf.file_path, "unchanged", rid, warnings)
        else:
            results[wf.file_path] = WorkflowResult(wf.ref, wf.file_path, "updated", rid, warnings)
            plan.upserts.append(wf)
            plan.replaces[wf.file_path] = existing.id
    for source in loaded.unchanged:
        row = file_rows.get(source.rel_path)
        results[source.rel_path] = WorkflowResult(
            row.ref if row else source.stem_ref,
            source.rel_path,
            "unchanged",
            row.id if row else None,
        )
    # Present on disk but unreadable (too large, escaping symlink...): failing, kept.
    for path in sorted(loaded.present_paths - results.keys()):
        row = file_rows.get(path)
        diags = error_rows[path].errors if path in error_rows else []
        results[path] = WorkflowResult(
            row.ref if row else file_ref(loaded.ref, path),
            path,
            "failed",
            row.id if row else None,
            errors=[Diagnostic.from_dict(d) for d in diags],
        )
    return results


def _registration_problem(
    wf: ParsedWorkflow, api_refs: set[str], pack_root: str
) -> Diagnostic | None:
    """Why a workflow that validated still cannot be registered, if it cannot."""
    if wf.definition is None:
        return error(f"{pack_root}/{wf.file_path}", "unparseable", "file could not be parsed")
    if wf.ref in api_refs:
        return _api_conflict(wf, pack_root)
    return _storage_problem(wf, pack_root)


# Attune's action_ref_format and action_ref_lowercase: every workflow gets an
# action row with its ref (or its linked action's).
ATTUNE_ACTION_REF = re.compile(r"^[^.]+\.[^.]+$")


def attune_ref_problem(ref: str) -> str | None:
    """Why Attune's action table refuses `ref`, if it does."""
    if ref != ref.lower():
        return f"ref '{ref}' has upper-case letters; Attune's action refs are lower case"
    if not ATTUNE_ACTION_REF.match(ref):
        return f"ref '{ref}' must be '<pack>.<name>' with exactly one dot (Attune's action refs)"
    return None


def _taken_problem(
    wf: ParsedWorkflow, action_ref: str, taken: set[str], pack_root: str
) -> Diagnostic | None:
    """A workflow or action row with this ref that packsync does not own, or a
    ref Attune's action table cannot hold."""
    for ref in dict.fromkeys((wf.ref, action_ref)):
        problem = attune_ref_problem(ref)
        if problem is not None:
            return error(
                f"{pack_root}/{wf.file_path}", "ref-format", f"{problem}: rename the file", 1, 1
            )
        if ref in taken:
            return _attune_conflict(wf, ref, pack_root)
    return None


# Attune's pack_version_semver constraint.
ATTUNE_SEMVER = re.compile(
    r"^\d+\.\d+\.\d+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
)


def _pack_row_problem(
    registered: RegisteredPack, loaded: LoadedPack, opts: PlanOptions, pack_file_display: str
) -> Diagnostic | None:
    """Why the pack cannot be registered: no Attune pack row and create_packs
    off, or a pack row packsync must write that Attune's constraints refuse."""
    if loaded.meta is None or (registered.pack is not None and not registered.created_pack):
        return None  # broken pack.yaml (reported already), or Attune's own pack row
    if registered.pack is None and not opts.create_packs:
        return error(
            pack_file_display,
            "pack-not-registered",
            f"pack '{loaded.ref}' is not registered in Attune and create_packs is false: "
            "register the pack in Attune (e.g. attune pack install) and packsync syncs "
            "its workflows",
            1,
            1,
        )
    version = loaded.meta.version
    if version is None or not ATTUNE_SEMVER.match(version):
        shown = "no version" if version is None else f"version {version!r}"
        return error(
            pack_file_display,
            "pack-version",
            f"pack.yaml has {shown}; Attune's pack table requires a semantic version "
            "such as '1.0.0' (constraint pack_version_semver)",
            1,
            1,
        )
    return None


def _meta_problem(loaded: LoadedPack, pack_file_display: str) -> Diagnostic | None:
    if loaded.meta is None:
        return None
    m = loaded.meta
    found = unstorable(
        [m.label, m.description, m.version, m.tags, m.dependencies, m.meta], check_depth=False
    )
    if found is None:
        return None
    problem = found[1]
    return error(
        pack_file_display,
        "unstorable-text",
        f"pack.yaml contains {problem}, which the database cannot store; remove it",
        1,
        1,
    )


def _hold_writes(plan: Plan, results: dict[str, WorkflowResult]) -> None:
    """The pack writes nothing but error rows: report planned writes as not made."""
    plan.upserts = []
    plan.delete_ids = []
    for wr in results.values():
        if wr.change in ("created", "updated"):
            wr.change = "unchanged" if wr.id is not None else "failed"


def _merge(diagnostics: list[Diagnostic], errors: list[Diagnostic]) -> list[Diagnostic]:
    return [*diagnostics, *(e for e in errors if e not in diagnostics)]


def _finish(
    plan: Plan,
    registered: RegisteredPack,
    results: dict[str, WorkflowResult],
    error_rows: dict[str, ErrorRow],
) -> None:
    result = plan.result
    result.workflows = [results[p] for p in sorted(results)]
    plan.set_errors = [error_rows[p] for p in sorted(error_rows)]
    plan.clear_errors = sorted(p for p in registered.errors if p not in error_rows)


def _pack_row_change(
    registered: RegisteredPack, loaded: LoadedPack, opts: PlanOptions
) -> PackRow | None:
    """The pack row to insert (none exists) or update (packsync created it);
    None: no write (unchanged, or the row is Attune's own)."""
    meta = loaded.meta
    assert meta is not None
    if registered.pack is not None and not registered.created_pack:
        return None
    row = PackRow(
        ref=loaded.ref,
        label=meta.label or loaded.ref,
        description=meta.description,
        version=meta.version or "",
        tags=[str(t) for t in meta.tags],
        dependencies=[str(d) for d in meta.dependencies],
        meta=plain_json(meta.meta),
        storage_path=opts.storage_path,
    )
    current = registered.pack
    if current is not None and all(
        current[name] == getattr(row, name)
        for name in (
            "label",
            "description",
            "version",
            "tags",
            "dependencies",
            "meta",
            "storage_path",
        )
    ):
        return None
    return row
