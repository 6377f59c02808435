"""Request and response bodies of /api/v1, as pydantic models.

They are the OpenAPI contract (every field carries a description) and the
boundary between HTTP and the rest of packsync: routes convert service rows
into these models, never hand raw rows or dataclasses to FastAPI. Request
models forbid unknown keys, like workflow files do: a typo is an error, not a
silently ignored field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from packsync.core.refs import PACK_REF_PATTERN

WORKFLOW_REF_PATTERN = r"^[a-z][a-z0-9_-]*\.[A-Za-z0-9_][A-Za-z0-9_.-]*$"

_MESSAGE = Field(default=None, description="Optional human-readable note about the operation.")


# ---------------------------------------------------------------- errors
class ErrorDetail(BaseModel):
    """What went wrong, in a shape that never changes between endpoints."""

    code: str = Field(
        description="Stable machine-readable code, e.g. `not-found`, `duplicate-ref`, "
        "`file-managed`, `invalid-workflow`, `unauthorized`, `standby`.",
        examples=["file-managed"],
    )
    message: str = Field(description="What happened and how to fix it, for humans.")
    details: dict[str, Any] | None = Field(
        default=None,
        description="Extra structured data: located `diagnostics` for invalid workflows, "
        "field `errors` for invalid requests, the managing `file` for file-managed workflows.",
    )


class ErrorResponse(BaseModel):
    """Body of every 4xx/5xx answer of /api/v1."""

    error: ErrorDetail = Field(description="The error.")


# ---------------------------------------------------------------- diagnostics
class DiagnosticModel(BaseModel):
    """One located problem found by the validator (same fields as the CLI's JSON output)."""

    file: str = Field(
        description="File the problem is in; `api:<ref>` for a workflow sent through the API."
    )
    line: int = Field(description="1-based line, 0 when unknown (always 0 for JSON bodies).")
    column: int = Field(description="1-based column, 0 when unknown (always 0 for JSON bodies).")
    code: str = Field(description="Stable diagnostic code, e.g. `unknown-task`.")
    severity: Literal["error", "warning"] = Field(
        description="`error` blocks registration; `warning` does not."
    )
    message: str = Field(description="What is wrong and how to fix it.")
    json_path: str = Field(
        default="$",
        description="JSONPath of the offending value. For API bodies it is relative to the "
        "request body (e.g. `$.definition.tasks[0].next[0].do`).",
    )
    end_line: int | None = Field(default=None, description="Last line of the span, if known.")
    end_column: int | None = Field(default=None, description="Last column of the span, if known.")


# ---------------------------------------------------------------- workflows
class WorkflowSummary(BaseModel):
    """A workflow as listed: everything but the definition and schemas."""

    id: int = Field(description="Database id of the workflow definition.")
    ref: str = Field(description="Unique ref, `<pack>.<name>`.", examples=["demo.deploy"])
    pack_ref: str = Field(description="Ref of the pack the workflow belongs to.")
    label: str | None = Field(description="Human-readable name.")
    description: str | None = Field(description="What the workflow does.")
    version: str | None = Field(description="Workflow format/definition version.")
    tags: list[str] = Field(description="Tags for filtering and search.")
    enabled: bool = Field(description="Whether the workflow may be executed.")
    source: Literal["file", "api", "attune"] = Field(
        description="`file`: managed by a YAML file in the packs directory (read-only here); "
        "`api`: created through this API; `attune`: written by Attune itself (its API, UI "
        "or pack loader; read-only here)."
    )
    file_path: str | None = Field(
        description="For file-managed workflows, the path relative to the pack folder."
    )
    created: datetime = Field(description="When the row was first registered.")
    updated: datetime = Field(description="When the row last changed.")
    failing: bool = Field(
        default=False,
        description="True when the file currently fails validation: the row shown is the "
        "last good version and `sync_errors` (detail view) says why.",
    )


class WorkflowDetail(WorkflowSummary):
    """A workflow with its normalised definition, schemas and current errors."""

    param_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the workflow's parameters (normalised)."
    )
    out_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the workflow's output."
    )
    definition: dict[str, Any] = Field(
        default_factory=dict, description="The normalised workflow definition (SPEC §3)."
    )
    content_hash: str | None = Field(
        default=None,
        description="sha256 of the file's bytes (file workflows) or of the canonical JSON "
        "of the definition (API workflows).",
    )
    sync_errors: list[DiagnosticModel] = Field(
        default_factory=list,
        description="Located diagnostics of the file if it currently fails validation.",
    )


class PaginationMeta(BaseModel):
    """Where this page sits in the whole result."""

    page: int = Field(description="Current page, 1-based.")
    page_size: int = Field(description="Items per page.")
    total_items: int = Field(description="Number of items matching the filters, all pages.")
    total_pages: int = Field(description="Number of pages (0 when nothing matches).")
    has_previous: bool = Field(description="Whether a previous page exists.")
    has_next: bool = Field(description="Whether a next page exists.")

    @classmethod
    def of(cls, page: int, page_size: int, total: int) -> PaginationMeta:
        pages = (total + page_size - 1) // page_size
        return cls(
            page=page,
            page_size=page_size,
            total_items=total,
            total_pages=pages,
            has_previous=page > 1,
            has_next=page < pages,
        )


class WorkflowListResponse(BaseModel):
    """One page of workflow summaries."""

    data: list[WorkflowSummary] = Field(description="The workflows on this page, by ref.")
    pagination: PaginationMeta = Field(description="Page position and total count.")
    message: str | None = _MESSAGE


class WorkflowResponse(BaseModel):
    """One workflow in full."""

    data: WorkflowDetail = Field(description="The workflow.")
    message: str | None = _MESSAGE
    warnings: list[DiagnosticModel] = Field(
        default_factory=list,
        description="Validator warnings for the body just written (create and update only).",
    )


class DeletedWorkflow(BaseModel):
    """What a DELETE removed."""

    id: int = Field(description="Database id of the deleted workflow.")
    ref: str = Field(description="Ref of the deleted workflow.")


class DeletedResponse(BaseModel):
    """Confirmation of a deletion."""

    data: DeletedWorkflow = Field(description="The deleted workflow.")
    message: str | None = _MESSAGE


class CreateWorkflowRequest(BaseModel):
    """A new API-managed workflow (`source = 'api'`).

    The body is validated exactly like a workflow file: `definition` is the
    workflow document (`version`, `tasks`, ...), and the top-level fields
    `label`, `description`, `version`, `param_schema` (→ `parameters`),
    `out_schema` (→ `output`), `tags` and `enabled`, when given, override the
    same keys of the definition.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "ref": "demo.notify",
                    "label": "Notify",
                    "tags": ["chat"],
                    "param_schema": {"who": {"type": "string", "required": True}},
                    "definition": {
                        "version": "1.0",
                        "tasks": [
                            {
                                "name": "start",
                                "action": "core.echo",
                                "input": {"message": "hello {{ parameters.who }}"},
                            }
                        ],
                    },
                }
            ]
        },
    )

    ref: str = Field(
        max_length=255,
        pattern=WORKFLOW_REF_PATTERN,
        description="Unique ref, `<pack_ref>.<name>`.",
        examples=["demo.notify"],
    )
    pack_ref: str | None = Field(
        default=None,
        max_length=255,
        pattern=PACK_REF_PATTERN,
        description="Pack the workflow belongs to; must be registered. Defaults to the part "
        "of `ref` before the first dot, and must equal it when given.",
        examples=["demo"],
    )
    label: str | None = Field(
        default=None, max_length=255, description="Human-readable name.", examples=["Notify"]
    )
    description: str | None = Field(default=None, description="What the workflow does.")
    version: str | None = Field(
        default=None,
        max_length=50,
        description="Workflow version; required here or in `definition`.",
        examples=["1.0.0"],
    )
    param_schema: dict[str, Any] | None = Field(
        default=None,
        description="Parameters: JSON Schema, or the StackStorm flat form "
        "`{name: {type, required: true}}` (normalised to JSON Schema).",
    )
    out_schema: dict[str, Any] | None = Field(
        default=None, description="Output JSON Schema (flat form accepted too)."
    )
    definition: dict[str, Any] = Field(
        description="The workflow document, as in a workflow YAML file (SPEC §3).",
        examples=[
            {
                "version": "1.0",
                "tasks": [
                    {"name": "start", "action": "core.echo", "next": [{"do": ["done"]}]},
                    {"name": "done", "action": "core.noop"},
                ],
            }
        ],
    )
    tags: list[str] | None = Field(default=None, description="Tags for filtering and search.")
    enabled: bool | None = Field(default=None, description="Whether it may run (default true).")


class UpdateWorkflowRequest(BaseModel):
    """A partial update of an API-managed workflow.

    Only the fields present change; an explicit `null` clears an optional
    field. `definition`, when given, replaces the whole definition. The result
    is validated like a workflow file before it is stored.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"label": "Notify the team", "tags": ["chat", "ops"]}]},
    )

    label: str | None = Field(default=None, max_length=255, description="Human-readable name.")
    description: str | None = Field(default=None, description="What the workflow does.")
    version: str | None = Field(default=None, max_length=50, description="Workflow version.")
    param_schema: dict[str, Any] | None = Field(
        default=None, description="Parameters schema (JSON Schema or StackStorm flat form)."
    )
    out_schema: dict[str, Any] | None = Field(default=None, description="Output schema.")
    definition: dict[str, Any] | None = Field(
        default=None, description="A new workflow document replacing the stored one."
    )
    tags: list[str] | None = Field(default=None, description="Tags (replaces the list).")
    enabled: bool | None = Field(default=None, description="Whether it may run.")


# ---------------------------------------------------------------- packs
class WorkflowSyncResult(BaseModel):
    """One workflow registered by a pack sync (Attune's WorkflowSyncResult, extended)."""

    ref_name: str = Field(description="Ref of the workflow.")
    created: bool = Field(description="True when newly created, false when updated/unchanged.")
    change: Literal["created", "updated", "unchanged"] = Field(
        description="What the sync did to the row."
    )
    workflow_def_id: int = Field(description="Database id of the workflow definition.")
    warnings: list[str] = Field(description="Warnings found in the file, formatted.")


class PackSyncResult(BaseModel):
    """Outcome of syncing one pack from disk (Attune's PackWorkflowSyncResponse, extended)."""

    pack_ref: str = Field(description="The pack synced.")
    loaded_count: int = Field(description="Workflow files read and parsed from disk.")
    registered_count: int = Field(description="Workflows created or updated in the database.")
    workflows: list[WorkflowSyncResult] = Field(
        description="Registered workflows (created, updated or unchanged)."
    )
    errors: list[str] = Field(description="Errors found, one formatted diagnostic per line.")
    outcome: str = Field(
        description="`ok`, `errors` (some files failed; last good rows kept), `pack-error` "
        "(pack.yaml missing/broken), `conflict` (owned by another sync_group), `removed` "
        "(folder gone, rows deleted) or `refused` (deletion guard)."
    )
    created: int = Field(description="Rows created.")
    updated: int = Field(description="Rows updated.")
    unchanged: int = Field(description="Files whose content hash was already registered.")
    deleted: int = Field(description="Rows deleted (files removed).")
    failed: int = Field(description="Files that failed validation.")
    diagnostics: list[DiagnosticModel] = Field(description="Every located diagnostic.")


class PackSyncResponse(BaseModel):
    """Envelope of a pack sync."""

    data: PackSyncResult = Field(description="The sync outcome.")
    message: str | None = _MESSAGE


class PackValidationResult(BaseModel):
    """Dry-run validation of a pack on disk (Attune's PackWorkflowValidationResponse, extended)."""

    pack_ref: str = Field(description="The pack validated.")
    validated_count: int = Field(description="Workflow files validated.")
    error_count: int = Field(description="Workflow files with at least one error.")
    errors: dict[str, list[str]] = Field(
        description="Error messages by workflow ref; pack-level problems (pack.yaml, "
        "unreadable files) are listed under the pack ref itself."
    )
    warning_count: int = Field(description="Number of warnings.")
    diagnostics: list[DiagnosticModel] = Field(
        description="Every located diagnostic (errors and warnings) with file, line, column."
    )


class PackValidationResponse(BaseModel):
    """Envelope of a pack validation."""

    data: PackValidationResult = Field(description="The validation report.")
    message: str | None = _MESSAGE


class PlannedWorkflow(BaseModel):
    """One workflow in a plan: what the sync would do to it, and the diff."""

    ref: str = Field(description="Ref of the workflow.")
    file_path: str | None = Field(description="The file, relative to the pack folder.")
    change: Literal["created", "updated", "unchanged", "deleted", "failed", "refused"] = Field(
        description="What the sync would do: `created`, `updated`, `deleted`, `unchanged`, "
        "`failed` (the file fails; a registered row keeps its last good version) or "
        "`refused` (the deletion guard keeps the registered row)."
    )
    workflow_def_id: int | None = Field(description="Database id of the registered row, if any.")
    definition_diff: str = Field(
        description="Unified diff of the workflow_definition row as Attune stores it "
        "(registered → planned); empty when it does not change."
    )
    action_diff: str = Field(
        description="Unified diff of the action row beside it; empty when it does not change."
    )


class PackPlanResult(BaseModel):
    """What a sync of one pack would do now, computed by the sync's own planning and
    writing nothing."""

    pack_ref: str = Field(description="The pack planned.")
    outcome: str = Field(description="The outcome the sync would report (see PackSyncResult).")
    changes_pending: bool = Field(
        description="True when the sync would create, update or delete a workflow or the pack row."
    )
    pack_change: Literal["create", "update", "remove"] | None = Field(
        description="What the sync would do to Attune's pack row, if anything."
    )
    created: int = Field(description="Workflows the sync would create.")
    updated: int = Field(description="Workflows the sync would update.")
    unchanged: int = Field(description="Workflows already registered as they are.")
    deleted: int = Field(description="Workflows the sync would delete.")
    failed: int = Field(
        description="Files that fail (registered rows keep their last good version)."
    )
    note: str | None = Field(description="Why, when the outcome needs a reason (a refusal...).")
    workflows: list[PlannedWorkflow] = Field(description="Every workflow of the plan, by file.")
    diagnostics: list[DiagnosticModel] = Field(description="Every located diagnostic.")


class PackPlanResponse(BaseModel):
    """Envelope of a pack plan."""

    data: PackPlanResult = Field(description="The plan.")
    message: str | None = _MESSAGE
