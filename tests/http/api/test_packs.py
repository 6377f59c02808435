"""POST /packs/{ref}/workflows/sync and /validate."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from packsync.core.results import PackResult
from tests.support.api import error_of
from tests.support.packfactory import make_core_pack, make_pack, workflow_yaml, write

BROKEN = """\
version: "1.0"
tasks:
  - name: start
    action: core.echo
    next:
      - do: [finsh]
  - name: finish
    action: core.noop
"""


async def test_sync_registers_and_reports(
    client: httpx.AsyncClient, api_app: FastAPI, packs: Path
) -> None:
    make_core_pack(packs)
    make_pack(packs, "demo", {"a.yaml": workflow_yaml("A"), "b.yaml": workflow_yaml("B")})
    response = await client.post("/api/v1/packs/demo/workflows/sync")
    assert response.status_code == 200, response.text
    payload = response.json()
    data = payload["data"]
    assert data["pack_ref"] == "demo" and data["outcome"] == "ok"
    assert data["loaded_count"] == 2 and data["registered_count"] == 2
    assert data["created"] == 2 and data["errors"] == []
    assert sorted(w["ref_name"] for w in data["workflows"]) == ["demo.a", "demo.b"]
    assert all(w["created"] is True and w["change"] == "created" for w in data["workflows"])
    ids = {w["ref_name"]: w["workflow_def_id"] for w in data["workflows"]}
    detail = (await client.get("/api/v1/workflows/demo.a")).json()["data"]
    assert detail["id"] == ids["demo.a"]
    assert "2 created" in payload["message"]
    assert api_app.state.pack_syncer.calls == ["demo"]  # went through the PackSyncer

    # unchanged the second time
    data = (await client.post("/api/v1/packs/demo/workflows/sync")).json()["data"]
    assert data["registered_count"] == 0 and data["unchanged"] == 2


async def test_sync_reports_errors_and_keeps_last_good(
    client: httpx.AsyncClient, packs: Path
) -> None:
    make_core_pack(packs)
    root = make_pack(packs, "demo", {"a.yaml": workflow_yaml("A")})
    assert (await client.post("/api/v1/packs/demo/workflows/sync")).status_code == 200
    write(root / "workflows" / "a.yaml", BROKEN)
    response = await client.post("/api/v1/packs/demo/workflows/sync")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["outcome"] == "errors" and data["failed"] == 1
    assert any("unknown-task" in e and "a.yaml:6:" in e for e in data["errors"]), data["errors"]
    located = [d for d in data["diagnostics"] if d["code"] == "unknown-task"]
    assert located and located[0]["line"] == 6
    detail = (await client.get("/api/v1/workflows/demo.a")).json()["data"]
    assert detail["label"] == "A" and detail["failing"] is True


async def test_sync_removed_folder_unregisters(client: httpx.AsyncClient, packs: Path) -> None:
    make_core_pack(packs)
    make_pack(packs, "demo", {"a.yaml": workflow_yaml("A")})
    make_pack(packs, "keep", {"k.yaml": workflow_yaml("K")})
    for ref in ("demo", "keep"):
        assert (await client.post(f"/api/v1/packs/{ref}/workflows/sync")).status_code == 200
    shutil.rmtree(packs / "demo")
    response = await client.post("/api/v1/packs/demo/workflows/sync")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["deleted"] == 1
    assert (await client.get("/api/v1/packs/demo/workflows")).status_code == 404
    # gone from disk and from the database: now unknown
    response = await client.post("/api/v1/packs/demo/workflows/sync")
    assert response.status_code == 404


async def test_sync_unknown_and_malformed(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/packs/ghost/workflows/sync")
    assert response.status_code == 404 and error_of(response)["code"] == "pack-not-found"
    for bad in ("Ghost", "a.b", "%2e%2e", "-x"):
        response = await client.post(f"/api/v1/packs/{bad}/workflows/sync")
        assert response.status_code == 400, (bad, response.text)
        assert error_of(response)["code"] == "pack-ref-format"


async def test_base_dir_gone_deletes_nothing(client: httpx.AsyncClient, packs: Path) -> None:
    make_pack(packs, "demo", {"a.yaml": workflow_yaml("A")})
    assert (await client.post("/api/v1/packs/demo/workflows/sync")).status_code == 200
    shutil.rmtree(packs)
    response = await client.post("/api/v1/packs/demo/workflows/sync")
    # the pack stays registered: a missing base directory never deletes anything
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["outcome"] == "refused" and data["deleted"] == 0
    assert any("base-dir-unavailable" in e for e in data["errors"]), data
    assert (await client.get("/api/v1/workflows/demo.a")).status_code == 200
    response = await client.post("/api/v1/packs/demo/workflows/validate")
    assert response.status_code == 503 and error_of(response)["code"] == "packs-dir-unavailable"


async def test_validate_is_a_dry_run(client: httpx.AsyncClient, packs: Path) -> None:
    make_core_pack(packs)
    make_pack(packs, "demo", {"good.yaml": workflow_yaml("G"), "bad.yaml": BROKEN})
    response = await client.post("/api/v1/packs/demo/workflows/validate")
    assert response.status_code == 200, response.text
    payload = response.json()
    data = payload["data"]
    assert data["pack_ref"] == "demo"
    assert data["validated_count"] == 2 and data["error_count"] == 1
    assert list(data["errors"]) == ["demo.bad"]
    assert "did you mean 'finish'" in data["errors"]["demo.bad"][0]
    bad = next(d for d in data["diagnostics"] if d["code"] == "unknown-task")
    assert bad["file"].endswith("demo/workflows/bad.yaml") and bad["line"] == 6
    assert "1 invalid" in payload["message"]
    # nothing was written
    listed = (await client.get("/api/v1/workflows")).json()
    assert listed["pagination"]["total_items"] == 0


async def test_validate_pack_level_problems(client: httpx.AsyncClient, packs: Path) -> None:
    make_pack(packs, "demo", {"a.yaml": workflow_yaml()}, pack_yaml="ref: other\n")
    data = (await client.post("/api/v1/packs/demo/workflows/validate")).json()["data"]
    assert "demo" in data["errors"] and data["errors"]["demo"]
    big = make_pack(packs, "big", {})
    write(big / "workflows" / "huge.yaml", "x" * (1024 * 1024 + 1))
    data = (await client.post("/api/v1/packs/big/workflows/validate")).json()["data"]
    assert data["error_count"] == 1 and data["validated_count"] == 1
    assert any("max_file_size" in m for m in data["errors"]["big"])


async def test_validate_unknown_and_malformed(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/packs/ghost/workflows/validate")
    assert response.status_code == 404 and error_of(response)["code"] == "pack-not-found"
    response = await client.post("/api/v1/packs/NOPE/workflows/validate")
    assert response.status_code == 400


class SlowSyncer:
    """A PackSyncer whose syncs wait for a gate (a busy scheduler), then run."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.finished: list[str] = []

    async def sync_now(self, ref: str) -> PackResult:
        await self.gate.wait()
        result: PackResult = await self.inner.sync_now(ref)
        self.finished.append(ref)
        return result


async def test_sync_timeout_is_503_and_the_sync_still_finishes(
    client: httpx.AsyncClient, api_app: FastAPI, packs: Path
) -> None:
    make_core_pack(packs)
    make_pack(packs, "demo", {"a.yaml": workflow_yaml("A")})
    slow = SlowSyncer(api_app.state.pack_syncer)
    api_app.state.pack_syncer = slow
    api_app.state.sync_timeout = 0.2
    response = await client.post("/api/v1/packs/demo/workflows/sync")
    assert response.status_code == 503, response.text
    assert error_of(response)["code"] == "sync-timeout"
    assert response.headers["retry-after"] == "10"
    slow.gate.set()
    for _ in range(200):
        if slow.finished:
            break
        await asyncio.sleep(0.05)
    assert slow.finished == ["demo"]  # the request's timeout did not cancel the sync
    assert (await client.get("/api/v1/workflows/demo.a")).status_code == 200


async def test_sync_of_a_pack_locked_elsewhere_is_409_not_500(
    api_settings: Any, pool: Any, packs: Path, pg_url: str
) -> None:
    """Another process keeps the pack's sync lock past pack_lock_timeout_seconds:
    the caller gets 409 pack-busy with Retry-After, not a 500."""
    import asyncpg

    from packsync.db import queries
    from tests.support.api import AUTH, build_app, client_for

    s = api_settings.model_copy(update={"pack_lock_timeout_seconds": 0.3})
    make_core_pack(packs)
    make_pack(packs, "demo", {"a.yaml": workflow_yaml("A")})
    admin = await asyncpg.connect(pg_url)
    try:
        blocker = admin.transaction()
        await blocker.start()
        await admin.execute(queries.PACK_XACT_LOCK, s.db_schema, "demo")
        async with client_for(build_app(s, pool), **AUTH) as client:
            response = await client.post("/api/v1/packs/demo/workflows/sync")
            assert response.status_code == 409, response.text
            assert error_of(response)["code"] == "pack-busy"
            assert response.headers["retry-after"] == "10"
            await blocker.rollback()
            response = await client.post("/api/v1/packs/demo/workflows/sync")
            assert response.status_code == 200 and response.json()["data"]["created"] == 1
    finally:
        await admin.close()
