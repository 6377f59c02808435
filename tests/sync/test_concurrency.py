"""Two separate processes syncing the same pack at once (daemon + CLI) are
serialised by the per-pack advisory lock: every file is created exactly once
and the final state is exactly the disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import asyncpg

from packsync.config import Settings
from packsync.core.results import WorkflowFilter
from packsync.sync.service import SyncService
from tests.support.packfactory import make_pack, workflow_yaml, write

WORKER = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    from pathlib import Path
    from packsync.config import Settings
    from packsync.db.connection import create_pool
    from packsync.sync.service import SyncService

    WORKFLOW = Path(sys.argv[3]).read_text()

    async def main(name: str, go: Path) -> None:
        settings = Settings()
        pool = await create_pool(settings)
        service = SyncService(settings, pool)
        while not go.exists():
            await asyncio.sleep(0.01)
        created = []
        for k in range(5):
            path = settings.packs_base_dir / "busy" / "workflows" / f"{name}_{k}.yaml"
            tmp = path.with_name("." + path.name)  # hidden: never loaded
            tmp.write_text(WORKFLOW)
            os.replace(tmp, path)  # atomic, so the other process never reads half a file
            result = await service.sync_pack("busy", trigger="cli")
            assert result.outcome == "ok", result
            created.append(result.created)
        await pool.close()
        print(json.dumps(created))

    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
    """
)


async def test_two_processes_sync_one_pack(
    settings: Settings, pool: asyncpg.Pool, packs: Path, tmp_path: Path
) -> None:
    make_pack(packs, "busy", {f"base_{i}.yaml": workflow_yaml(f"W{i}") for i in range(20)})
    script = write(tmp_path / "worker.py", WORKER)
    go = tmp_path / "go"
    extra = write(tmp_path / "extra.yaml", workflow_yaml("Extra"))
    env = {
        **os.environ,
        "ATTUNE__DATABASE_URL": settings.database_url.get_secret_value(),  # type: ignore[union-attr]
        "ATTUNE__DB_SCHEMA": settings.db_schema,
        "ATTUNE__STATE_SCHEMA": settings.state_schema,
        "ATTUNE__PACKS_BASE_DIR": str(packs),
        "ATTUNE__STATE_DIR": str(tmp_path / "state"),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), name, str(go), str(extra)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for name in ("p1", "p2")
    ]
    time.sleep(1.0)  # both connected and waiting
    go.touch()
    created = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        created += sum(json.loads(out.strip().splitlines()[-1]))
    # 20 base files + 2 x 5 new ones, each created by exactly one sync
    assert created == 30
    async with pool.acquire() as conn:
        refs = [r[0] for r in await conn.fetch("SELECT ref FROM workflow_definition ORDER BY ref")]
        assert await conn.fetchval("SELECT count(*) FROM pack") == 1
        assert await conn.fetchval("SELECT count(*) FROM workflow_sync_error") == 0
    assert len(refs) == 30 and len(set(refs)) == 30
    final = await SyncService(settings, pool).sync_pack("busy", trigger="cli")
    assert (final.unchanged, final.created, final.updated) == (30, 0, 0)


async def test_sync_waits_for_the_pack_lock_and_readers_see_old_state(
    settings: Settings, pool: asyncpg.Pool, service: SyncService, packs: Path
) -> None:
    """Another transaction holding the pack's lock (a daemon mid-sync) blocks
    this sync; until it commits, readers see the previous state."""
    import asyncio

    from packsync.db import queries

    make_pack(packs, "locked", {"a.yaml": workflow_yaml("A1")})
    await service.sync_pack("locked", trigger="cli")
    write(packs / "locked" / "workflows" / "a.yaml", workflow_yaml("A2"))
    write(packs / "locked" / "workflows" / "b.yaml", workflow_yaml("B"))
    holder = await asyncpg.connect(settings.database_url.get_secret_value())  # type: ignore[union-attr]
    try:
        tx = holder.transaction()
        await tx.start()
        await holder.execute(queries.PACK_XACT_LOCK, settings.db_schema, "locked")
        task = asyncio.create_task(service.sync_pack("locked", trigger="watch"))
        await asyncio.sleep(0.5)
        assert not task.done()
        rows, total = await service.list_workflows(WorkflowFilter(pack="locked"))
        assert total == 1 and rows[0].label == "A1"
        await tx.rollback()
        result = await asyncio.wait_for(task, 30)
    finally:
        await holder.close()
    assert (result.created, result.updated) == (1, 1)
    rows, total = await service.list_workflows(WorkflowFilter(pack="locked"))
    assert total == 2 and {r.label for r in rows} == {"A2", "B"}
