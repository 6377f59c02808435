"""plan: registered state of one pack + what is on disk → the writes to make.

Pure (no I/O), so every sync rule of SPEC §6 is decided in one place and can
be read top to bottom: unchanged files cost nothing, a failing file keeps its
last good row, api rows are never touched, a pack owned by another sync_group
is a conflict, and deletes happen only when the caller's guard allows them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from packsync.diagnostics import Diagnostic, error, has_errors
from packsync.pipeline.load import LoadedPack
from packsync.pipeline.model import ParsedWorkflow
from packsync.results import PackResult, WorkflowResult

PACK_FILE = "pack.yaml"
PACK_FOLDER = "."  # error-row file_path for problems with the folder itself


@dataclass(frozen=True, slots=True)
class RegisteredWorkflow:
    id: int
    ref: str
    file_path: str | None
    content_hash: str | None
    source: str


@dataclass(slots=True)
class RegisteredPack:
    """The database's view of one pack, read under the pack lock."""

    ref: str
    row: dict[str, Any] | None = None  # the pack row, None when not registered
    workflows: list[RegisteredWorkflow] = field(default_factory=list)
    errors: dict[str, Any] = field(default_factory=dict)  # file_path → errors jsonb

    @property
    def owner(self) -> str | None:
        return None if self.row is None else str(self.row["sync_group"])

    def file_rows(self) -> dict[str, RegisteredWorkflow]:
        return {w.file_path: w for w in self.workflows if w.source == "file" and w.file_path}

    def known(self) -> dict[str, str]:
        """rel_path → hash of registered file rows without an error row: the
        files load_pack may skip without parsing."""
        return {
            path: row.content_hash
            for path, row in self.file_rows().items()
            if row.content_hash and path not in self.errors
        }


@dataclass(frozen=True, slots=True)
class PackRow:
    ref: str
    label: str | None
    description: str | None
    version: str | None
    tags: list[str]
    dependencies: list[str]
    meta: dict[str, Any]
    storage_path: str
    checksum: str
    sync_group: str


@dataclass(frozen=True, slots=True)
class ErrorRow:
    file_path: str
    ref: str | None
    errors: list[dict[str, Any]]


@dataclass(slots=True)
class Plan:
    result: PackResult
    pack_id: int | None = None  # registered id (None: pack_row will create it)
    pack_row: PackRow | None = None  # insert/update of the pack row, None: no write
    upserts: list[ParsedWorkflow] = field(default_factory=list)
    delete_ids: list[int] = field(default_factory=list)
    remove_pack: bool = False  # folder gone: drop file rows and the pack row if empty
    set_errors: list[ErrorRow] = field(default_factory=list)
    clear_errors: list[str] = field(default_factory=list)
    clear_all_errors: bool = False

    @property
    def writes_nothing(self) -> bool:
        return not (
            self.pack_row
            or self.upserts
            or self.delete_ids
            or self.remove_pack
            or self.set_errors
            or self.clear_errors
            or self.clear_all_errors
        )


@dataclass(frozen=True, slots=True)
class PlanOptions:
    sync_group: str
    storage_path: str  # logical: base dir / ref, never a resolved symlink target
    pack_root: str  # display prefix of the pack's diagnostics (str(ScannedPack.root))
    skip_validation_errors: bool = True
    update_existing: bool = True


def plain_json(value: Any) -> Any:
    """YAML can carry dates and other non-JSON scalars: store them as strings."""
    return json.loads(json.dumps(value, default=str))


def _rel_path(file: str, pack_root: str) -> str:
    prefix = pack_root.rstrip("/") + "/"
    if file.startswith(prefix):
        return file[len(prefix) :]
    return PACK_FOLDER if file.rstrip("/") == pack_root.rstrip("/") else PACK_FILE


def _stem_ref(pack_ref: str, rel_path: str) -> str:
    stem = rel_path.rsplit("/", 1)[-1].rsplit(".", 1)[0].removesuffix(".workflow")
    return f"{pack_ref}.{stem}"


def _api_conflict(wf: ParsedWorkflow, pack_root: str) -> Diagnostic:
    return error(
        f"{pack_root}/{wf.file_path}",
        "ref-conflict",
        f"workflow '{wf.ref}' is managed through the API (source 'api'); "
        "rename the file or delete the API workflow",
        1,
        1,
    )


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
    if refused is not None and (file_rows or registered.row is not None):
        result.outcome = "refused"
        result.message = refused
        return plan
    plan.remove_pack = registered.row is not None
    plan.clear_all_errors = bool(registered.errors)
    for path, row in sorted(file_rows.items()):
        result.workflows.append(WorkflowResult(row.ref, path, "deleted", row.id))
    result.deleted = len(file_rows)
    if registered.row is None:
        result.message = "no pack folder and nothing registered"
    return plan


def plan_pack(registered: RegisteredPack, loaded: LoadedPack, opts: PlanOptions) -> Plan:
    """The pack folder exists: compare it with the registered state."""
    result = PackResult(pack_ref=loaded.ref, diagnostics=list(loaded.diagnostics))
    plan = Plan(result=result, pack_id=None if registered.row is None else registered.row["id"])
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

    file_rows = registered.file_rows()
    api_refs = {w.ref for w in registered.workflows if w.source == "api"}

    # Pack-level diagnostics (pack.yaml, unreadable files) grouped per file.
    by_file: dict[str, list[Diagnostic]] = defaultdict(list)
    for diag in loaded.diagnostics:
        by_file[_rel_path(diag.file, opts.pack_root)].append(diag)
    error_rows: dict[str, ErrorRow] = {}
    for path, diags in by_file.items():
        if has_errors(diags):
            row = file_rows.get(path)
            ref = row.ref if row else (_stem_ref(loaded.ref, path) if "/" in path else None)
            error_rows[path] = ErrorRow(path, ref, [d.to_dict() for d in diags])

    results: dict[str, WorkflowResult] = {}
    for wf in loaded.workflows:
        existing = file_rows.get(wf.file_path)
        errors = [d for d in wf.diagnostics if d.is_error]
        warnings = [d for d in wf.diagnostics if not d.is_error]
        if not errors and wf.definition is not None and wf.ref in api_refs:
            errors.append(_api_conflict(wf, opts.pack_root))
        rid = existing.id if existing else None
        if not errors and wf.definition is None:
            errors.append(
                error(f"{opts.pack_root}/{wf.file_path}", "unparseable", "file could not be parsed")
            )
        if errors:
            results[wf.file_path] = WorkflowResult(
                wf.ref, wf.file_path, "failed", rid, warnings, errors
            )
            merged = _merge(wf.diagnostics, errors)
            error_rows[wf.file_path] = ErrorRow(wf.file_path, wf.ref, [d.to_dict() for d in merged])
        elif existing is None:
            results[wf.file_path] = WorkflowResult(wf.ref, wf.file_path, "created", None, warnings)
            plan.upserts.append(wf)
        elif existing.content_hash == wf.content_hash or not opts.update_existing:
            results[wf.file_path] = WorkflowResult(wf.ref, wf.file_path, "unchanged", rid, warnings)
        else:
            results[wf.file_path] = WorkflowResult(wf.ref, wf.file_path, "updated", rid, warnings)
            plan.upserts.append(wf)
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
        diags = (
            [Diagnostic.from_dict(d) for d in error_rows[path].errors] if path in error_rows else []
        )
        results[path] = WorkflowResult(
            row.ref if row else _stem_ref(loaded.ref, path),
            path,
            "failed",
            row.id if row else None,
            errors=diags,
        )

    if loaded.meta is None:
        # Pack in error: a located diagnostic, nothing registered, rows kept.
        result.outcome = "pack-error"
        for wr in results.values():
            if wr.change in ("created", "updated"):
                wr.change = "unchanged" if wr.id is not None else "failed"
        plan.upserts = []
        if not any(d.is_error for d in result.diagnostics):
            result.diagnostics.append(
                error(pack_file_display, "pack-error", "pack.yaml is invalid")
            )
        _finish(plan, registered, results, error_rows)
        return plan

    failing = any(w.change == "failed" for w in results.values()) or bool(error_rows)
    if failing and not opts.skip_validation_errors:
        # The whole pack fails: nothing written but the error rows.
        for wr in results.values():
            if wr.change in ("created", "updated"):
                wr.change = "unchanged" if wr.id is not None else "failed"
        plan.upserts = []
        result.outcome = "errors"
        result.message = "pack not synced: some files fail and skip_validation_errors is false"
        _finish(plan, registered, results, error_rows)
        return plan

    for path, row in sorted(file_rows.items()):
        if path not in loaded.present_paths:
            results[path] = WorkflowResult(row.ref, path, "deleted", row.id)
            plan.delete_ids.append(row.id)
    plan.pack_row = _pack_row_change(registered, loaded, opts)
    result.outcome = "errors" if failing else "ok"
    _finish(plan, registered, results, error_rows)
    return plan


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
    for name in ("created", "updated", "unchanged", "deleted", "failed"):
        setattr(result, name, sum(1 for w in result.workflows if w.change == name))
    plan.set_errors = [error_rows[p] for p in sorted(error_rows)]
    plan.clear_errors = sorted(p for p in registered.errors if p not in error_rows)


def _pack_row_change(
    registered: RegisteredPack, loaded: LoadedPack, opts: PlanOptions
) -> PackRow | None:
    meta = loaded.meta
    assert meta is not None
    row = PackRow(
        ref=loaded.ref,
        label=meta.label,
        description=meta.description,
        version=meta.version,
        tags=[str(t) for t in meta.tags],
        dependencies=[str(d) for d in meta.dependencies],
        meta=plain_json(meta.meta),
        storage_path=opts.storage_path,
        checksum=loaded.checksum,
        sync_group=opts.sync_group,
    )
    current = registered.row
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
            "checksum",
        )
    ):
        return None
    return row
