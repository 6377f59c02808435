"""Audit of sync semantics at the service level (what the CLI and the API
call): a killed backend, thousands of files, hostile symlinks, permissions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg

from packsync.config import Settings
from packsync.db import queries
from packsync.service import SyncService
from tests.daemon_support import until
from tests.packfactory import make_core_pack, make_pack, workflow_yaml


async def _labels(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        return {r[0]: r[1] for r in await conn.fetch("SELECT ref, label FROM workflow_definition")}


async def test_backend_killed_mid_transaction_is_retried_by_the_service(
    service: SyncService, pool: asyncpg.Pool, packs: Path, settings: Settings, pg_url: str
) -> None:
    """`packsync sync` / the API: the connection running the pack's transaction
    is terminated server-side; the service retries the whole pack transaction
    on a fresh connection instead of failing the command."""
    make_core_pack(packs)
    make_pack(packs, "alpha", {"one.yaml": workflow_yaml("One")})
    await service.sync_all(trigger="cli")
    (packs / "alpha" / "workflows" / "one.yaml").write_text(workflow_yaml("New"))
    (packs / "alpha" / "workflows" / "two.yaml").write_text(workflow_yaml("Two"))
    admin = await asyncpg.connect(pg_url)
    try:
        blocker = admin.transaction()
        await blocker.start()
        await admin.execute(queries.PACK_XACT_LOCK, settings.db_schema, "alpha")
        task = asyncio.create_task(service.sync_pack("alpha", trigger="cli"))
        waiting: list[int] = []

        async def sync_is_waiting() -> bool:
            rows = await admin.fetch(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            waiting[:] = [r["pid"] for r in rows]
            return bool(waiting)

        await until(sync_is_waiting, what="sync inside its transaction")
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", waiting[0])
        await blocker.rollback()
    finally:
        await admin.close()
    result = await asyncio.wait_for(task, 30)
    assert result.outcome == "ok" and result.created == 1 and result.updated == 1
    assert await _labels(pool) == {"alpha.one": "New", "alpha.two": "Two"}
