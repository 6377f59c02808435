"""Fixtures for the /api/v1 tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from packsync.config import Settings
from packsync.sync.service import SyncService
from tests.support.api import AUTH, TOKEN, Leader, build_app, client_for
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml


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
