"""What the /api/v1 routes need, taken from `request.app.state`.

The app factory (the daemon's `create_app`, or a test fixture) sets these
attributes; `configure_api` does it in one call:

- `app.state.settings` (`packsync.config.Settings`): `api_token`,
  `packs_base_dir`, `max_file_size`, `db_schema`.
- `app.state.pool` (`asyncpg.Pool`): writes of API-sourced workflows, pack lookups.
- `app.state.sync_service` (`SyncService`, or any `WorkflowReader`): list and get.
- `app.state.pack_syncer` (`PackSyncer`): `POST /packs/{ref}/workflows/sync`.
- `app.state.is_leader` (`() -> bool`, optional): writes answer 503 on a standby.
- `app.state.sync_timeout` (`float` seconds, optional, default 120): how long
  `POST .../sync` waits for the syncer before answering 503 `sync-timeout`.

When `is_leader` is absent, `app.state.daemon.role == "leader"` is used if a
daemon state is present, else the app counts as leader (a standalone app).
A missing `settings` answers 403 (API closed); a missing pool, service or
syncer answers 503 (the daemon has not connected to the database yet).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import asyncpg
from fastapi import FastAPI, Request

from packsync.config import Settings
from packsync.core.results import FailingFile, PackResult, WorkflowFilter
from packsync.http.api.errors import ApiError
from packsync.sync.service import SyncService


class PackSyncer(Protocol):
    """Syncs one pack now, through the daemon's per-pack scheduling so an API
    sync never races the watcher. The daemon implements it; tests may adapt
    `SyncService.sync_pack(ref, trigger="api")`."""

    async def sync_now(self, ref: str) -> PackResult: ...


class WorkflowReader(Protocol):
    """The read side of SyncService the API uses."""

    async def list_workflows(self, wanted: WorkflowFilter = ...) -> tuple[Sequence[Any], int]: ...

    async def get_workflow(self, ref: str) -> Any | None: ...

    async def pack_registered(self, ref: str) -> bool: ...

    async def failing_file(self, ref: str) -> FailingFile | None: ...


def configure_api(
    app: FastAPI,
    *,
    settings: Settings,
    pool: asyncpg.Pool | None,
    service: WorkflowReader | None,
    syncer: PackSyncer | None,
    is_leader: Callable[[], bool] | None = None,
) -> None:
    """Set the app.state attributes the API reads (may be called again, e.g.
    once the database is connected)."""
    app.state.settings = settings
    app.state.pool = pool
    app.state.sync_service = service
    app.state.pack_syncer = syncer
    if is_leader is not None:
        app.state.is_leader = is_leader


def _unavailable(what: str) -> ApiError:
    return ApiError(
        503,
        "api-unavailable",
        f"the API is not ready yet ({what} not connected); retry later",
        headers={"Retry-After": "5"},
    )


def get_settings(request: Request) -> Settings:
    settings = getattr(request.app.state, "settings", None)
    if not isinstance(settings, Settings):
        raise ApiError(403, "api-disabled", "the API is disabled: no settings configured")
    return settings


def get_pool(request: Request) -> asyncpg.Pool:
    pool = getattr(request.app.state, "pool", None)
    if pool is None:
        raise _unavailable("database")
    return pool


def get_reader(request: Request) -> WorkflowReader:
    service = getattr(request.app.state, "sync_service", None)
    if service is None:
        raise _unavailable("sync service")
    reader: WorkflowReader = service
    return reader


def get_service(request: Request) -> SyncService:
    """The SyncService itself: plans run on its dry-run twin (`planner`)."""
    service = getattr(request.app.state, "sync_service", None)
    if not isinstance(service, SyncService):
        raise _unavailable("sync service")
    return service


def get_syncer(request: Request) -> PackSyncer:
    syncer = getattr(request.app.state, "pack_syncer", None)
    if syncer is None:
        raise _unavailable("pack syncer")
    result: PackSyncer = syncer
    return result


DEFAULT_SYNC_TIMEOUT = 120.0


def sync_timeout(request: Request) -> float:
    value = getattr(request.app.state, "sync_timeout", None)
    return float(value) if isinstance(value, int | float) and value > 0 else DEFAULT_SYNC_TIMEOUT


def is_leader(request: Request) -> bool:
    state = request.app.state
    check = getattr(state, "is_leader", None)
    if callable(check):
        return bool(check())
    daemon = getattr(state, "daemon", None)
    if daemon is not None:
        return getattr(daemon, "role", "standby") == "leader"
    return True


async def require_leader(request: Request) -> None:
    """Writes go to the leader only: a standby answers 503 so a load balancer
    or client retries elsewhere."""
    if not is_leader(request):
        raise ApiError(
            503,
            "standby",
            "this replica is a standby: writes (create, update, delete, sync) are served "
            "by the leader of its sync_group; send them to the leader or retry later",
            headers={"Retry-After": "5"},
        )
