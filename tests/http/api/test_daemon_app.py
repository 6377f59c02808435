"""/api/v1 mounted on the daemon's own app, served by its HttpServer: probes
and metrics stay open, the API needs the token, the daemon's role decides
whether writes are accepted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from packsync.config import Settings
from packsync.daemon.state import DaemonState
from packsync.http.api import configure_api
from packsync.http.app import create_app
from packsync.http.server import HttpServer
from packsync.metrics import Metrics
from packsync.sync.service import SyncService
from tests.support.api import AUTH, ServiceSyncer, error_of


@pytest.fixture
async def daemon_http(
    api_settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[tuple[DaemonState, str]]:
    state = DaemonState(metrics=Metrics("9.9.9"), sync_group="default")
    app = create_app(state)  # the daemon's app mounts /api/v1 itself
    service = SyncService(api_settings, pool)
    # no is_leader: the daemon state's role decides
    configure_api(
        app, settings=api_settings, pool=pool, service=service, syncer=ServiceSyncer(service)
    )
    server = HttpServer(app, "127.0.0.1", 0)
    port = await server.start()
    try:
        yield state, f"http://127.0.0.1:{port}"
    finally:
        await server.stop()


async def test_probes_open_api_closed(daemon_http: tuple[DaemonState, str]) -> None:
    _, url = daemon_http
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        assert (await c.get("/healthz")).status_code == 200
        ready = await c.get("/readyz")  # not ready yet: the probe's own 503 body
        assert ready.status_code == 503 and ready.json()["status"] == "not ready"
        # no database seen yet: nobody knows who leads
        assert (await c.get("/status")).json()["role"] == "unknown"
        assert (await c.get("/metrics")).text.startswith("#")
        assert (await c.get("/openapi.json")).status_code == 200
        response = await c.get("/api/v1/workflows")
        assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"
        response = await c.get("/api/v1/workflows", headers=AUTH)
        assert response.status_code == 200


async def test_role_gates_writes(daemon_http: tuple[DaemonState, str]) -> None:
    state, url = daemon_http
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=AUTH) as c:
        response = await c.post("/api/v1/packs/demo/workflows/sync")
        assert response.status_code == 503 and error_of(response)["code"] == "standby"
        assert (await c.post("/api/v1/packs/demo/workflows/validate")).status_code == 404
        state.set_role(True)
        response = await c.post("/api/v1/packs/demo/workflows/sync")
        assert response.status_code == 404  # leader now; the pack just does not exist


async def test_openapi_lists_probes_and_api(daemon_http: tuple[DaemonState, str]) -> None:
    _, url = daemon_http
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        paths = set((await c.get("/openapi.json")).json()["paths"])
    assert {"/healthz", "/readyz", "/status", "/metrics", "/api/v1/workflows"} <= paths
