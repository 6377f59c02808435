"""Service results → API models.

The service layer returns dataclasses (or records); the API answers with the
pydantic models of `models.py`. Conversions live here so routes stay short
and the mapping to Attune's shapes (PackSyncResult, validation report) is in
one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from packsync.core.diagnostics import Diagnostic, Severity
from packsync.core.results import PackResult
from packsync.http.api.models import (
    DiagnosticModel,
    PackPlanResult,
    PackSyncResult,
    PackValidationResult,
    PlannedWorkflow,
    WorkflowDetail,
    WorkflowSummary,
    WorkflowSyncResult,
)
from packsync.pipeline.load import LoadedPack
from packsync.sync.preview import PlanReport


def as_dict(row: Any) -> dict[str, Any]:
    """A dataclass, record or mapping as a flat dict (values untouched)."""
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
    return dict(row)


def diagnostic(d: Diagnostic | Mapping[str, Any]) -> DiagnosticModel:
    data = d.to_dict() if isinstance(d, Diagnostic) else dict(d)
    try:
        return DiagnosticModel.model_validate(data)
    except ValidationError:
        # A stored error row in an older or foreign shape must not break a read.
        return DiagnosticModel(
            file=str(data.get("file", "")),
            line=0,
            column=0,
            code=str(data.get("code", "unknown")),
            severity="error",
            message=str(data.get("message", data)),
        )


def summary(row: Any) -> WorkflowSummary:
    data = as_dict(row)
    data["tags"] = list(data.get("tags") or [])
    return WorkflowSummary.model_validate(data)


def detail(row: Any) -> WorkflowDetail:
    data = as_dict(row)
    data["tags"] = list(data.get("tags") or [])
    errors = data.get("sync_errors")
    data["sync_errors"] = (
        [diagnostic(e) for e in errors if isinstance(e, Mapping | Diagnostic)]
        if isinstance(errors, list)
        else []
    )
    data["definition"] = data.get("definition") or {}
    return WorkflowDetail.model_validate(data)


def _unique(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: set[Diagnostic] = set()
    out: list[Diagnostic] = []
    for d in diagnostics:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def pack_sync_result(result: PackResult) -> PackSyncResult:
    every = _unique(
        [
            *result.diagnostics,
            *(d for w in result.workflows for d in (*w.errors, *w.warnings)),
        ]
    )
    registered = [
        w
        for w in result.workflows
        if w.change in ("created", "updated", "unchanged") and w.id is not None
    ]
    return PackSyncResult(
        pack_ref=result.pack_ref,
        loaded_count=result.loaded,
        registered_count=result.created + result.updated,
        workflows=[
            WorkflowSyncResult(
                ref_name=w.ref,
                created=w.change == "created",
                change=w.change,
                workflow_def_id=int(w.id or 0),
                warnings=[d.format() for d in w.warnings],
            )
            for w in registered
        ],
        errors=[d.format() for d in every if d.is_error],
        outcome=result.outcome,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        deleted=result.deleted,
        failed=result.failed,
        diagnostics=[diagnostic(d) for d in every],
    )


def pack_validation_result(loaded: LoadedPack, unreadable: int) -> PackValidationResult:
    errors: dict[str, list[str]] = {}
    pack_errors = [d.format() for d in loaded.diagnostics if d.is_error]
    if pack_errors:
        errors[loaded.ref] = pack_errors
    failing = 0
    for wf in loaded.workflows:
        messages = [d.format() for d in wf.diagnostics if d.is_error]
        if messages or not wf.ok:
            failing += 1
            errors.setdefault(wf.ref, []).extend(messages or [f"{wf.file_path}: invalid"])
    every = loaded.all_diagnostics
    return PackValidationResult(
        pack_ref=loaded.ref,
        validated_count=len(loaded.workflows) + unreadable,
        error_count=failing + unreadable,
        errors=errors,
        warning_count=sum(1 for d in every if d.severity is Severity.WARNING),
        diagnostics=[diagnostic(d) for d in every],
    )


def pack_plan_result(plan: PlanReport) -> PackPlanResult:
    """One pack's plan (`preview.plan_one`) as the API answers it."""
    (result,) = plan.report.packs
    preview = plan.preview(result.pack_ref)
    rows: list[PlannedWorkflow] = []
    for w in result.workflows:
        found = plan.diff_of(result.pack_ref, w)
        rows.append(
            PlannedWorkflow(
                ref=w.ref,
                file_path=w.file_path,
                change=w.change,
                workflow_def_id=w.id,
                definition_diff=found.definition if found else "",
                action_diff=found.action if found else "",
            )
        )
    rows += [
        PlannedWorkflow(
            ref=w.ref,
            file_path=w.file_path,
            change="refused",
            workflow_def_id=w.id,
            definition_diff="",
            action_diff="",
        )
        for w in preview.refused
    ]
    return PackPlanResult(
        pack_ref=result.pack_ref,
        outcome=result.outcome,
        changes_pending=plan.changes_pending,
        pack_change=preview.pack_change,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        deleted=result.deleted,
        failed=result.failed,
        note=result.message,
        workflows=rows,
        diagnostics=[diagnostic(d) for d in _unique(result.problems())],
    )
