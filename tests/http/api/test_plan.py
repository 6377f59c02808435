"""POST /api/v1/packs/{ref}/workflows/plan: the sync's plan over HTTP, writing nothing."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import httpx

from tests.support.api import Leader, error_of
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml, write


async def _count(pool: asyncpg.Pool, sql: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(sql))


async def test_plan_answers_what_the_sync_then_does(
    client: httpx.AsyncClient, pool: asyncpg.Pool, packs: Path, leader: Leader
) -> None:
    make_core_pack(packs)
    make_pack(packs, "demo", {"a.yaml": workflow_yaml("A"), "b.yaml": workflow_yaml("B")})
    assert (await client.post("/api/v1/packs/demo/workflows/sync")).status_code == 200
    write(packs / "demo" / "workflows" / "a.yaml", workflow_yaml("A v2"))
    (packs / "demo" / "workflows" / "b.yaml").unlink()
    write(packs / "demo" / "workflows" / "c.yaml", workflow_yaml("C"))
    runs = await _count(pool, "SELECT count(*) FROM sync_run")

    leader.value = False  # read-only: a standby answers it too
    response = await client.post("/api/v1/packs/demo/workflows/plan")
    assert response.status_code == 200, response.text
    body = response.json()
    data = body["data"]
    assert (data["created"], data["updated"], data["deleted"]) == (1, 1, 1)
    assert data["changes_pending"] is True and data["outcome"] == "ok"
    assert data["pack_change"] is None
    by_ref = {w["ref"]: w for w in data["workflows"]}
    assert by_ref["demo.a"]["change"] == "updated"
    assert "-label: A\n+label: A v2\n" in by_ref["demo.a"]["definition_diff"]
    assert "+label: A v2" in by_ref["demo.a"]["action_diff"]
    assert by_ref["demo.b"]["change"] == "deleted" and by_ref["demo.c"]["change"] == "created"
    assert "1 to create, 1 to update, 1 to delete" in body["message"]
    assert await _count(pool, "SELECT count(*) FROM sync_run") == runs  # nothing recorded
    assert await _count(pool, "SELECT count(*) FROM workflow_definition") == 2

    leader.value = True
    synced = (await client.post("/api/v1/packs/demo/workflows/sync")).json()["data"]
    for name in ("created", "updated", "deleted", "unchanged", "failed", "outcome"):
        assert synced[name] == data[name], name
    again = (await client.post("/api/v1/packs/demo/workflows/plan")).json()["data"]
    assert again["changes_pending"] is False and again["unchanged"] == 2


async def test_plan_of_an_unknown_or_malformed_pack(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/packs/nowhere/workflows/plan")
    assert response.status_code == 404 and error_of(response)["code"] == "pack-not-found"
    response = await client.post("/api/v1/packs/Bad.Ref/workflows/plan")
    assert response.status_code == 400 and error_of(response)["code"] == "pack-ref-format"


def test_plan_has_a_named_operation() -> None:
    from packsync.daemon.state import DaemonState
    from packsync.http.app import create_app
    from packsync.metrics import Metrics

    spec = create_app(DaemonState(metrics=Metrics())).openapi()
    op = spec["paths"]["/api/v1/packs/{ref}/workflows/plan"]["post"]
    assert op["operationId"] == "planPack"
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/PackPlanResponse"}
