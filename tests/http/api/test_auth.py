"""Bearer-token auth, the closed-by-default rule, standby writes and readiness."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx
from pydantic import SecretStr

from packsync.config import Settings
from packsync.http.api.auth import token_matches
from tests.support.api import AUTH, TOKEN, Leader, build_app, client_for, error_of
from tests.support.packfactory import make_pack, workflow_yaml

ENDPOINTS = [
    ("GET", "/api/v1/workflows"),
    ("GET", "/api/v1/workflows/ops.deploy"),
    ("GET", "/api/v1/packs/ops/workflows"),
    ("POST", "/api/v1/workflows"),
    ("PUT", "/api/v1/workflows/ops.deploy"),
    ("DELETE", "/api/v1/workflows/ops.deploy"),
    ("POST", "/api/v1/packs/ops/workflows/sync"),
    ("POST", "/api/v1/packs/ops/workflows/validate"),
]


async def _each(client: httpx.AsyncClient) -> list[httpx.Response]:
    return [await client.request(method, url, json={}) for method, url in ENDPOINTS]


async def test_no_token_configured_closes_every_endpoint(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    for token in (None, SecretStr("")):
        app = build_app(settings.model_copy(update={"api_token": token}), pool)
        async with client_for(app, Authorization="Bearer anything") as c:
            for response in await _each(c):
                assert response.status_code == 403, response.text
                assert error_of(response)["code"] == "api-disabled"
                assert "api_token" in error_of(response)["message"]


async def test_missing_header_is_401_with_challenge(api_app: object) -> None:
    async with client_for(api_app) as c:  # type: ignore[arg-type]
        for response in await _each(c):
            assert response.status_code == 401, response.text
            assert error_of(response)["code"] == "unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_wrong_token_and_wrong_scheme_are_401(api_app: object) -> None:
    for header in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer ", f"Basic {TOKEN}", TOKEN):
        async with client_for(api_app, Authorization=header) as c:  # type: ignore[arg-type]
            for response in await _each(c):
                assert response.status_code == 401, (header, response.text)
                assert error_of(response)["code"] == "unauthorized"


async def test_right_token_passes(client: httpx.AsyncClient, catalogue: None) -> None:
    response = await client.get("/api/v1/workflows")
    assert response.status_code == 200
    assert response.json()["pagination"]["total_items"] == 4


async def test_auth_is_checked_before_parameters(api_app: object) -> None:
    async with client_for(api_app) as c:  # type: ignore[arg-type]
        response = await c.get("/api/v1/workflows", params={"page": 0, "page_size": 9999})
        assert response.status_code == 401
        response = await c.post("/api/v1/workflows", json={"nonsense": True})
        assert response.status_code == 401


def test_token_comparison() -> None:
    assert token_matches("abc", "abc")
    assert not token_matches("abc", "abd")
    assert not token_matches("", "abc")
    assert not token_matches("\u00e9\u00e9", "abc")  # non-ASCII never raises
    assert token_matches("\u00e9", "\u00e9")


async def test_open_documents(api_app: object) -> None:
    async with client_for(api_app) as c:  # type: ignore[arg-type]
        spec = (await c.get("/openapi.json")).json()
        assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
        docs = await c.get("/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_standby_answers_reads_and_refuses_writes(
    client: httpx.AsyncClient, leader: Leader, catalogue: None
) -> None:
    leader.value = False
    assert (await client.get("/api/v1/workflows")).status_code == 200
    assert (await client.get("/api/v1/workflows/ops.deploy")).status_code == 200
    assert (await client.get("/api/v1/packs/ops/workflows")).status_code == 200
    assert (await client.post("/api/v1/packs/ops/workflows/validate")).status_code == 200
    writes = [
        ("POST", "/api/v1/workflows", {"ref": "ops.x", "definition": {"version": "1"}}),
        ("PUT", "/api/v1/workflows/ops.deploy", {"label": "x"}),
        ("DELETE", "/api/v1/workflows/ops.deploy", None),
        ("POST", "/api/v1/packs/ops/workflows/sync", None),
    ]
    for method, url, body in writes:
        response = await client.request(method, url, json=body)
        assert response.status_code == 503, (url, response.text)
        assert error_of(response)["code"] == "standby"
        assert "leader" in error_of(response)["message"]
    leader.value = True
    assert (await client.post("/api/v1/packs/ops/workflows/sync")).status_code == 200


async def test_standby_from_daemon_state(api_settings: Settings, pool: asyncpg.Pool) -> None:
    """Without is_leader, the daemon's state decides (app.state.daemon.role)."""

    class DaemonState:
        role = "standby"

    app = build_app(api_settings, pool)
    app.state.daemon = DaemonState()
    async with client_for(app, **AUTH) as c:
        response = await c.post("/api/v1/packs/ops/workflows/sync")
        assert response.status_code == 503 and error_of(response)["code"] == "standby"
        DaemonState.role = "leader"
        response = await c.post("/api/v1/packs/ops/workflows/sync")
        assert response.status_code == 404  # leader now: the pack just does not exist


async def test_not_ready_without_database(api_settings: Settings, packs: Path) -> None:
    """The daemon may serve HTTP before its pool exists: 503, not 500."""
    make_pack(packs, "ops", {"deploy.yaml": workflow_yaml()})
    app = build_app(api_settings, None)
    async with client_for(app, **AUTH) as c:
        for method, url in ENDPOINTS[:-1]:
            response = await c.request(method, url, json={"label": "x"})
            assert response.status_code == 503, (url, response.text)
            assert error_of(response)["code"] == "api-unavailable"
        # validation needs no database at all
        response = await c.post("/api/v1/packs/ops/workflows/validate")
        assert response.status_code == 200, response.text


async def test_lost_database_is_503(api_settings: Settings, pool: asyncpg.Pool) -> None:
    """A database that goes away mid-flight answers 503 with Retry-After, not 500."""
    from packsync.db.connection import create_pool

    own = await create_pool(api_settings)
    app = build_app(api_settings, own)
    await own.close()
    async with client_for(app, **AUTH) as c:
        for method, url in ENDPOINTS[:-1]:
            body = {"label": "x"} if method == "PUT" else None
            if url == "/api/v1/workflows" and method == "POST":
                body = {"ref": "ops.x", "definition": {"version": "1", "tasks": []}}
            response = await c.request(method, url, json=body)
            assert response.status_code == 503, (method, url, response.text)
            assert error_of(response)["code"] == "database-unavailable"
            assert response.headers["retry-after"] == "5"
