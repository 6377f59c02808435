"""/api/v1/workflows/{ref}/versions: list, read and restore recorded versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import structlog

from packsync.sync.service import SyncService
from tests.support.api import Leader, client_for, error_of
from tests.support.packfactory import workflow_yaml, write

pytestmark = pytest.mark.both_schemas

GOOD = {
    "version": "1.0",
    "tasks": [{"name": "start", "action": "core.echo", "input": {"message": "one"}}],
}


def with_message(message: str) -> dict[str, Any]:
    return {**GOOD, "tasks": [{**GOOD["tasks"][0], "input": {"message": message}}]}


async def api_workflow(client: httpx.AsyncClient) -> None:
    """ops.notify with three versions: messages one, two, three."""
    created = await client.post(
        "/api/v1/workflows", json={"ref": "ops.notify", "label": "Notify", "definition": GOOD}
    )
    assert created.status_code == 201, created.text
    for message in ("two", "three"):
        response = await client.put(
            "/api/v1/workflows/ops.notify", json={"definition": with_message(message)}
        )
        assert response.status_code == 200, response.text


async def test_list_and_get_versions(client: httpx.AsyncClient, catalogue: None) -> None:
    await api_workflow(client)
    listed = await client.get("/api/v1/workflows/ops.notify/versions")
    assert listed.status_code == 200, listed.text
    data = listed.json()["data"]
    assert [v["version"] for v in data] == [1, 2, 3]
    assert {v["source"] for v in data} == {"api"} and {v["trigger"] for v in data} == {"api"}
    assert all("definition" not in v for v in data)
    assert all(len(v["definition_hash"]) == 64 for v in data)
    one = (await client.get("/api/v1/workflows/ops.notify/versions/2")).json()["data"]
    assert one["version"] == 2 and one["deleted"] is False
    assert one["definition"]["tasks"][0]["input"] == {"message": "two"}
    current = (await client.get("/api/v1/workflows/ops.notify")).json()["data"]
    latest = (await client.get("/api/v1/workflows/ops.notify/versions/3")).json()["data"]
    assert latest["definition"] == current["definition"]
    # file-managed workflows have history too (the catalogue's sync wrote version 1)
    files = (await client.get("/api/v1/workflows/ops.deploy/versions")).json()["data"]
    assert [(v["version"], v["source"], v["file_path"]) for v in files] == [
        (1, "file", "workflows/deploy.yaml")
    ]


async def test_unknown_ref_or_version_is_404(client: httpx.AsyncClient, catalogue: None) -> None:
    response = await client.get("/api/v1/workflows/ops.nothing/versions")
    assert response.status_code == 404
    assert error_of(response)["code"] == "history-not-found"
    response = await client.get("/api/v1/workflows/ops.deploy/versions/7")
    assert response.status_code == 404
    assert error_of(response)["code"] == "version-not-found"
    response = await client.get("/api/v1/workflows/ops.deploy/versions/0")
    assert response.status_code == 422


async def test_restore_an_api_workflow(
    client: httpx.AsyncClient, catalogue: None, pool: asyncpg.Pool
) -> None:
    await api_workflow(client)
    with structlog.testing.capture_logs() as logs:
        response = await client.post("/api/v1/workflows/ops.notify/versions/1/restore")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"]["restored_from"] == 1 and body["data"]["changed"] is True
    assert body["data"]["version"]["version"] == 4
    assert body["data"]["version"]["trigger"] == "restore"
    assert "restored as version 4" in body["message"]
    current = (await client.get("/api/v1/workflows/ops.notify")).json()["data"]
    assert current["definition"]["tasks"][0]["input"] == {"message": "one"}
    one = (await client.get("/api/v1/workflows/ops.notify/versions/1")).json()["data"]
    assert body["data"]["version"]["definition_hash"] == one["definition_hash"]
    writes = [e for e in logs if e.get("event") == "api write"]
    assert [(e["action"], e["ref"], e["version"]) for e in writes] == [("restore", "ops.notify", 1)]
    assert writes[0]["token_id"]
    # already current: nothing written
    again = await client.post("/api/v1/workflows/ops.notify/versions/1/restore")
    assert again.status_code == 200 and again.json()["data"]["changed"] is False
    listed = (await client.get("/api/v1/workflows/ops.notify/versions")).json()["data"]
    assert len(listed) == 4


async def test_restore_of_a_file_workflow_is_409_with_the_content(
    client: httpx.AsyncClient,
    catalogue: None,
    api_service: SyncService,
    packs: Path,
    pool: asyncpg.Pool,
) -> None:
    write(packs / "ops" / "workflows" / "deploy.yaml", workflow_yaml("Deploy 2"))
    assert (await api_service.sync_pack("ops", trigger="cli")).updated == 1
    async with pool.acquire() as conn:
        before = await conn.fetchval(
            "SELECT definition FROM workflow_definition WHERE ref = 'ops.deploy'"
        )
    response = await client.post("/api/v1/workflows/ops.deploy/versions/1/restore")
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "file-managed"
    assert error["details"]["file"] == str(packs / "ops" / "workflows" / "deploy.yaml")
    assert "label: Deploy\n" in error["details"]["content"]
    async with pool.acquire() as conn:
        after = await conn.fetchval(
            "SELECT definition FROM workflow_definition WHERE ref = 'ops.deploy'"
        )
        count = await conn.fetchval(
            "SELECT count(*) FROM workflow_version WHERE ref = 'ops.deploy'"
        )
    assert after == before and count == 2


async def test_restore_needs_the_token_and_the_leader(
    api_app: Any, client: httpx.AsyncClient, catalogue: None, leader: Leader
) -> None:
    await api_workflow(client)
    async with client_for(api_app) as anonymous:
        response = await anonymous.post("/api/v1/workflows/ops.notify/versions/1/restore")
        assert response.status_code == 401
        assert (await anonymous.get("/api/v1/workflows/ops.notify/versions")).status_code == 401
    leader.value = False
    response = await client.post("/api/v1/workflows/ops.notify/versions/1/restore")
    assert response.status_code == 503 and error_of(response)["code"] == "standby"
    # reads are served by a standby
    assert (await client.get("/api/v1/workflows/ops.notify/versions")).status_code == 200


async def test_restore_of_a_deletion_is_409(client: httpx.AsyncClient, catalogue: None) -> None:
    await api_workflow(client)
    assert (await client.delete("/api/v1/workflows/ops.notify")).status_code == 200
    listed = (await client.get("/api/v1/workflows/ops.notify/versions")).json()["data"]
    assert listed[-1]["deleted"] is True and listed[-1]["definition_hash"] is None
    response = await client.post(f"/api/v1/workflows/ops.notify/versions/{len(listed)}/restore")
    assert response.status_code == 409 and error_of(response)["code"] == "version-deleted"
    response = await client.post("/api/v1/workflows/ops.notify/versions/2/restore")
    assert response.status_code == 200, response.text
    assert (await client.get("/api/v1/workflows/ops.notify")).status_code == 200
