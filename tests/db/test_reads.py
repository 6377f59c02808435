"""Read operations (list/get/find/count), delete_pack, sync_run history, and
logical identity across symlink flips."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest

from packsync.config import Settings
from packsync.core.results import WorkflowFilter
from packsync.sync.service import SyncService
from tests.support.packfactory import make_pack, workflow_yaml, write


def tagged(label: str, tags: list[str], enabled: bool = True, description: str = "d") -> str:
    text = workflow_yaml(label).replace(
        "description: A generated workflow", f"description: {description}"
    )
    return text + f"tags: [{', '.join(tags)}]\nenabled: {'true' if enabled else 'false'}\n"


@pytest.fixture
async def catalogue(service: SyncService, packs: Path) -> None:
    make_pack(
        packs,
        "ops",
        {
            "deploy.yaml": tagged("Deploy", ["prod", "ci"], description="ships 100% of it"),
            "backup.yaml": tagged("Backup", ["prod"]),
            "scratch.yaml": tagged("Scratch", ["dev"], enabled=False),
        },
    )
    make_pack(packs, "web", {"build.yaml": tagged("Build", ["ci"])})
    report = await service.sync_all(trigger="startup")
    assert report.totals["created"] == 4, report.to_dict()


async def test_list_filters_and_paging(service: SyncService, catalogue: None) -> None:
    rows, total = await service.list_workflows()
    assert total == 4 and [r.ref for r in rows] == [
        "ops.backup",
        "ops.deploy",
        "ops.scratch",
        "web.build",
    ]
    rows, total = await service.list_workflows(WorkflowFilter(pack="ops"))
    assert total == 3
    rows, total = await service.list_workflows(WorkflowFilter(tags=["ci", "dev"]))
    assert {r.ref for r in rows} == {"ops.deploy", "web.build", "ops.scratch"} and total == 3
    rows, _ = await service.list_workflows(WorkflowFilter(enabled=False))
    assert [r.ref for r in rows] == ["ops.scratch"]
    rows, _ = await service.list_workflows(WorkflowFilter(search="BACK"))
    assert [r.ref for r in rows] == ["ops.backup"]
    rows, _ = await service.list_workflows(
        WorkflowFilter(search="100%")
    )  # LIKE wildcards are literal
    assert [r.ref for r in rows] == ["ops.deploy"]
    rows, total = await service.list_workflows(WorkflowFilter(search="_"))
    assert total == 0
    rows, total = await service.list_workflows(WorkflowFilter(limit=2, offset=1))
    assert [r.ref for r in rows] == ["ops.deploy", "ops.scratch"] and total == 4
    rows, total = await service.list_workflows(WorkflowFilter(limit=2, offset=10))
    assert rows == [] and total == 4
    assert rows == [] and (await service.list_workflows(WorkflowFilter(pack="nope")))[1] == 0


async def test_get_find_count(service: SyncService, catalogue: None, packs: Path) -> None:
    detail = await service.get_workflow("ops.deploy")
    assert detail is not None
    assert detail.tags == ["prod", "ci"] and detail.enabled and detail.source == "file"
    assert detail.file_path == "workflows/deploy.yaml" and detail.definition
    assert detail.content_hash and not detail.failing and detail.sync_errors == []
    data = detail.to_dict()
    assert isinstance(data["created"], str) and data["definition"] == detail.definition
    assert await service.get_workflow("ops.nope") is None
    assert [w.ref for w in await service.find_by_pack("web")] == ["web.build"]
    assert await service.count_workflows("ops") == 3
    assert await service.count_workflows("nope") == 0
    # a failing file shows up as failing with its diagnostics, last good row kept
    write(packs / "ops" / "workflows" / "deploy.yaml", "version: 1\ntasks: [\n")
    await service.sync_pack("ops", trigger="watch")
    detail = await service.get_workflow("ops.deploy")
    assert detail is not None and detail.failing and detail.sync_errors
    assert detail.sync_errors[0]["severity"] == "error"


async def test_delete_pack(service: SyncService, pool: asyncpg.Pool, catalogue: None) -> None:
    assert await service.delete_pack("ops") == 3
    assert await service.count_workflows("ops") == 0
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM pack WHERE ref = 'ops'") == 0
    assert await service.delete_pack("ops") == 0


async def test_sync_run_history_is_pruned(
    settings: Settings, pool: asyncpg.Pool, packs: Path
) -> None:
    service = SyncService(settings.model_copy(update={"sync_run_history": 3}), pool)
    make_pack(packs, "pk", {"a.yaml": workflow_yaml()})
    await service.sync_all(trigger="startup")
    for trigger in ("watch", "api", "signal", "reconcile"):
        await service.sync_pack("pk", trigger=trigger)
    async with pool.acquire() as conn:
        runs = await conn.fetch("SELECT pack_ref, trigger, outcome FROM sync_run ORDER BY id")
    assert [(r["trigger"], r["outcome"]) for r in runs] == [
        ("api", "ok"),
        ("signal", "ok"),
        ("reconcile", "ok"),
    ]
    with pytest.raises(ValueError, match="trigger"):
        await service.sync_pack("p", trigger="bogus")
    # another group's pruning leaves this group's history alone
    other = SyncService(
        settings.model_copy(update={"sync_run_history": 1, "sync_group": "other"}), pool
    )
    for _ in range(3):
        await other.sync_all(trigger="reconcile")
    async with pool.acquire() as conn:
        counts = dict(await conn.fetch("SELECT sync_group, count(*) FROM sync_run GROUP BY 1"))
    assert counts == {"default": 3, "other": 1}


async def test_sweep_writes_one_history_row(
    service: SyncService, pool: asyncpg.Pool, catalogue: None
) -> None:
    async with pool.acquire() as conn:
        run = await conn.fetchrow("SELECT * FROM sync_run ORDER BY id DESC LIMIT 1")
    assert run["pack_ref"] is None and run["trigger"] == "startup"
    assert (run["loaded"], run["created"], run["outcome"]) == (4, 4, "ok")
    assert run["finished"] >= run["started"]


async def test_symlink_flip_keeps_identity(
    settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    """git-sync: the base is a symlink flipped to a new checkout with the same
    content; rows are keyed by the logical path, so nothing is rewritten."""
    for rev in ("rev1", "rev2"):
        make_pack(tmp_path / rev, "gs", {"a.yaml": workflow_yaml(), "b.yaml": workflow_yaml("B")})
    link = tmp_path / "current"
    link.symlink_to(tmp_path / "rev1")
    service = SyncService(settings.model_copy(update={"packs_base_dir": link}), pool)
    await service.sync_all(trigger="startup")
    async with pool.acquire() as conn:
        before = await conn.fetch("SELECT id, xmin::text FROM workflow_definition ORDER BY id")
        storage = await conn.fetchval("SELECT storage_path FROM pack WHERE ref = 'gs'")
    assert storage == str(link / "gs")
    tmp_link = tmp_path / "current.tmp"
    tmp_link.symlink_to(tmp_path / "rev2")
    os.replace(tmp_link, link)
    report = await service.sync_all(trigger="reconcile")
    assert report.totals["unchanged"] == 2 and report.totals["deleted"] == 0
    async with pool.acquire() as conn:
        after = await conn.fetch("SELECT id, xmin::text FROM workflow_definition ORDER BY id")
        pack_updated = await conn.fetchval("SELECT updated = created FROM pack WHERE ref = 'gs'")
    assert after == before and pack_updated


async def test_ping_and_stats(service: SyncService, catalogue: None, packs: Path) -> None:
    assert await service.ping()
    assert await service.stats() == {"packs": 2, "workflows": 4, "invalid_files": 0}
    write(packs / "web" / "workflows" / "bad.yaml", "tasks: [\n")
    await service.sync_pack("web", trigger="watch")
    assert (await service.stats())["invalid_files"] == 1


async def test_ping_false_when_pool_closed(settings: Settings) -> None:
    from packsync.db.connection import create_pool

    pool = await create_pool(settings)
    await pool.close()
    assert not await SyncService(settings, pool).ping()
