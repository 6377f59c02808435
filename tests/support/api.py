"""Plain helpers for the /api/v1 tests (fixtures live in apifixtures.py): an
app built the way the daemon builds it, on the real test database, and an
httpx client speaking ASGI to it."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from packsync.config import Settings
from packsync.core.results import PackResult
from packsync.http.api import configure_api, mount_api
from packsync.sync.service import SyncService

TOKEN = "s3cr3t-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class ServiceSyncer:
    """The PackSyncer the daemon provides, minus the scheduler: a direct sync."""

    def __init__(self, service: SyncService) -> None:
        self.service = service
        self.calls: list[str] = []

    async def sync_now(self, ref: str) -> PackResult:
        self.calls.append(ref)
        return await self.service.sync_pack(ref, trigger="api")


class Leader:
    """A switchable leader flag (the daemon passes its own)."""

    def __init__(self) -> None:
        self.value = True

    def __call__(self) -> bool:
        return self.value


def build_app(
    settings: Settings, pool: asyncpg.Pool | None, leader: Leader | None = None
) -> FastAPI:
    app = FastAPI(title="packsync", version="test")
    mount_api(app)
    service = SyncService(settings, pool) if pool is not None else None
    configure_api(
        app,
        settings=settings,
        pool=pool,
        service=service,
        syncer=ServiceSyncer(service) if service is not None else None,
        is_leader=leader,
    )
    return app


def client_for(app: FastAPI, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://packsync", headers=headers
    )


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The error object, after checking the stable error shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error
