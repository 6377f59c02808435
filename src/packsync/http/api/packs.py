"""/api/v1/packs/{ref}/...: a pack's workflows, sync now, plan, validate (dry run).

Sync goes through the daemon's `PackSyncer` so it is serialised with the
watcher's syncs of the same pack; plan runs the sync's own steps in a
read-only transaction and validation reads the pack from disk: both write
nothing, so a standby answers them too.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, Path, Request

from packsync.config import Settings
from packsync.core.refs import PACK_REF, PACK_REF_CODE, PACK_REF_PATTERN, pack_ref_message
from packsync.http.api import convert
from packsync.http.api.auth import audit
from packsync.http.api.deps import (
    PackSyncer,
    WorkflowReader,
    get_reader,
    get_service,
    get_settings,
    get_syncer,
    require_leader,
    sync_timeout,
)
from packsync.http.api.errors import ApiError, responses
from packsync.http.api.models import (
    PackPlanResponse,
    PackSyncResponse,
    PackValidationResponse,
    PackValidationResult,
    WorkflowListResponse,
)
from packsync.http.api.textcheck import check_params
from packsync.http.api.workflows import ListFilters, list_page
from packsync.pipeline.catalog import build_catalog
from packsync.pipeline.load import load_pack
from packsync.pipeline.model import ScanResult
from packsync.pipeline.scan import BaseDirUnavailable, scan_pack
from packsync.sync.preview import plan_one
from packsync.sync.service import SyncService

router = APIRouter(tags=["packs"])

PackPath = Path(
    description="Pack ref (the pack's folder name); a malformed ref answers 400.",
    max_length=255,
    examples=["demo"],
    json_schema_extra={"pattern": PACK_REF_PATTERN},
)


def _check_ref(ref: str) -> None:
    check_params(ref=ref)
    if not PACK_REF.match(ref):
        raise ApiError(400, PACK_REF_CODE, pack_ref_message(ref))


def _base_unavailable(exc: BaseDirUnavailable) -> ApiError:
    return ApiError(503, "packs-dir-unavailable", str(exc), headers={"Retry-After": "5"})


@router.get(
    "/packs/{ref}/workflows",
    response_model=WorkflowListResponse,
    summary="List a pack's workflows",
    description="Same filters and pagination as `GET /workflows`; 404 when the pack is "
    "not registered.",
    responses=responses(400, 404, 422, 503),
)
async def pack_workflows(
    ref: str = PackPath,
    filters: ListFilters = Depends(),  # noqa: B008
    reader: WorkflowReader = Depends(get_reader),  # noqa: B008
) -> WorkflowListResponse:
    _check_ref(ref)
    if not await reader.pack_registered(ref):
        raise ApiError(404, "pack-not-found", f"pack '{ref}' is not registered")
    return await list_page(reader, filters, ref)


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of a sync nobody waits for any more (no 'exception
    was never retrieved' noise; the syncer logs its own failures)."""
    if not task.cancelled():
        task.exception()


def _folder_exists(settings: Settings, ref: str) -> bool:
    return os.path.isdir(settings.packs_base_dir / ref)


async def _require_known_pack(settings: Settings, reader: WorkflowReader, ref: str) -> None:
    """A valid ref whose pack is on disk or registered; else 400 or 404."""
    _check_ref(ref)
    on_disk = await asyncio.to_thread(_folder_exists, settings, ref)
    if not on_disk and not await reader.pack_registered(ref):
        raise ApiError(
            404,
            "pack-not-found",
            f"pack '{ref}' has no folder in {settings.packs_base_dir} and is not registered",
        )


@router.post(
    "/packs/{ref}/workflows/sync",
    response_model=PackSyncResponse,
    summary="Sync a pack from disk now",
    description="Runs through the daemon's per-pack scheduling (never concurrently with a "
    "watcher sync of the same pack). The result says what changed; files that fail keep "
    "their last good version and are listed in `errors`. A pack whose folder was removed "
    "is unregistered. 404 when the pack is neither on disk nor registered; 503 on a "
    "standby replica, or when the sync has not finished within the time limit (default "
    "120 s; it then continues in the background). 409 `pack-busy` when another process "
    "held the pack's sync lock longer than `pack_lock_timeout_seconds`.",
    responses=responses(400, 404, 409, 422, 503),
    dependencies=[Depends(require_leader)],
)
async def sync_pack(
    request: Request,
    ref: str = PackPath,
    settings: Settings = Depends(get_settings),  # noqa: B008
    reader: WorkflowReader = Depends(get_reader),  # noqa: B008
    syncer: PackSyncer = Depends(get_syncer),  # noqa: B008
) -> PackSyncResponse:
    await _require_known_pack(settings, reader, ref)
    # Shielded: a client that gives up (or our own timeout) never cancels a
    # sync the scheduler already started; it finishes and is recorded.
    pending = asyncio.ensure_future(syncer.sync_now(ref))
    pending.add_done_callback(_consume)
    try:
        result = await asyncio.wait_for(asyncio.shield(pending), timeout=sync_timeout(request))
    except TimeoutError:
        raise ApiError(
            503,
            "sync-timeout",
            f"the sync of pack '{ref}' did not finish within {sync_timeout(request):g} s "
            "(queued behind other syncs, or the database is unreachable); it continues in "
            "the background: check GET /status or retry later",
            headers={"Retry-After": "10"},
        ) from None
    except BaseDirUnavailable as exc:
        raise _base_unavailable(exc) from None
    except asyncpg.LockNotAvailableError:
        raise _pack_busy(ref) from None
    data = convert.pack_sync_result(result)
    audit(request, "sync", ref, outcome=data.outcome)
    message = (
        f"pack '{ref}' synced ({data.outcome}): {data.created} created, {data.updated} "
        f"updated, {data.unchanged} unchanged, {data.deleted} deleted, {data.failed} failed"
    )
    if result.message:
        message += f"; {result.message}"
    return PackSyncResponse(data=data, message=message)


def _pack_busy(ref: str) -> ApiError:
    return ApiError(
        409,
        "pack-busy",
        f"another process holds the sync lock of pack '{ref}' (a CLI sync, another "
        "daemon's transaction); retry later",
        headers={"Retry-After": "10"},
    )


@router.post(
    "/packs/{ref}/workflows/plan",
    response_model=PackPlanResponse,
    summary="Plan a pack sync (dry run with diffs)",
    description="What `POST .../sync` would do now, computed by the sync's own steps (pack "
    "lock, load, plan, deletion guard) in a read-only transaction: per workflow `created`, "
    "`updated`, `deleted`, `unchanged`, `failed` or `refused`, with unified diffs of the "
    "workflow_definition and action rows in the form Attune stores. Writes nothing, so "
    "standbys answer it too. 404 when the pack is neither on disk nor registered; 409 "
    "`pack-busy` when another process held the pack's sync lock longer than "
    "`pack_lock_timeout_seconds`.",
    responses=responses(400, 404, 409, 422, 503),
)
async def plan_pack(
    ref: str = PackPath,
    settings: Settings = Depends(get_settings),  # noqa: B008
    service: SyncService = Depends(get_service),  # noqa: B008
) -> PackPlanResponse:
    await _require_known_pack(settings, service, ref)
    try:
        plan = await plan_one(service, ref)
    except asyncpg.LockNotAvailableError:
        raise _pack_busy(ref) from None
    data = convert.pack_plan_result(plan)
    verdict = "changes pending" if data.changes_pending else "nothing to do"
    message = (
        f"pack '{ref}' plan ({data.outcome}, {verdict}): {data.created} to create, "
        f"{data.updated} to update, {data.deleted} to delete, {data.unchanged} unchanged, "
        f"{data.failed} failing"
    )
    return PackPlanResponse(data=data, message=message)


def _validate_from_disk(settings: Settings, ref: str) -> PackValidationResult | None:
    scanned = scan_pack(settings.packs_base_dir, ref, max_file_size=settings.max_file_size)
    if scanned is None:
        return None
    catalog = build_catalog(
        ScanResult(base_dir=settings.packs_base_dir, base_ok=True, packs={ref: scanned})
    )
    loaded = load_pack(scanned, catalog)
    return convert.pack_validation_result(loaded, unreadable=len(scanned.unreadable_workflows))


@router.post(
    "/packs/{ref}/workflows/validate",
    response_model=PackValidationResponse,
    summary="Validate a pack on disk (dry run)",
    description="Parses and validates every workflow file of the pack and writes nothing. "
    "Always 200 when the pack exists: the report says what is wrong (`error_count`, "
    "`errors` by ref, located `diagnostics`). Served by standbys too.",
    responses=responses(400, 404, 422, 503),
)
async def validate_pack(
    ref: str = PackPath,
    settings: Settings = Depends(get_settings),  # noqa: B008
) -> PackValidationResponse:
    _check_ref(ref)
    try:
        report = await asyncio.to_thread(_validate_from_disk, settings, ref)
    except BaseDirUnavailable as exc:
        raise _base_unavailable(exc) from None
    if report is None:
        raise ApiError(
            404, "pack-not-found", f"pack '{ref}' has no folder in {settings.packs_base_dir}"
        )
    verdict = "valid" if report.error_count == 0 else f"{report.error_count} invalid file(s)"
    return PackValidationResponse(
        data=report,
        message=f"pack '{ref}': {report.validated_count} workflow file(s) checked, {verdict}",
    )
