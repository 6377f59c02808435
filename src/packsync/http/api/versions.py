"""/api/v1/workflows/{ref}/versions: the definition history (versions.py).

Reads serve any workflow packsync recorded; a restore writes only API-managed
workflows (through the API service, as a PUT would) and answers 409 for a
file-managed one with the file content to put back, since the file is the
source of truth.
"""

from __future__ import annotations

import asyncpg
from fastapi import APIRouter, Depends, Path, Request

from packsync.http.api.auth import audit
from packsync.http.api.deps import get_pool, get_settings, require_leader
from packsync.http.api.errors import ApiError, responses
from packsync.http.api.history_models import (
    RestoreResponse,
    RestoreResult,
    WorkflowVersionDetail,
    WorkflowVersionListResponse,
    WorkflowVersionResponse,
    WorkflowVersionSummary,
)
from packsync.http.api.textcheck import check_params
from packsync.http.api.workflows import RefPath, domain_error
from packsync.sync.api_workflows import ApiWorkflowError
from packsync.sync.versions import (
    DeletedVersion,
    HistoryError,
    NoSuchVersion,
    Version,
    VersionService,
)

router = APIRouter(tags=["history"])
VersionPath = Path(
    description="Version number (1, 2, 3... per ref).", ge=1, le=2**31 - 1, examples=[1]
)


def _service(request: Request, pool: asyncpg.Pool) -> VersionService:
    return VersionService(get_settings(request), pool)


def _history_error(exc: HistoryError) -> ApiError:
    if isinstance(exc, DeletedVersion):
        return ApiError(409, "version-deleted", str(exc), {"version": exc.version})
    code = "version-not-found" if isinstance(exc, NoSuchVersion) else "history-not-found"
    return ApiError(404, code, str(exc))


def _detail(version: Version) -> WorkflowVersionDetail:
    return WorkflowVersionDetail.model_validate(version.to_dict())


@router.get(
    "/workflows/{ref}/versions",
    response_model=WorkflowVersionListResponse,
    summary="List the recorded versions of a workflow",
    description="Every kept version of the workflow's stored definition, oldest first, "
    "without the definitions. A version is recorded whenever a sync or the API changes "
    "the definition; deletions are versions marked `deleted`. 404 when nothing was "
    "recorded for the ref.",
    responses=responses(400, 404, 422, 503),
)
async def list_workflow_versions(
    request: Request,
    ref: str = RefPath,
    pool: asyncpg.Pool = Depends(get_pool),  # noqa: B008
) -> WorkflowVersionListResponse:
    check_params(ref=ref)
    try:
        versions = await _service(request, pool).versions(ref)
    except HistoryError as exc:
        raise _history_error(exc) from None
    return WorkflowVersionListResponse(
        data=[WorkflowVersionSummary.model_validate(v.to_dict(definition=False)) for v in versions]
    )


@router.get(
    "/workflows/{ref}/versions/{version}",
    response_model=WorkflowVersionResponse,
    summary="Get one recorded version of a workflow",
    description="The version with its definition, exactly as Attune's table held it.",
    responses=responses(400, 404, 422, 503),
)
async def get_workflow_version(
    request: Request,
    ref: str = RefPath,
    version: int = VersionPath,
    pool: asyncpg.Pool = Depends(get_pool),  # noqa: B008
) -> WorkflowVersionResponse:
    check_params(ref=ref)
    try:
        found = await _service(request, pool).get(ref, version)
    except HistoryError as exc:
        raise _history_error(exc) from None
    return WorkflowVersionResponse(data=_detail(found))


@router.post(
    "/workflows/{ref}/versions/{version}/restore",
    response_model=RestoreResponse,
    summary="Restore a recorded version of an API-managed workflow",
    description="Writes the version's definition back through the same path as an update "
    "(validated again, companion action kept in step) and records it as a new version "
    "(trigger `restore`); nothing changes when it is already current. A file-managed "
    "workflow answers 409 `file-managed` with the file to edit and the `content` to put "
    "into it: the database is never written behind a file's back. Answers 503 on a "
    "standby replica.",
    responses=responses(400, 404, 409, 422, 503),
    dependencies=[Depends(require_leader)],
)
async def restore_workflow_version(
    request: Request,
    ref: str = RefPath,
    version: int = VersionPath,
    pool: asyncpg.Pool = Depends(get_pool),  # noqa: B008
) -> RestoreResponse:
    check_params(ref=ref)
    try:
        done = await _service(request, pool).restore(ref, version)
    except HistoryError as exc:
        raise _history_error(exc) from None
    except ApiWorkflowError as exc:
        raise domain_error(exc) from None
    if done.action == "file":
        raise ApiError(
            409,
            "file-managed",
            f"workflow '{ref}' is managed by the file {done.file}; nothing was written: put "
            f"the content of version {version} (details.content) into that file",
            {"ref": ref, "file": done.file, "content": done.content},
        )
    assert done.version is not None
    changed = done.action == "written"
    audit(request, "restore", ref, version=version, new_version=done.version.version)
    message = (
        f"workflow '{ref}': version {version} restored as version {done.version.version}"
        if changed
        else f"workflow '{ref}': version {version} is already the current definition"
    )
    return RestoreResponse(
        data=RestoreResult(restored_from=version, changed=changed, version=_detail(done.version)),
        message=message,
    )
