"""sync_group ownership and api-sourced rows: file sync never touches what is
not its own."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from packsync.config import Settings
from packsync.core.results import PackOwnedElsewhere
from packsync.sync.service import SyncService
from tests.support.packfactory import make_pack, workflow_yaml


async def fetch(pool: asyncpg.Pool, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


def group_service(settings: Settings, pool: asyncpg.Pool, base: Path, group: str) -> SyncService:
    base.mkdir(parents=True, exist_ok=True)
    return SyncService(
        settings.model_copy(update={"packs_base_dir": base, "sync_group": group}), pool
    )


async def test_groups_do_not_purge_each_other(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    host_a = group_service(settings, pool, tmp_path / "a", "host-a")
    host_b = group_service(settings, pool, tmp_path / "b", "host-b")
    make_pack(tmp_path / "a", "apack", {"x.yaml": workflow_yaml()})
    make_pack(tmp_path / "b", "bpack", {"y.yaml": workflow_yaml()})
    await host_a.sync_all(trigger="startup")
    await host_b.sync_all(trigger="startup")
    managed = await fetch(pool, "SELECT * FROM managed_pack")
    groups = {r["pack_ref"]: r["sync_group"] for r in managed}
    assert groups == {"apack": "host-a", "bpack": "host-b"}
    # B's sweep never sees apack on its disk, and must not delete it (or refuse it)
    report = await host_b.sync_all(trigger="reconcile")
    assert report.refused_deletes == [] and report.totals["deleted"] == 0
    # even B's emptied base with confirmation only removes B's own pack
    shutil.rmtree(tmp_path / "b" / "bpack")
    await host_b.sync_all(trigger="cli", allow_mass_delete=True)
    refs = {r["ref"] for r in await fetch(pool, "SELECT ref FROM workflow_definition")}
    assert refs == {"apack.x"}
    # a single sync for a pack of the other group does nothing
    other = await host_b.sync_pack("apack", trigger="watch")
    assert other.deleted == 0 and other.outcome == "ok"
    assert {r["ref"] for r in await fetch(pool, "SELECT ref FROM pack")} == {"apack"}


async def test_pack_owned_by_another_group_is_a_conflict(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    host_a = group_service(settings, pool, tmp_path / "a", "host-a")
    host_b = group_service(settings, pool, tmp_path / "b", "host-b")
    make_pack(tmp_path / "a", "shared", {"x.yaml": workflow_yaml("From A")})
    make_pack(
        tmp_path / "b", "shared", {"x.yaml": workflow_yaml("From B"), "z.yaml": workflow_yaml()}
    )
    await host_a.sync_all(trigger="startup")
    before = await fetch(pool, "SELECT ref, xmin::text AS x FROM workflow_definition")
    result = await host_b.sync_pack("shared", trigger="cli")
    assert result.outcome == "conflict"
    assert any(d.code == "pack-conflict" and "host-a" in d.message for d in result.diagnostics)
    assert await fetch(pool, "SELECT ref, xmin::text AS x FROM workflow_definition") == before
    label = await fetch(pool, "SELECT label FROM workflow_definition WHERE ref = 'shared.x'")
    assert label == [{"label": "From A"}]
    report = await host_b.sync_all(trigger="reconcile")
    assert [p.outcome for p in report.packs] == ["conflict"]
    with pytest.raises(PackOwnedElsewhere):
        await host_b.delete_pack("shared")


async def insert_api_workflow(pool: asyncpg.Pool, pack: str, ref: str) -> int:
    """A workflow as packsync's API writes it: the row, its companion action and
    packsync's record (`source = 'api'`)."""
    async with pool.acquire() as conn, conn.transaction():
        wid, pack_id = await conn.fetchrow(
            """INSERT INTO workflow_definition (ref, pack, pack_ref, label, version, definition)
               SELECT $2, id, ref, 'api made', '1.0', '{"tasks": []}'::jsonb
               FROM pack WHERE ref = $1 RETURNING id, pack""",
            pack,
            ref,
        )
        action = await conn.fetchval(
            "INSERT INTO action (ref, pack, pack_ref, label, entrypoint, workflow_def)"
            " VALUES ($1, $2, $3, 'api made', 'workflows/x.workflow.yaml', $4) RETURNING id",
            ref,
            pack_id,
            pack,
            wid,
        )
        await conn.execute(
            "INSERT INTO managed_workflow (workflow_id, ref, pack_ref, action_id, source)"
            " VALUES ($1, $2, $3, $4, 'api')",
            wid,
            ref,
            pack,
            action,
        )
        return int(wid)


async def test_api_rows_are_never_touched(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    for ref in ("one", "two", "three"):
        make_pack(packs, ref, {"f.yaml": workflow_yaml()})
    await service.sync_all(trigger="startup")
    api_id = await insert_api_workflow(pool, "one", "one.from_api")
    before = await fetch(
        pool, "SELECT xmin::text AS x FROM workflow_definition WHERE id = $1", api_id
    )
    # a file that claims the api row's ref fails; the api row is untouched
    make_pack(packs, "one", {"f.yaml": workflow_yaml(), "from_api.yaml": workflow_yaml("File")})
    result = await service.sync_pack("one", trigger="watch")
    clash = next(w for w in result.workflows if w.ref == "one.from_api")
    assert clash.change == "failed" and clash.errors[0].code == "ref-conflict"
    (packs / "one" / "workflows" / "from_api.yaml").unlink()
    # removing the pack folder removes file rows only; the api row keeps the pack row
    shutil.rmtree(packs / "one")
    removed = await service.sync_pack("one", trigger="watch")
    assert removed.outcome == "removed" and removed.deleted == 1
    rows = await fetch(
        pool,
        "SELECT w.ref, m.source FROM workflow_definition w"
        " JOIN managed_workflow m ON m.workflow_id = w.id WHERE w.pack_ref = 'one'",
    )
    assert rows == [{"ref": "one.from_api", "source": "api"}]
    assert (
        await fetch(pool, "SELECT xmin::text AS x FROM workflow_definition WHERE id = $1", api_id)
        == before
    )
    assert await fetch(pool, "SELECT ref FROM pack WHERE ref = 'one'") == [{"ref": "one"}]
    # later sweeps leave it alone (nothing deletable: not counted, not refused)
    report = await service.sync_all(trigger="reconcile")
    assert report.refused_deletes == [] and report.totals["deleted"] == 0
    assert await service.count_workflows("one") == 1
    # delete_pack only removes file rows
    assert await service.delete_pack("one") == 0
    assert await service.count_workflows("one") == 1


async def test_delete_pack_with_api_rows_then_resync_restores_files(
    service: SyncService, pool: asyncpg.Pool, packs: Path
) -> None:
    """delete_pack keeps the pack row alive for the api row; the next sync must
    not trust the (unchanged) pack checksum and re-create the file rows."""
    make_pack(packs, "mixed", {"f.yaml": workflow_yaml(), "g.yaml": workflow_yaml()})
    await service.sync_pack("mixed", trigger="cli")
    await insert_api_workflow(pool, "mixed", "mixed.api_one")
    assert await service.delete_pack("mixed") == 2
    assert await service.count_workflows("mixed") == 1
    result = await service.sync_pack("mixed", trigger="cli")
    assert result.created == 2
    assert await service.count_workflows("mixed") == 3
