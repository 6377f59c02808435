"""Fixtures for the /api/v1 tests: a FastAPI app with the API mounted and
app.state set the way the daemon sets it, on the real test database, and an
httpx client speaking ASGI to it (with the bearer token)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from packsync.config import Settings
from packsync.http.api import configure_api, mount_api
from packsync.results import PackResult
from packsync.service import SyncService
from tests.packfactory import make_core_pack, make_pack, workflow_yaml

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


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_token": SecretStr(TOKEN)})


@pytest.fixture
def leader() -> Leader:
    return Leader()


@pytest.fixture
def api_app(api_settings: Settings, pool: asyncpg.Pool, leader: Leader) -> FastAPI:
    return build_app(api_settings, pool, leader)


@pytest.fixture
async def client(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(api_app, **AUTH) as c:
        yield c


@pytest.fixture
def api_service(api_settings: Settings, pool: asyncpg.Pool) -> SyncService:
    return SyncService(api_settings, pool)


def tagged(label: str, tags: list[str], *, enabled: bool = True, description: str = "d") -> str:
    text = workflow_yaml(label).replace(
        "description: A generated workflow", f"description: {description}"
    )
    return text + f"tags: [{', '.join(tags)}]\nenabled: {'true' if enabled else 'false'}\n"


@pytest.fixture
async def catalogue(api_service: SyncService, packs: Path) -> None:
    """core (actions only), ops (3 workflows), web (1 workflow), all registered."""
    make_core_pack(packs)
    make_pack(
        packs,
        "ops",
        {
            "deploy.yaml": tagged("Deploy", ["prod", "ci"], description="Ships the APP"),
            "backup.yaml": tagged("Backup", ["prod"]),
            "scratch.yaml": tagged("Scratch", ["dev"], enabled=False),
        },
    )
    make_pack(packs, "web", {"build.yaml": tagged("Build", ["ci"])})
    report = await api_service.sync_all(trigger="startup")
    assert report.totals["created"] == 4, report.to_dict()


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The error object, after checking the stable error shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    error: dict[str, Any] = body["error"]
    return error
