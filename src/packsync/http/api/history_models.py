"""Bodies of the /api/v1 history routes (workflow versions), as pydantic
models: the OpenAPI contract, every field described (models.py has the rest)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class WorkflowVersionSummary(BaseModel):
    """One recorded version of a workflow's stored definition (docs/history.md)."""

    ref: str = Field(description="Workflow ref, `<pack>.<name>`.", examples=["demo.deploy"])
    version: int = Field(description="Version number: 1, 2, 3... per ref.")
    deleted: bool = Field(
        description="True when this version records the workflow's deletion (no definition)."
    )
    definition_hash: str | None = Field(
        description="sha256 of the stored definition (PostgreSQL's jsonb text); null when deleted."
    )
    pack_ref: str = Field(description="Ref of the pack the workflow belongs to.")
    source: Literal["file", "api"] = Field(
        description="`file`: written by a sync of a pack's file; `api`: through the API."
    )
    file_path: str | None = Field(
        description="For file-managed workflows, the file relative to the pack folder."
    )
    trigger: str = Field(
        description="What wrote it: a sync's trigger (`startup`, `watch`, `reconcile`, "
        "`cli`, `signal`, `api`), `restore`, or `baseline` (the row as packsync found it "
        "before a change, when history did not already end with it)."
    )
    sync_run_id: int | None = Field(
        description="The `sync_run` row of the sync that wrote it (null for API writes)."
    )
    git_commit: str | None = Field(
        description="HEAD commit of the git work tree holding the pack, when there was one."
    )
    created: datetime = Field(description="When the version was recorded.")


class WorkflowVersionDetail(WorkflowVersionSummary):
    """A recorded version with its definition."""

    definition: dict[str, Any] | None = Field(
        default=None,
        description="Exactly what Attune's `workflow_definition.definition` held; null when "
        "deleted.",
    )


class WorkflowVersionListResponse(BaseModel):
    """Every kept version of a workflow, oldest first."""

    data: list[WorkflowVersionSummary] = Field(description="The versions, by number.")
    message: str | None = Field(default=None, description="Optional human-readable note.")


class WorkflowVersionResponse(BaseModel):
    """One version in full."""

    data: WorkflowVersionDetail = Field(description="The version.")
    message: str | None = Field(default=None, description="Optional human-readable note.")


class RestoreResult(BaseModel):
    """What a restore did."""

    restored_from: int = Field(description="The version that was brought back.")
    changed: bool = Field(
        description="False when that version was already the current definition "
        "(nothing written, no new version)."
    )
    version: WorkflowVersionDetail = Field(description="The version now current.")


class RestoreResponse(BaseModel):
    """The outcome of POST .../versions/{n}/restore."""

    data: RestoreResult = Field(description="The restore.")
    message: str | None = Field(default=None, description="Optional human-readable note.")
