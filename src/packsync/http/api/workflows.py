"""/api/v1/workflows: list, read, and write API-sourced workflows.

Reads serve every workflow; writes only touch `source = 'api'` rows (a
file-managed workflow answers 409 naming the file to edit) and are refused
with 503 on a standby replica.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request

from packsync.config import Settings
from packsync.core.results import WorkflowFilter
from packsync.http.api import convert
from packsync.http.api.auth import audit
from packsync.http.api.deps import (
    WorkflowReader,
    get_pool,
    get_reader,
    get_settings,
    require_leader,
)
from packsync.http.api.errors import ApiError, responses
from packsync.http.api.models import (
    CreateWorkflowRequest,
    DeletedResponse,
    DeletedWorkflow,
    PaginationMeta,
    UpdateWorkflowRequest,
    WorkflowListResponse,
    WorkflowResponse,
)
from packsync.http.api.textcheck import check_params, check_storable
from packsync.sync.api_workflows import (
    FIELD_KEYS,
    ApiWorkflowError,
    ApiWorkflowService,
    AttuneManaged,
    DuplicateRef,
    FileManaged,
    InvalidWorkflow,
    PackNotFound,
    RefMismatch,
    WorkflowNotFound,
    WriteResult,
)

router = APIRouter(tags=["workflows"])

MAX_PAGE = 1_000_000
RefPath = Path(
    description="Workflow ref, `<pack>.<name>`.", max_length=255, examples=["demo.deploy"]
)


class ListFilters:
    """Query parameters shared by both list endpoints."""

    def __init__(
        self,
        tags: str | None = Query(
            None,
            max_length=1000,
            description="Comma-separated tags; a workflow matches if it has any of them.",
            examples=["deploy,prod"],
        ),
        enabled: bool | None = Query(None, description="Only enabled (true) or disabled (false)."),
        search: str | None = Query(
            None,
            max_length=200,
            description="Case-insensitive substring of the ref, label or description.",
        ),
        page: int = Query(1, ge=1, le=MAX_PAGE, description="Page number, from 1."),
        page_size: int = Query(50, ge=1, le=500, description="Items per page (max 500)."),
    ) -> None:
        check_params(tags=tags, search=search)
        self.tags = [t.strip() for t in (tags or "").split(",") if t.strip()]
        self.enabled = enabled
        self.search = search or None
        self.page = page
        self.page_size = page_size

    def wanted(self, pack: str | None) -> WorkflowFilter:
        return WorkflowFilter(
            pack=pack,
            tags=self.tags,
            enabled=self.enabled,
            search=self.search,
            limit=self.page_size,
            offset=(self.page - 1) * self.page_size,
        )


async def list_page(
    reader: WorkflowReader, filters: ListFilters, pack: str | None
) -> WorkflowListResponse:
    rows, total = await reader.list_workflows(filters.wanted(pack))
    return WorkflowListResponse(
        data=[convert.summary(r) for r in rows],
        pagination=PaginationMeta.of(filters.page, filters.page_size, int(total)),
    )


@router.get(
    "/workflows",
    response_model=WorkflowListResponse,
    summary="List workflows",
    description="Lightweight summaries, ordered by ref, filtered and paginated. A page past "
    "the end is empty (not an error); `pagination.total_items` counts every match.",
    responses=responses(400, 422, 503),
)
async def list_workflows(
    filters: ListFilters = Depends(),  # noqa: B008
    pack: str | None = Query(None, max_length=255, description="Only workflows of this pack."),
    pack_ref: str | None = Query(
        None, max_length=255, description="Alias of `pack` (the name Attune's API uses)."
    ),
    reader: WorkflowReader = Depends(get_reader),  # noqa: B008
) -> WorkflowListResponse:
    check_params(pack=pack, pack_ref=pack_ref)
    if pack is not None and pack_ref is not None and pack != pack_ref:
        raise ApiError(400, "conflicting-parameters", "'pack' and 'pack_ref' name different packs")
    return await list_page(reader, filters, pack if pack is not None else pack_ref)


async def _detail(reader: WorkflowReader, ref: str) -> Any:
    row = await reader.get_workflow(ref)
    if row is None:
        raise ApiError(404, "workflow-not-found", f"workflow '{ref}' does not exist")
    return convert.detail(row)


async def _why_missing(reader: WorkflowReader, settings: Settings, ref: str) -> ApiError:
    """A 404 that explains itself when the workflow's file exists but never
    passed validation (so it was never registered)."""
    failing = await reader.failing_file(ref)
    if failing is None:
        return ApiError(404, "workflow-not-found", f"workflow '{ref}' does not exist")
    path = settings.packs_base_dir / failing.pack_ref / failing.file_path
    return ApiError(
        404,
        "workflow-not-found",
        f"workflow '{ref}' is not registered: its file {path} fails validation; fix the file",
        {"file": str(path), "diagnostics": failing.errors},
    )


@router.get(
    "/workflows/{ref}",
    response_model=WorkflowResponse,
    summary="Get one workflow",
    description="Full detail: normalised definition, schemas, source, file path, content "
    "hash, timestamps and the file's current validation errors, if any. A 404 for a "
    "workflow whose file exists but never passed validation names the file and carries "
    "its diagnostics.",
    responses=responses(400, 404, 422, 503),
)
async def get_workflow(
    ref: str = RefPath,
    reader: WorkflowReader = Depends(get_reader),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
) -> WorkflowResponse:
    check_params(ref=ref)
    row = await reader.get_workflow(ref)
    if row is None:
        raise await _why_missing(reader, settings, ref)
    return WorkflowResponse(data=convert.detail(row))


def domain_error(exc: ApiWorkflowError) -> ApiError:
    """Domain failures → HTTP."""
    if isinstance(exc, PackNotFound):
        return ApiError(404, "pack-not-found", str(exc), {"pack_ref": exc.pack_ref})
    if isinstance(exc, WorkflowNotFound):
        return ApiError(404, "workflow-not-found", str(exc))
    if isinstance(exc, DuplicateRef):
        return ApiError(409, "duplicate-ref", str(exc), {"ref": exc.ref, "file": exc.file})
    if isinstance(exc, FileManaged):
        return ApiError(409, "file-managed", str(exc), {"ref": exc.ref, "file": exc.file})
    if isinstance(exc, AttuneManaged):
        return ApiError(409, "attune-managed", str(exc), {"ref": exc.ref})
    if isinstance(exc, RefMismatch):
        return ApiError(
            422,
            "ref-pack-mismatch",
            str(exc),
            {"errors": [{"json_path": "$.ref", "message": str(exc)}]},
        )
    if isinstance(exc, InvalidWorkflow):
        return ApiError(
            422,
            "invalid-workflow",
            str(exc),
            {"diagnostics": [d.to_dict() for d in exc.diagnostics]},
        )
    return ApiError(400, "bad-request", str(exc))


def _writer(request: Request, pool: asyncpg.Pool) -> ApiWorkflowService:
    return ApiWorkflowService(get_settings(request), pool)


def _written(result: WriteResult, verb: str) -> str:
    if result.warnings:
        return f"workflow '{result.ref}' {verb} with {len(result.warnings)} warning(s)"
    return f"workflow '{result.ref}' {verb}"


@router.post(
    "/workflows",
    status_code=201,
    response_model=WorkflowResponse,
    summary="Create an API-managed workflow",
    description="Validated with the same checks as workflow files; 422 lists the located "
    "diagnostics with JSON paths into the request body. The pack must be registered. "
    "Answers 503 on a standby replica.",
    responses=responses(400, 404, 409, 413, 422, 503),
    dependencies=[Depends(require_leader)],
)
async def create_workflow(
    body: CreateWorkflowRequest,
    request: Request,
    pool: asyncpg.Pool = Depends(get_pool),  # noqa: B008
    reader: WorkflowReader = Depends(get_reader),  # noqa: B008
) -> WorkflowResponse:
    check_storable(body.model_dump())
    overrides = {
        name: getattr(body, name)
        for name in FIELD_KEYS
        if name in body.model_fields_set and getattr(body, name) is not None
    }
    try:
        result = await _writer(request, pool).create(
            ref=body.ref,
            pack_ref=body.pack_ref,
            definition=body.definition,
            overrides=overrides,
        )
    except ApiWorkflowError as exc:
        raise domain_error(exc) from None
    audit(request, "create", result.ref, pack=body.pack_ref)
    return WorkflowResponse(
        data=await _detail(reader, result.ref),
        message=_written(result, "created"),
        warnings=[convert.diagnostic(d) for d in result.warnings],
    )


@router.put(
    "/workflows/{ref}",
    response_model=WorkflowResponse,
    summary="Update an API-managed workflow (partial)",
    description="Only the fields sent change; the result is re-validated. A file-managed "
    "workflow answers 409 naming the file to edit. Answers 503 on a standby replica.",
    responses=responses(400, 404, 409, 413, 422, 503),
    dependencies=[Depends(require_leader)],
)
async def update_workflow(
    body: UpdateWorkflowRequest,
    request: Request,
    ref: str = RefPath,
    pool: asyncpg.Pool = Depends(get_pool),  # noqa: B008
    reader: WorkflowReader = Depends(get_reader),  # noqa: B008
) -> WorkflowResponse:
    check_params(ref=ref)
    check_storable(body.model_dump())
    patch = {name: getattr(body, name) for name in body.model_fields_set}
    if not patch:
        raise ApiError(400, "empty-update", "the request body changes nothing; send a field")
    try:
        result = await _writer(request, pool).update(ref, patch)
    except ApiWorkflowError as exc:
        raise domain_error(exc) from None
    audit(request, "update", ref, fields=sorted(patch))
    return WorkflowResponse(
        data=await _detail(reader, ref),
        message=_written(result, "updated"),
        warnings=[convert.diagnostic(d) for d in result.warnings],
    )


@router.delete(
    "/workflows/{ref}",
    response_model=DeletedResponse,
    summary="Delete an API-managed workflow",
    description="A file-managed workflow answers 409: remove its file instead. Answers 503 "
    "on a standby replica.",
    responses=responses(400, 404, 409, 422, 503),
    dependencies=[Depends(require_leader)],
)
async def delete_workflow(
    request: Request,
    ref: str = RefPath,
    pool: asyncpg.Pool = Depends(get_pool),  # noqa: B008
) -> DeletedResponse:
    check_params(ref=ref)
    try:
        result = await _writer(request, pool).delete(ref)
    except ApiWorkflowError as exc:
        raise domain_error(exc) from None
    audit(request, "delete", ref)
    return DeletedResponse(
        data=DeletedWorkflow(id=result.id, ref=result.ref),
        message=f"workflow '{ref}' deleted",
    )
